package dev.dropkit.data;

/** The two halves of an MNIST-style dataset, with the file-name prefixes the original distribution uses. */
public enum Split {
    /** The training set: {@code train-images-idx3-ubyte}, {@code train-labels-idx1-ubyte}. */
    TRAIN("train"),
    /** The test set: {@code t10k-images-idx3-ubyte}, {@code t10k-labels-idx1-ubyte}. */
    TEST("t10k");

    private final String prefix;

    Split(String prefix) {
        this.prefix = prefix;
    }

    /** The file-name prefix: {@code train} or {@code t10k}. */
    public String prefix() {
        return prefix;
    }

    /** The images file's name without {@code .gz}, e.g. {@code train-images-idx3-ubyte}. */
    public String imagesName() {
        return prefix + "-images-idx3-ubyte";
    }

    /** The labels file's name without {@code .gz}, e.g. {@code train-labels-idx1-ubyte}. */
    public String labelsName() {
        return prefix + "-labels-idx1-ubyte";
    }
}
