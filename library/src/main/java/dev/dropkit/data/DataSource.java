package dev.dropkit.data;

import dev.dropkit.core.Checks;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Where a dataset was found, and a one-line description to print before training, so nobody mistakes
 * a run on the bundled subset for one on the full set.
 *
 * @param dir directory holding the {@code train-*} and {@code t10k-*} IDX files (plain or {@code .gz})
 * @param kind how it was found
 * @param description human-readable, e.g. "Fashion-MNIST (full, ...) from /usr/share/datasets/fashion-mnist"
 */
public record DataSource(Path dir, Kind kind, String description) {
    /** How a data directory was found. */
    public enum Kind {
        /** Named by the user: {@code $DROPKIT_DATA} or an explicit directory ({@link DataLocator#at(Path)}). */
        ENV,
        /** Debian's {@code dataset-fashion-mnist} package in {@code /usr/share/datasets/fashion-mnist}. */
        DEBIAN,
        /** The small stratified subset bundled with dropkit's examples. */
        BUNDLED_SUBSET
    }

    /** @throws IllegalArgumentException if any component is null */
    public DataSource {
        Checks.notNull("dir", dir);
        Checks.notNull("kind", kind);
        Checks.notNull("description", description);
    }

    /** Loads one split from {@link #dir()} (see {@link IdxDataset#load(Path, Split)}). */
    public IdxDataset load(Split split) throws IOException {
        return IdxDataset.load(dir, split);
    }

    @Override
    public String toString() {
        return description;
    }
}
