package dev.dropkit.cli.options;

import dev.dropkit.cli.Progress;
import picocli.CommandLine.Option;

/** {@code --progress}: every command that trains lets the user pick how its steps are shown, the same way. */
public final class ProgressOption {
    @Option(names = "--progress", description = "auto, bar, plain or none (default: ${DEFAULT-VALUE}).")
    private Progress.Mode progress = Progress.Mode.AUTO;

    /** How progress is to be shown; {@link Progress.Mode#AUTO} unless given. */
    public Progress.Mode mode() {
        return progress;
    }
}
