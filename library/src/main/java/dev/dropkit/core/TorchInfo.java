package dev.dropkit.core;

import org.bytedeco.pytorch.global.torch;

/** Facts about the loaded libtorch, for logs and bug reports. */
public final class TorchInfo {
    private TorchInfo() {}

    static {
        Natives.load(); // before the first call into libtorch: CUDA on the first run too
    }

    /** libtorch's version, read from its build configuration (e.g. {@code 2.10.0}). */
    public static String torchVersion() {
        String config = torch.show_config().getString();
        int at = config.indexOf("TORCH_VERSION=");
        if (at < 0) {
            return "unknown";
        }
        int end = config.indexOf(',', at);
        return config.substring(at + "TORCH_VERSION=".length(), end < 0 ? config.length() : end).trim();
    }

    /** Whether the loaded libtorch was built with CUDA (true for the default {@code -gpu} natives). */
    public static boolean builtWithCuda() {
        return torch.show_config().getString().contains("USE_CUDA=1");
    }

    /** A few lines describing libtorch, CUDA and the threads in use. */
    public static String describe() {
        return "libtorch " + torchVersion()
                + " (" + (builtWithCuda() ? "CUDA build" : "CPU-only build") + ")\n"
                + "cuda:    " + (Devices.cudaAvailable()
                        ? Devices.cudaDeviceCount() + " device(s) available"
                        : "not available: " + CudaLibraries.unavailableReason()) + "\n"
                + "threads: " + torch.get_num_threads() + " intra-op";
    }
}
