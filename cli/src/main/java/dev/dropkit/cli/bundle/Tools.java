package dev.dropkit.cli.bundle;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

/** The programs a bundle is made with: the system's tar and xz, the running JDK's jdeps and jlink. */
record Tools(Path tar, Path xz, Path jdeps, Path jlink) {

    /**
     * Finds them.
     *
     * @throws IllegalArgumentException naming the first that is missing and how to get it
     */
    static Tools find() {
        Path xz = onPath("xz");
        if (xz == null) {
            throw new IllegalArgumentException("xz is not installed (it compresses the bundle): apt-get install xz-utils");
        }
        Path tar = onPath("tar");
        if (tar == null) {
            throw new IllegalArgumentException("tar is not installed: apt-get install tar");
        }
        Path bin = Path.of(System.getProperty("java.home"), "bin");
        Path jdeps = bin.resolve("jdeps");
        Path jlink = bin.resolve("jlink");
        if (!Files.isExecutable(jdeps) || !Files.isExecutable(jlink)) {
            throw new IllegalArgumentException("the Java runtime in " + bin.getParent() + " has no jlink/jdeps (a JRE,"
                    + " not a JDK): run ./dropkit bundle with JAVA_HOME set to a JDK 22 or newer");
        }
        return new Tools(tar, xz, jdeps, jlink);
    }

    /** The executable {@code name} in a folder of {@code PATH}, or null. */
    static Path onPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }
}
