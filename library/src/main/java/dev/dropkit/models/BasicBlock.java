package dev.dropkit.models;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * ResNet-18/34's block: two 3x3 convolutions with BatchNorm,
 * {@code relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))}. The shortcut is the identity, or a
 * 1x1 convolution + BatchNorm projection when the stride is not 1 or the channel count changes.
 * Parameter names follow torchvision ({@code conv1}, {@code bn1}, {@code conv2}, {@code bn2},
 * {@code downsample.0}, {@code downsample.1}).
 */
public final class BasicBlock extends ResNetBlock {
    /** Output channels per unit of width: 1. */
    public static final int EXPANSION = 1;

    final Conv2dImpl conv1;
    final BatchNorm2dImpl bn1;
    final Conv2dImpl conv2;
    final BatchNorm2dImpl bn2;

    /**
     * @param inChannels input channels
     * @param outChannels output channels (the block's width)
     * @param stride stride of the first convolution (2 halves the resolution)
     * @throws IllegalArgumentException if a size is not positive
     */
    public BasicBlock(long inChannels, long outChannels, long stride) {
        super("BasicBlock", Checks.positive("inChannels", inChannels), Checks.positive("outChannels", outChannels),
                Checks.positive("stride", stride));
        conv1 = register_module("conv1", Layers.conv(inChannels, outChannels, 3, stride));
        bn1 = register_module("bn1", Layers.batchNorm(outChannels));
        conv2 = register_module("conv2", Layers.conv(outChannels, outChannels, 3, 1));
        bn2 = register_module("bn2", Layers.batchNorm(outChannels));
        registerShortcut();
    }

    @Override
    public Tensor branch(Tensor x) {
        return bn2.forward(conv2.forward(bn1.forward(conv1.forward(x)).relu_()));
    }
}
