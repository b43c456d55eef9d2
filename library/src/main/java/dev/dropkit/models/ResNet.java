package dev.dropkit.models;

import dev.dropkit.core.Checks;
import dev.dropkit.depth.ResidualBlock;
import dev.dropkit.depth.StochasticDepthSurgery;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A ResNet (He et al., 2016) built from {@link BasicBlock}s or {@link Bottleneck}s, with torchvision's
 * layer names ({@code conv1}, {@code bn1}, {@code layer1.0.conv1}, ..., {@code fc}).
 *
 * <pre>{@code
 * ResNet imagenet = ResNet.resnet50(1000);                       // torchvision's layout, 224x224 inputs
 * ResNet fashion = ResNet.small(ResNet.Layout.RESNET50, 8, 1, 10); // width 8, 28x28 grey images
 * ResNet custom = ResNet.builder().blockType(ResNet.BlockType.BOTTLENECK).depths(1, 1, 1)
 *         .widths(8, 16, 32).inputChannels(1).classes(10).stem(ResNet.Stem.SMALL).build();
 * }</pre>
 *
 * <p>Blocks live in {@link ResidualStage}s, which hold them in mutable Java lists and call them through
 * {@link ResidualBlock}, so {@link StochasticDepthSurgery} can wrap them in place.
 */
public final class ResNet extends Module {
    /** Which block a ResNet is made of. */
    public enum BlockType {
        /** {@link BasicBlock}: two 3x3 convolutions, output = width. */
        BASIC,
        /** {@link Bottleneck}: 1x1, 3x3, 1x1, output = 4 x width. */
        BOTTLENECK
    }

    /** The block type and per-stage depths of the standard networks. */
    public enum Layout {
        /** BasicBlock, depths 2, 2, 2, 2. */
        RESNET18(BlockType.BASIC, 2, 2, 2, 2),
        /** BasicBlock, depths 3, 4, 6, 3. */
        RESNET34(BlockType.BASIC, 3, 4, 6, 3),
        /** Bottleneck, depths 3, 4, 6, 3. */
        RESNET50(BlockType.BOTTLENECK, 3, 4, 6, 3);

        private final BlockType blockType;
        private final int[] depths;

        Layout(BlockType blockType, int... depths) {
            this.blockType = blockType;
            this.depths = depths;
        }

        /** The block type. */
        public BlockType blockType() {
            return blockType;
        }

        /** Blocks per stage. */
        public int[] depths() {
            return depths.clone();
        }
    }

    /** The layers before the first stage. */
    public enum Stem {
        /** 7x7 convolution with stride 2, then 3x3 max-pooling with stride 2: for 224x224 images. */
        IMAGENET,
        /** 3x3 convolution with stride 1, no pooling: for 28x28 and 32x32 images (MNIST, CIFAR). */
        SMALL
    }

    final Conv2dImpl conv1;
    final BatchNorm2dImpl bn1;
    final List<ResidualStage> stages = new ArrayList<>();
    final LinearImpl fc;
    private final Builder config;

    private ResNet(Builder b) {
        super("ResNet");
        this.config = b.copy();
        int stemWidth = b.widths[0];
        long k = b.stem == Stem.IMAGENET ? 7 : 3;
        long stemStride = b.stem == Stem.IMAGENET ? 2 : 1;
        conv1 = register_module("conv1", Layers.conv(b.inputChannels, stemWidth, k, stemStride));
        bn1 = register_module("bn1", Layers.batchNorm(stemWidth));
        long channels = stemWidth;
        for (int s = 0; s < b.depths.length; s++) {
            List<Module> blocks = new ArrayList<>();
            for (int i = 0; i < b.depths[s]; i++) {
                long stride = s > 0 && i == 0 ? 2 : 1;
                ResNetBlock block = b.blockType == BlockType.BASIC ? new BasicBlock(channels, b.widths[s], stride)
                        : new Bottleneck(channels, b.widths[s], stride);
                blocks.add(block);
                channels = block.outChannels();
            }
            stages.add(register_module("layer" + (s + 1), new ResidualStage(blocks)));
        }
        fc = register_module("fc", new LinearImpl(channels, b.classes));
    }

    /** A configurable ResNet; see {@link Builder} for the defaults (ResNet-50 on 224x224 RGB). */
    public static Builder builder() {
        return new Builder();
    }

    /** torchvision's ResNet-18 for 224x224 RGB images. */
    public static ResNet resnet18(int classes) {
        return builder().layout(Layout.RESNET18).classes(classes).build();
    }

    /** torchvision's ResNet-34 for 224x224 RGB images. */
    public static ResNet resnet34(int classes) {
        return builder().layout(Layout.RESNET34).classes(classes).build();
    }

    /** torchvision's ResNet-50 for 224x224 RGB images. */
    public static ResNet resnet50(int classes) {
        return builder().layout(Layout.RESNET50).classes(classes).build();
    }

