package dev.dropkit.models;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * ResNet-50's block (torchvision's "v1.5", stride on the 3x3 convolution): 1x1 reduce to {@code width},
 * 3x3, 1x1 expand to {@code 4 * width}, each with BatchNorm, ReLU after the addition. The shortcut is the
 * identity, or a 1x1 convolution + BatchNorm projection when the stride is not 1 or the channel count
 * changes. What Composer's {@code target_layer_name='ResNetBottleneck'} targets.
 */
public final class Bottleneck extends ResNetBlock {
    /** Output channels per unit of width: 4. */
    public static final int EXPANSION = 4;

    final Conv2dImpl conv1;
    final BatchNorm2dImpl bn1;
    final Conv2dImpl conv2;
    final BatchNorm2dImpl bn2;
    final Conv2dImpl conv3;
    final BatchNorm2dImpl bn3;
    private final long width;

    /**
     * @param inChannels input channels
     * @param width channels of the inner 3x3 convolution; the block outputs {@code 4 * width}
     * @param stride stride of the 3x3 convolution (2 halves the resolution)
     * @throws IllegalArgumentException if a size is not positive
     */
    public Bottleneck(long inChannels, long width, long stride) {
        super("Bottleneck", Checks.positive("inChannels", inChannels), Checks.positive("width", width) * EXPANSION,
                Checks.positive("stride", stride));
        this.width = width;
        long out = outChannels();
        conv1 = register_module("conv1", Layers.conv(inChannels, width, 1, 1));
        bn1 = register_module("bn1", Layers.batchNorm(width));
        conv2 = register_module("conv2", Layers.conv(width, width, 3, stride));
        bn2 = register_module("bn2", Layers.batchNorm(width));
        conv3 = register_module("conv3", Layers.conv(width, out, 1, 1));
        bn3 = register_module("bn3", Layers.batchNorm(out));
        registerShortcut();
    }

    @Override
    public Tensor branch(Tensor x) {
        Tensor h = bn1.forward(conv1.forward(x)).relu_();
        h = bn2.forward(conv2.forward(h)).relu_();
        return bn3.forward(conv3.forward(h));
    }

    /** Channels of the inner convolutions; the block outputs {@code 4 * width}. */
    public long width() {
        return width;
    }

    @Override
    String sizes() {
        return "in=" + inChannels() + ", width=" + width + ", out=" + outChannels();
    }
}
