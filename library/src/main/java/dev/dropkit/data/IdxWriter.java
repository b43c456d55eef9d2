package dev.dropkit.data;

import dev.dropkit.core.AtomicFiles;
import dev.dropkit.core.Checks;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Writes IDX files (uint8 images, uint8 labels) as {@link IdxDataset} reads them, gzip-compressed when
 * the path ends in {@code .gz}. For tests and for making dataset subsets. Each file is written to a
 * temporary sibling and renamed into place, so a reader never sees half a file.
 */
public final class IdxWriter {
    private IdxWriter() {}

    /**
     * Writes {@code pixels.length / (rows * cols)} images of {@code rows x cols} uint8 pixels, row-major.
     *
     * @throws IllegalArgumentException if rows or cols is not positive, or pixels is not a whole number of images
     */
    public static void writeImages(Path file, int rows, int cols, byte[] pixels) throws IOException {
        Checks.notNull("file", file);
        Checks.positive("rows", rows);
        Checks.positive("cols", cols);
        Checks.notNull("pixels", pixels);
        long imageBytes = (long) rows * cols;
        if (pixels.length % imageBytes != 0) {
            throw new IllegalArgumentException("pixels must hold whole images of " + rows + " x " + cols
                    + " = " + imageBytes + " bytes, got " + pixels.length + " bytes");
        }
        int count = (int) (pixels.length / imageBytes);
        write(file, out -> {
            out.writeInt(IdxHeader.Kind.IMAGES.magic);
            out.writeInt(count);
            out.writeInt(rows);
            out.writeInt(cols);
            out.write(pixels);
        });
    }

    /** Writes one uint8 label a byte (any value: the reader, not the writer, checks the range). */
    public static void writeLabels(Path file, byte[] labels) throws IOException {
        Checks.notNull("file", file);
        Checks.notNull("labels", labels);
        write(file, out -> {
            out.writeInt(IdxHeader.Kind.LABELS.magic);
            out.writeInt(labels.length);
            out.write(labels);
        });
    }

    private interface Body {
        void writeTo(DataOutputStream out) throws IOException;
    }

    private static void write(Path file, Body body) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        // Not Files.createTempFile: its files are owner-only (0600); these get the usual umask permissions.
        Path part = parent.resolve(file.getFileName() + "." + ProcessHandle.current().pid() + "."
                + Long.toHexString(System.nanoTime()) + ".part");
        try {
            try (OutputStream raw = Files.newOutputStream(part, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE);
                    OutputStream sink = IdxCache.isGz(file) ? new BestGzip(raw) : raw;
                    DataOutputStream out = new DataOutputStream(new BufferedOutputStream(sink, 1 << 16))) {
                body.writeTo(out);
            }
            AtomicFiles.moveIntoPlace(part, file);
        } finally {
            Files.deleteIfExists(part);
        }
    }

    /** gzip at the best compression level, which keeps bundled data small. */
    private static final class BestGzip extends GZIPOutputStream {
        BestGzip(OutputStream out) throws IOException {
            super(out, 1 << 16);
            def.setLevel(Deflater.BEST_COMPRESSION);
        }
    }
}
