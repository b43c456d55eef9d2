package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {

    @Test
    void writesReplaceWholeFilesAndSweepWhatAKilledWriteLeft(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("run[1].ckpt");
        Path abandoned = Files.writeString(dir.resolve("run[1].ckpt123.part"), "half");
        Files.setLastModifiedTime(abandoned, FileTime.from(Instant.now().minus(AtomicFiles.ABANDONED).minusSeconds(60)));
        Path inProgress = Files.writeString(dir.resolve("run[1].ckpt456.part"), "being written");
        Path other = Files.writeString(dir.resolve("other.ckpt789.part"), "not ours");
        Files.setLastModifiedTime(other, FileTime.from(Instant.now().minus(AtomicFiles.ABANDONED).minusSeconds(60)));

        AtomicFiles.writeString(target, "first");
        AtomicFiles.writeString(target, "second");
        assertEquals("second", Files.readString(target));
        assertFalse(Files.exists(abandoned), "a part older than an hour was left by a killed write");
        assertTrue(Files.exists(inProgress), "a fresh part may belong to a write in progress");
        assertTrue(Files.exists(other), "another target's parts are not ours");
        try (var files = Files.list(dir)) {
            assertEquals(3, files.count(), "the target, the fresh part and the other target's: no part of our own left");
        }
    }
}
