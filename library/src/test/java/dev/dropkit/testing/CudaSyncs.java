package dev.dropkit.testing;

import static org.junit.jupiter.api.Assertions.fail;

import dev.dropkit.core.Devices;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Asserts that code queues its CUDA work without waiting for the GPU. libtorch's sync debug mode
 * ({@code torch.cuda.set_sync_debug_mode("error")} in Python) makes every synchronizing call it knows
 * ({@code item()}, a copy to pageable host memory, {@code nonzero}, {@code masked_select}, stream and device
 * synchronization) throw instead of waiting.
 */
public final class CudaSyncs {
    private static final int OFF = 0;
    private static final int ERROR = 2; // c10::cuda::SyncDebugMode::L_ERROR

    private CudaSyncs() {}

    /** Runs {@code body} with syncs turned into errors; fails naming the first one. Needs CUDA. */
    public static void assertNoSync(String what, Runnable body) {
        if (!Devices.cudaAvailable()) {
            throw new IllegalStateException("assertNoSync needs CUDA; skip the case first");
        }
        var state = torch_cuda.warning_state();
        state.set_sync_debug_mode(ERROR);
        try {
            body.run();
        } catch (RuntimeException e) {
            if (String.valueOf(e.getMessage()).contains("synchroniz")) {
                fail(what + " synchronized with the host: " + e.getMessage().lines().findFirst().orElse(""), e);
            }
            throw e;
        } finally {
            state.set_sync_debug_mode(OFF);
        }
    }
}
