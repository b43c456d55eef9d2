package dev.dropkit.data;

import java.io.IOException;
import java.nio.file.Path;

/** Small synthetic IDX datasets whose pixels encode the sample index, for tests. */
final class TestIdx {
    private TestIdx() {}

    /**
     * Pixels of {@code n} images of {@code rows x cols} (at least 2 pixels each): pixel 0 is
     * {@code i % 256}, pixel 1 is {@code i / 256}, the rest {@code (i + k) % 256}.
     */
    static byte[] pixels(int n, int rows, int cols) {
        int per = rows * cols;
        byte[] px = new byte[n * per];
        for (int i = 0; i < n; i++) {
            px[i * per] = (byte) (i % 256);
            px[i * per + 1] = (byte) (i / 256);
            for (int k = 2; k < per; k++) {
                px[i * per + k] = (byte) ((i + k) % 256);
            }
        }
        return px;
    }

    /** Labels {@code i % 10}. */
    static byte[] labels(int n) {
        byte[] l = new byte[n];
        for (int i = 0; i < n; i++) {
            l[i] = (byte) (i % 10);
        }
        return l;
    }

    /** Writes {@code <prefix>-images-idx3-ubyte[.gz]} and the labels into {@code dir}; returns both paths. */
    static Path[] write(Path dir, Split split, int n, int rows, int cols, boolean gz) throws IOException {
        String ext = gz ? ".gz" : "";
        Path images = dir.resolve(split.imagesName() + ext);
        Path labels = dir.resolve(split.labelsName() + ext);
        IdxWriter.writeImages(images, rows, cols, pixels(n, rows, cols));
        IdxWriter.writeLabels(labels, labels(n));
        return new Path[] {images, labels};
    }

    /** Writes both splits (train {@code n}, test {@code n / 2 + 1}) of a tiny dataset into {@code dir}. */
    static void writeBothSplits(Path dir, int n, boolean gz) throws IOException {
        write(dir, Split.TRAIN, n, 2, 3, gz);
        write(dir, Split.TEST, n / 2 + 1, 2, 3, gz);
    }
}
