package dev.dropkit.cli.options;

import dev.dropkit.core.Devices;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/**
 * {@code --device}. The spec is kept as typed and parsed only by {@link #resolve()}, when the command runs:
 * a bad spec then surfaces as the command's own one-line error with exit code 2, and {@code auto} looks for
 * CUDA only in a command that computes, not while the command line is parsed.
 */
public final class DeviceOption {
    @Option(names = "--device", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    private String device;

    /** The command that holds this option, to tell an explicit {@code --device} from the default. */
    @Spec(Spec.Target.MIXEE)
    private CommandSpec command;

    private DeviceOption(String defaultSpec) {
        device = defaultSpec;
    }

    /** A {@code --device} that defaults to {@code spec} ({@code auto}, {@code cpu}, ...) in the command holding it. */
    public static DeviceOption withDefault(String spec) {
        return new DeviceOption(spec);
    }

    /**
     * The device asked for: an explicit {@code --device}, else {@code -Ddropkit.device} or
     * {@code DROPKIT_DEVICE} ({@link Devices#override()}), else the command's default; {@code auto}
     * resolved to CUDA when present, else the CPU.
     *
     * @throws IllegalArgumentException for a spec that is not auto, cpu, cuda or cuda:N
     * @throws IllegalStateException when CUDA is asked for but not available
     */
    public Device resolve() {
        return Devices.parse(given() ? device : Devices.override().orElse(device));
    }

    private boolean given() {
        CommandLine line = command == null ? null : command.commandLine();
        ParseResult parsed = line == null ? null : line.getParseResult();
        return parsed != null && parsed.hasMatchedOption("--device");
    }
}
