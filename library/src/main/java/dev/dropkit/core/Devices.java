package dev.dropkit.core;

import java.util.Locale;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/**
 * Chooses where tensors live: CUDA when a GPU and driver are present, else the CPU.
 *
 * <p>The choice can be forced with the system property {@value #PROPERTY} or, if that is unset, the
 * environment variable {@value #ENV}. Accepted values: {@code auto}, {@code cpu}, {@code cuda},
 * {@code cuda:N}. Asking for CUDA on a machine without it fails loudly instead of silently training on
 * the CPU.
 */
public final class Devices {
    /** System property that overrides the device choice. */
    public static final String PROPERTY = "dropkit.device";
    /** Environment variable that overrides the device choice when the property is unset. */
    public static final String ENV = "DROPKIT_DEVICE";

    private static final System.Logger LOG = System.getLogger(Devices.class.getName());

    private Devices() {}

    static {
        Natives.load(); // before the first call into libtorch: CUDA on the first run too
    }

    /** Whether libtorch sees at least one usable CUDA device. */
    public static boolean cudaAvailable() {
        return torch.cuda_is_available();
    }

    /** Number of CUDA devices libtorch sees (0 without a GPU or driver). */
    public static int cudaDeviceCount() {
        return cudaAvailable() ? Byte.toUnsignedInt(torch.cuda_device_count()) : 0;
    }

    /** The device named by the property, else the environment variable, else {@code auto}. */
    public static Device preferred() {
        return parse(override().orElse("auto"));
    }

    /** The device spec the user set outside the code: the property {@value #PROPERTY}, else {@value #ENV}. */
    public static java.util.Optional<String> override() {
        String spec = System.getProperty(PROPERTY);
        if (spec == null || spec.isBlank()) {
            spec = System.getenv(ENV);
        }
        return spec == null || spec.isBlank() ? java.util.Optional.empty() : java.util.Optional.of(spec.trim());
    }

    /**
     * Parses a device spec ({@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N}).
     *
     * @throws IllegalArgumentException for an unknown spec or a negative index
     * @throws IllegalStateException when CUDA is asked for but not available, or the index is too high
     */
    public static Device parse(String spec) {
        String s = Checks.notNull("device", spec).trim().toLowerCase(Locale.ROOT);
        if (s.equals("auto")) {
            if (cudaAvailable()) {
                return new Device(torch.DeviceType.CUDA, (byte) 0);
            }
            if (CudaLibraries.driverPresent()) { // a GPU machine training on the CPU: say why, once
                warnOnce(CudaLibraries.diagnose() + "; training on the CPU");
            }
            return cpu();
        }
        if (s.equals("cpu")) {
            return cpu();
        }
        if (s.equals("cuda") || s.startsWith("cuda:")) {
            int index = 0;
            if (s.startsWith("cuda:")) {
                try {
                    index = Integer.parseInt(s.substring(5));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("device index must be a number, got '" + spec + "'");
                }
                if (index < 0) {
                    throw new IllegalArgumentException("device index must not be negative, got '" + spec + "'");
                }
            }
            int count = cudaDeviceCount();
            if (count == 0) {
                throw new IllegalStateException("device '" + spec + "' was requested but "
                        + CudaLibraries.diagnose());
            }
            if (index >= count) {
                throw new IllegalStateException("device '" + spec + "' was requested but only " + count
                        + " CUDA device(s) exist");
            }
            return new Device(torch.DeviceType.CUDA, (byte) index);
        }
        throw new IllegalArgumentException("device must be auto, cpu, cuda or cuda:N, got '" + spec + "'");
    }

    private static boolean warned;

    private static synchronized void warnOnce(String message) {
        if (!warned) {
            warned = true;
            LOG.log(System.Logger.Level.WARNING, message);
        }
    }

    /** The CPU device. */
    public static Device cpu() {
        return new Device(torch.DeviceType.CPU);
    }

    /** A short human name such as {@code cpu} or {@code cuda:0}. */
    public static String describe(Device device) {
        return device.is_cuda() ? "cuda:" + Math.max(0, device.index()) : "cpu";
    }
}
