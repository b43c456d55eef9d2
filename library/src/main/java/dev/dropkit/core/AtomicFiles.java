package dev.dropkit.core;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Files written so that a crash never leaves a half-written one behind: write a temporary file beside
 * the target, then move it into place (atomically where the file system allows).
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Moves the finished {@code part} onto {@code target}, replacing it. */
    public static void moveIntoPlace(Path part, Path target) throws IOException {
        try {
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
