package dev.dropkit.models;

import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * The projection shortcut of a ResNet block (1x1 convolution with the block's stride, then BatchNorm),
 * registered as {@code 0} and {@code 1} so parameter names match torchvision's
 * {@code downsample.0.weight}, {@code downsample.1.running_mean}, ...
 */
final class Projection extends Module {
    final Conv2dImpl conv;
    final BatchNorm2dImpl bn;

    Projection(long in, long out, long stride) {
        super("Projection");
        conv = register_module("0", Layers.conv(in, out, 1, stride));
        bn = register_module("1", Layers.batchNorm(out));
    }

    Tensor forward(Tensor x) {
        return bn.forward(conv.forward(x));
    }

    static boolean needed(long in, long out, long stride) {
        return stride != 1 || in != out;
    }
}
