package dev.dropkit.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Files written so that a crash never leaves a half-written one behind: write a temporary file beside
 * the target, then move it into place (atomically where the file system allows).
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /**
     * Writes {@code bytes} to {@code target} through a temporary file beside it (forced to disk, then moved
     * into place), creating the folder if needed. On failure the temporary file is removed and an existing
     * {@code target} is unchanged.
     */
    public static void write(Path target, byte[] bytes) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        removeAbandonedParts(dir, target.getFileName().toString());
        Path part = Files.createTempFile(dir, target.getFileName().toString(), ".part");
        try {
            try (FileChannel out = FileChannel.open(part, StandardOpenOption.WRITE)) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                out.force(true);
            }
            moveIntoPlace(part, target);
        } finally {
            Files.deleteIfExists(part); // gone after the move; a failed write leaves none behind
        }
    }

    /** How old a temporary file must be before a later write of the same target removes it. */
    static final java.time.Duration ABANDONED = java.time.Duration.ofHours(1);

    /**
     * Removes the temporary files of earlier writes of {@code name} that a killed process left behind: older
     * than {@link #ABANDONED}, far longer than any write takes, so a write still in progress is left alone.
     */
    private static void removeAbandonedParts(Path dir, String name) throws IOException {
        java.nio.file.attribute.FileTime cutoff = java.nio.file.attribute.FileTime.from(
                java.time.Instant.now().minus(ABANDONED));
        try (java.nio.file.DirectoryStream<Path> parts = Files.newDirectoryStream(dir, globEscaped(name) + "*.part")) {
            for (Path part : parts) {
                if (Files.isRegularFile(part) && Files.getLastModifiedTime(part).compareTo(cutoff) < 0) {
                    Files.deleteIfExists(part);
                }
            }
        }
    }

    private static String globEscaped(String name) {
        return name.replaceAll("([\\\\*?\\[\\]{}])", "\\\\$1");
    }

    /** {@link #write(Path, byte[])} of {@code text} in UTF-8. */
    public static void writeString(Path target, String text) throws IOException {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Moves the finished {@code part} onto {@code target}, replacing it. */
    public static void moveIntoPlace(Path part, Path target) throws IOException {
        try {
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
