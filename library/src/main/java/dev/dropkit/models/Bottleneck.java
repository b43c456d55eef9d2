package dev.dropkit.models;

import dev.dropkit.depth.ResidualBlock;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * ResNet-50's block (torchvision's "v1.5", stride on the 3x3 convolution): 1x1 reduce to {@code width},
 * 3x3, 1x1 expand to {@code 4 * width}, each with BatchNorm, ReLU after the addition. The shortcut is the
 * identity, or a 1x1 convolution + BatchNorm projection when the stride is not 1 or the channel count
 * changes. What Composer's {@code target_layer_name='ResNetBottleneck'} targets.
 */
public final class Bottleneck extends Module implements ResidualBlock {
    /** Output channels per unit of width: 4. */
    public static final int EXPANSION = 4;

    final Conv2dImpl conv1;
    final BatchNorm2dImpl bn1;
    final Conv2dImpl conv2;
    final BatchNorm2dImpl bn2;
    final Conv2dImpl conv3;
    final BatchNorm2dImpl bn3;
    final Projection downsample;
    private final long inChannels;
    private final long width;
    private final long stride;

    /**
     * @param inChannels input channels
     * @param width channels of the inner 3x3 convolution; the block outputs {@code 4 * width}
     * @param stride stride of the 3x3 convolution (2 halves the resolution)
     * @throws IllegalArgumentException if a size is not positive
     */
    public Bottleneck(long inChannels, long width, long stride) {
        super("Bottleneck");
        this.inChannels = Layers.positive("inChannels", inChannels);
        this.width = Layers.positive("width", width);
        this.stride = Layers.positive("stride", stride);
        long out = width * EXPANSION;
        conv1 = register_module("conv1", Layers.conv(inChannels, width, 1, 1));
        bn1 = register_module("bn1", Layers.batchNorm(width));
        conv2 = register_module("conv2", Layers.conv(width, width, 3, stride));
        bn2 = register_module("bn2", Layers.batchNorm(width));
        conv3 = register_module("conv3", Layers.conv(width, out, 1, 1));
        bn3 = register_module("bn3", Layers.batchNorm(out));
        downsample = Projection.needed(inChannels, out, stride)
                ? register_module("downsample", new Projection(inChannels, out, stride)) : null;
    }

    @Override
    public Tensor branch(Tensor x) {
        Tensor h = bn1.forward(conv1.forward(x)).relu_();
        h = bn2.forward(conv2.forward(h)).relu_();
        return bn3.forward(conv3.forward(h));
    }

    @Override
    public Tensor shortcut(Tensor x) {
        return downsample == null ? x : downsample.forward(x);
    }

    /** The projection is a convolution + BatchNorm, whose backward does not read its output. */
    @Override
    public boolean projectionIsPrivate() {
        return true;
    }

    /** ReLU after the addition, out of place (the sum may be the block's input). */
    @Override
    public Tensor activateOutput(Tensor sum) {
        return torch.relu(sum);
    }

    /** ReLU in place: the sum is the caller's own tensor. */
    @Override
    public Tensor activateOwnedOutput(Tensor sum) {
        return sum.relu_();
    }

    /** Input channels. */
    public long inChannels() {
        return inChannels;
    }

    /** Channels of the inner convolutions. */
    public long width() {
        return width;
    }

    /** Output channels, {@code 4 * width}. */
    public long outChannels() {
        return width * EXPANSION;
    }

    /** Stride of the 3x3 convolution. */
    public long stride() {
        return stride;
    }

    @Override
    public String toString() {
        return "Bottleneck(in=" + inChannels + ", width=" + width + ", out=" + outChannels() + ", stride=" + stride
                + (downsample == null ? "" : ", projection") + ")";
    }
}
