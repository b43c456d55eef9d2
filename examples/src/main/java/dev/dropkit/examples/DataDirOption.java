package dev.dropkit.examples;

import dev.dropkit.data.DataSource;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --data-dir} of the Fashion-MNIST examples: without it, every example searches the same places
 * in the same order, through {@link ExampleData#locate}.
 */
public final class DataDirOption {
    @Option(names = "--data-dir", description = "Directory with the four IDX files (default: $DROPKIT_DATA, then"
            + " Debian's dataset-fashion-mnist, then the bundled subset).")
    private Path dataDir;

    /** The directory given, else the first of the usual places that holds the dataset. */
    public DataSource source() {
        return ExampleData.locate(dataDir);
    }
}
