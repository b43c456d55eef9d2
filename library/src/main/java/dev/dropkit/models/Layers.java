package dev.dropkit.models;

import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.BatchNorm2dImpl;
import org.bytedeco.pytorch.BatchNormOptions;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.FanModeType;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Nonlinearity;
import org.bytedeco.pytorch.kFanOut;
import org.bytedeco.pytorch.kReLU;
import org.bytedeco.pytorch.global.torch;

/** The convolutions and BatchNorms of the ResNet blocks, initialized as torchvision does. */
final class Layers {
    private Layers() {}

    /** A bias-free {@code k x k} convolution with "same" padding for stride 1, He-normal (fan-out) initialized. */
    static Conv2dImpl conv(long in, long out, long k, long stride) {
        Conv2dOptions options = new Conv2dOptions(in, out, new LongPointer(k, k));
        options.stride().put(0, stride).put(1, stride);
        options.padding().put(new LongPointer(k / 2, k / 2));
        options.bias().put(false);
        Conv2dImpl conv = new Conv2dImpl(options);
        try (NoGradGuard noGrad = new NoGradGuard()) {
            torch.kaiming_normal_(conv.weight(), 0.0, new FanModeType(new kFanOut()), new Nonlinearity(new kReLU()));
        }
        return conv;
    }

    /** BatchNorm over {@code channels} with libtorch's defaults (weight 1, bias 0, momentum 0.1). */
    static BatchNorm2dImpl batchNorm(long channels) {
        return new BatchNorm2dImpl(new BatchNormOptions(channels));
    }
}
