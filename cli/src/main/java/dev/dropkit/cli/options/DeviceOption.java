package dev.dropkit.cli.options;

import dev.dropkit.core.Devices;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine.Option;

/**
 * {@code --device}. The spec is kept as typed and parsed only by {@link #resolve()}, when the command runs:
 * a bad spec then surfaces as the command's own one-line error with exit code 2, and {@code auto} looks for
 * CUDA only in a command that computes, not while the command line is parsed.
 */
public final class DeviceOption {
    @Option(names = "--device", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    private String device;

    private DeviceOption(String defaultSpec) {
        device = defaultSpec;
    }

    /** A {@code --device} that defaults to {@code spec} ({@code auto}, {@code cpu}, ...) in the command holding it. */
    public static DeviceOption withDefault(String spec) {
        return new DeviceOption(spec);
    }

    /**
     * The device asked for, {@code auto} resolved to CUDA when present, else the CPU.
     *
     * @throws IllegalArgumentException for a spec that is not auto, cpu, cuda or cuda:N
     * @throws IllegalStateException when CUDA is asked for but not available
     */
    public Device resolve() {
        return Devices.parse(device);
    }
}
