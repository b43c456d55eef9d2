package dev.dropkit.models;

import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Conv2dImpl;

/**
 * The models' layers, which their classes keep package-private, for tests elsewhere (stochastic depth's)
 * that check what reached a layer: a gradient, BatchNorm statistics, the training flag.
 */
public final class ModelInternals {
    private ModelInternals() {}

    /** The first convolution of a block's branch. */
    public static Conv2dImpl conv1(Bottleneck block) {
        return block.conv1;
    }

    /** The BatchNorm after {@link #conv1}. */
    public static BatchNorm2dImpl bn1(Bottleneck block) {
        return block.bn1;
    }

    /** The branch's 3x3 convolution. */
    public static Conv2dImpl conv2(Bottleneck block) {
        return block.conv2;
    }

    /** The convolution of a block's projection shortcut; the block must have one. */
    public static Conv2dImpl projectionConv(ResNetBlock block) {
        return block.downsample.conv;
    }

    /** The network's stem convolution. */
    public static Conv2dImpl stemConv(ResNet net) {
        return net.conv1;
    }
}
