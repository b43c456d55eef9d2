package dev.dropkit.core;

import java.util.function.Supplier;
import org.bytedeco.pytorch.Context;
import org.bytedeco.pytorch.global.torch;

/**
 * libtorch's process-wide switch for its oneDNN (MKLDNN) CPU kernels, set for a stretch of work and put
 * back after. Its convolutions with 4 or 8 channels return NaN gradients at random
 * (native-notes/onednn-small-channel-convolutions-go-nan.md), so work that must repeat runs without them.
 */
public final class OneDnn {
    private OneDnn() {}

    /**
     * Runs {@code body} with oneDNN on or off, and restores both switches after. With oneDNN off, NNPACK goes
     * off too: libtorch then tries NNPACK for CPU convolutions and, on CPUs NNPACK does not support, prints
     * "Could not initialize NNPACK! Reason: Unsupported hardware." for every one.
     */
    public static <T> T with(boolean enabled, Supplier<T> body) {
        Context context = torch.globalContext();
        boolean oneDnnBefore = context.userEnabledMkldnn();
        boolean nnpackBefore = context.userEnabledNNPACK();
        context.setUserEnabledMkldnn(enabled);
        context.setUserEnabledNNPACK(enabled && nnpackBefore);
        try {
            return body.get();
        } finally {
            context.setUserEnabledMkldnn(oneDnnBefore);
            context.setUserEnabledNNPACK(nnpackBefore);
        }
    }
}
