package dev.dropkit.data;

import dev.dropkit.core.Checks;
import dev.dropkit.data.IdxHeader.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Finds Fashion-MNIST: {@code $DROPKIT_DATA} if set, else Debian's {@code dataset-fashion-mnist} package,
 * else the small subset bundled with the examples. A {@code $DROPKIT_DATA} that does not hold the files
 * is an error rather than a silent fall-through, so a typo never trains on the wrong data.
 */
public final class DataLocator {
    /** Environment variable naming a directory with the four IDX files; when set, it must be valid. */
    public static final String ENV = "DROPKIT_DATA";
    /** Where Debian's {@code dataset-fashion-mnist} package installs the full set. */
    public static final Path DEBIAN_FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    private DataLocator() {}

    /**
     * The Fashion-MNIST to train on: {@code $DROPKIT_DATA}, else {@code /usr/share/datasets/fashion-mnist},
     * else {@code bundledSubsetDir}.
     *
     * @throws IllegalStateException if {@code $DROPKIT_DATA} is set but lacks the files, or nothing is found
     */
    public static DataSource fashionMnist(Path bundledSubsetDir) {
        return fashionMnist(System.getenv(ENV), DEBIAN_FASHION_MNIST, bundledSubsetDir);
    }

    /** {@link #fashionMnist(Path)} with the environment value and the Debian directory as parameters. */
    static DataSource fashionMnist(String envValue, Path debianDir, Path bundledSubsetDir) {
        Checks.notNull("debianDir", debianDir);
        Checks.notNull("bundledSubsetDir", bundledSubsetDir);
        if (envValue != null && !envValue.isBlank()) {
            Path dir = Path.of(envValue);
            List<String> missing = missing(dir);
            if (!missing.isEmpty()) {
                throw new IllegalStateException(ENV + "=" + envValue + " does not hold the dataset: missing "
                        + String.join(", ", missing) + " (each may also end in .gz); fix or unset " + ENV);
            }
            return new DataSource(dir, DataSource.Kind.ENV,
                    "Fashion-MNIST-format data from $" + ENV + "=" + dir + " (" + counts(dir) + ")");
        }
        List<String> debianMissing = missing(debianDir);
        if (debianMissing.isEmpty()) {
            return new DataSource(debianDir, DataSource.Kind.DEBIAN, "Fashion-MNIST (full, Debian package"
                    + " dataset-fashion-mnist: " + counts(debianDir) + ") from " + debianDir);
        }
        List<String> subsetMissing = missing(bundledSubsetDir);
        if (subsetMissing.isEmpty()) {
            return new DataSource(bundledSubsetDir, DataSource.Kind.BUNDLED_SUBSET, "BUNDLED SUBSET of"
                    + " Fashion-MNIST (" + counts(bundledSubsetDir) + ") from " + bundledSubsetDir
                    + " — install dataset-fashion-mnist for the full set");
        }
        throw new IllegalStateException("no Fashion-MNIST found: $" + ENV + " is not set; " + debianDir
                + " lacks " + String.join(", ", debianMissing) + " (apt-get install dataset-fashion-mnist);"
                + " the bundled subset " + bundledSubsetDir + " lacks " + String.join(", ", subsetMissing));
    }

    /**
     * An explicitly named directory (a {@code --data-dir} option), holding MNIST, Fashion-MNIST or any
     * dataset in their IDX layout.
     *
     * @throws IllegalArgumentException if the directory lacks any of the four files
     */
    public static DataSource at(Path dir) {
        Checks.notNull("dir", dir);
        List<String> missing = missing(dir);
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("data directory " + dir + " does not hold the dataset: missing "
                    + String.join(", ", missing) + " (each may also end in .gz)");
        }
        return new DataSource(dir, DataSource.Kind.ENV, "IDX dataset from " + dir + " (" + counts(dir) + ")");
    }

    /** The names of the four files (without {@code .gz}) that {@code dir} lacks. */
    public static List<String> missing(Path dir) {
        List<String> missing = new ArrayList<>();
        for (Split split : Split.values()) {
            for (String name : List.of(split.imagesName(), split.labelsName())) {
                try {
                    IdxDataset.locate(dir, name);
                } catch (NoSuchFileException e) {
                    missing.add(name);
                }
            }
        }
        return missing;
    }

    /** "60000 train / 10000 test", from the label files' headers. */
    private static String counts(Path dir) {
        return labelCount(dir, Split.TRAIN) + " train / " + labelCount(dir, Split.TEST) + " test";
    }

    private static int labelCount(Path dir, Split split) {
        Path file = null;
        try {
            file = IdxDataset.locate(dir, split.labelsName());
            try (InputStream raw = Files.newInputStream(file);
                    InputStream in = IdxCache.isGz(file) ? new GZIPInputStream(raw) : raw) {
                return IdxHeader.parse(file, Kind.LABELS, in.readNBytes(Kind.LABELS.headerBytes)).count();
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the labels header of " + (file == null ? dir : file)
                    + ": " + e.getMessage(), e);
        }
    }
}
