package dev.dropkit.examples;

import dev.dropkit.data.DataLocator;
import dev.dropkit.data.DataSource;
import java.nio.file.Path;

/** Where the examples find Fashion-MNIST: an explicit directory, else the usual search. */
public final class ExampleData {
    private ExampleData() {}

    /**
     * {@code dataDir} when given; else {@code $DROPKIT_DATA}, Debian's {@code dataset-fashion-mnist}, then
     * the bundled subset under the project root ({@code dropkit.home}, else the working directory).
     */
    public static DataSource locate(Path dataDir) {
        return dataDir != null ? DataLocator.at(dataDir) : DataLocator.fashionMnist(bundledSubset());
    }

    /** examples/data/fashion-mnist-subset under the project root. */
    public static Path bundledSubset() {
        return Path.of(System.getProperty("dropkit.home", "."), "examples", "data", "fashion-mnist-subset");
    }
}