    /**
     * A narrow version of a standard layout for small images (28x28 or 32x32): {@link Stem#SMALL}, stage
     * widths {@code baseWidth * (1, 2, 4, 8)}.
     *
     * @param baseWidth width of the first stage (torchvision: 64; 8 or 16 trains quickly on a CPU)
     * @param inputChannels 1 (grey) or 3 (RGB)
     */
    public static ResNet small(Layout layout, int baseWidth, int inputChannels, int classes) {
        return builder().layout(layout).baseWidth(baseWidth).inputChannels(inputChannels).classes(classes)
                .stem(Stem.SMALL).build();
    }

    /** Logits {@code [N, classes]} for images {@code [N, C, H, W]}. */
    public Tensor forward(Tensor x) {
        Tensor h = bn1.forward(conv1.forward(x)).relu_();
        if (config.stem == Stem.IMAGENET) {
            h = torch.max_pool2d(h, new long[] {3, 3}, new long[] {2, 2}, new long[] {1, 1}, new long[] {1, 1}, false);
        }
        for (ResidualStage stage : stages) {
            h = stage.forward(h);
        }
        return fc.forward(torch.adaptive_avg_pool2d(h, 1, 1).flatten(1, -1));
    }

    /** The stages ({@code layer1}, {@code layer2}, ...). */
    public List<ResidualStage> stages() {
        return Collections.unmodifiableList(stages);
    }

    /** Every block, in order (wrappers after surgery). */
    public List<Module> blocks() {
        List<Module> out = new ArrayList<>();
        stages.forEach(s -> out.addAll(s.blocks()));
        return out;
    }

    @Override
    public String toString() {
        return "ResNet(block=" + (config.blockType == BlockType.BASIC ? "BasicBlock" : "Bottleneck") + ", depths="
                + Arrays.toString(config.depths) + ", widths=" + Arrays.toString(config.widths) + ", in="
                + config.inputChannels + ", classes=" + config.classes + ", stem="
                + config.stem.name().toLowerCase(Locale.ROOT) + ")";
    }

    /** Configures a {@link ResNet}; every option is validated when set and checked together in {@link #build()}. */
    public static final class Builder {
        private BlockType blockType = BlockType.BOTTLENECK;
        private int[] depths = {3, 4, 6, 3};
        private int[] widths = {64, 128, 256, 512};
        private Integer baseWidth;
        private int inputChannels = 3;
        private int classes = 1000;
        private Stem stem = Stem.IMAGENET;

        private Builder() {}

        private Builder copy() {
            Builder c = new Builder();
            c.blockType = blockType;
            c.depths = depths.clone();
            c.widths = widths.clone();
            c.baseWidth = baseWidth;
            c.inputChannels = inputChannels;
            c.classes = classes;
            c.stem = stem;
            return c;
        }

        /** Block type and depths of a standard layout (default: {@link Layout#RESNET50}). */
        public Builder layout(Layout layout) {
            Checks.notNull("layout", layout);
            this.blockType = layout.blockType();
            return depths(layout.depths());
        }

        /** The block type (default {@link BlockType#BOTTLENECK}). */
        public Builder blockType(BlockType type) {
            this.blockType = Checks.notNull("blockType", type);
            return this;
        }

        /** Blocks per stage, one entry per stage (default 3, 4, 6, 3). */
        public Builder depths(int... depths) {
            this.depths = positives("depths", depths);
            return this;
        }

        /**
         * Width of each stage, one entry per stage (default 64, 128, 256, 512): a BasicBlock stage outputs
         * this many channels, a Bottleneck stage four times as many. Overrides {@link #baseWidth(int)}.
         */
        public Builder widths(int... widths) {
            this.widths = positives("widths", widths);
            this.baseWidth = null;
            return this;
        }

        /** Stage widths {@code base * 2^stage} for as many stages as there are depths. */
        public Builder baseWidth(int base) {
            this.baseWidth = (int) Checks.positive("baseWidth", base);
            return this;
        }

        /** Channels of the input images (default 3). */
        public Builder inputChannels(int channels) {
            this.inputChannels = (int) Checks.positive("inputChannels", channels);
            return this;
        }

        /** Number of classes (default 1000). */
        public Builder classes(int classes) {
            this.classes = (int) Checks.positive("classes", classes);
            return this;
        }

        /** The stem (default {@link Stem#IMAGENET}). */
        public Builder stem(Stem stem) {
            this.stem = Checks.notNull("stem", stem);
            return this;
        }

        /**
         * Builds the network (initialized from libtorch's default generator: seed it first).
         *
         * @throws IllegalArgumentException if depths and widths have different lengths
         */
        public ResNet build() {
            if (baseWidth != null) {
                widths = new int[depths.length];
                for (int i = 0; i < widths.length; i++) {
                    widths[i] = baseWidth << i;
                }
            }
            if (widths.length != depths.length) {
                throw new IllegalArgumentException("widths has " + widths.length + " entries but depths has "
                        + depths.length + "; give one width per stage");
            }
            return new ResNet(this);
        }

        private static int[] positives(String name, int[] values) {
            if (values == null || values.length == 0) {
                throw new IllegalArgumentException(name + " must name at least one stage, got "
                        + Arrays.toString(values));
            }
            for (int v : values) {
                if (v <= 0) {
                    throw new IllegalArgumentException(name + " must all be positive, got " + Arrays.toString(values));
                }
            }
            return values.clone();
        }
    }
}
