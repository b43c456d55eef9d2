package dev.dropkit.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A 64 KB tmpfs mounted for one test, to fill a disk on purpose. Mounting needs root (CI runs as root);
 * elsewhere the test is skipped with that reason.
 */
public final class TinyDisk implements AutoCloseable {
    private final Path dir;

    private TinyDisk(Path dir) {
        this.dir = dir;
    }

    /** Mounts a 64 KB tmpfs on a new folder {@code name} in {@code parent}, or skips the calling test. */
    public static TinyDisk mount(Path parent, String name) throws IOException, InterruptedException {
        Path dir = Files.createDirectory(parent.resolve(name));
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.toString())
                .redirectErrorStream(true).start();
        String why = new String(mount.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assumeTrue(mount.waitFor() == 0, "skipped: a 64 KB tmpfs cannot be mounted here (needs root): " + why);
        return new TinyDisk(dir);
    }

    /** The mounted folder. */
    public Path dir() {
        return dir;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        new ProcessBuilder("umount", dir.toString()).start().waitFor();
    }
}
