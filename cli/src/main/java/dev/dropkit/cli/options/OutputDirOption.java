package dev.dropkit.cli.options;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --out}: every command that writes files has one, each with a folder of its own as the default. */
public final class OutputDirOption {
    @Option(names = "--out", description = "Output directory (default: ${DEFAULT-VALUE}).")
    private Path out;

    private OutputDirOption(Path defaultDir) {
        out = defaultDir;
    }

    /** An {@code --out} that defaults to {@code dir} in the command holding it. */
    public static OutputDirOption withDefault(Path dir) {
        return new OutputDirOption(dir);
    }

    /** The directory given, or the command's default; it may not exist yet. */
    public Path dir() {
        return out;
    }
}
