package dev.dropkit.cli.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.cli.DropkitCli;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code dropkit bundle}'s arguments, checked before any work: each mistake is one line and exit status 2. */
class BundleCommandTest {
    @TempDir
    Path dir;

    private record Result(int status, String err) {}

    private Result bundle(String... args) {
        CommandLine cli = DropkitCli.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err, true));
        String[] all = Stream.concat(Stream.of("bundle"), Stream.of(args)).toArray(String[]::new);
        int status = DropkitCli.run(cli, all);
        return new Result(status, err.toString());
    }

    private void assertOneLine(Result r, String... contains) {
        assertEquals(2, r.status(), r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("dropkit bundle: "), r.err());
        for (String c : contains) {
            assertTrue(lines.get(0).contains(c), "'" + c + "' in: " + r.err());
        }
    }

    @Test
    void aBadCudaArchIsNamed() throws IOException {
        String out = dir.resolve("b.tar.xz").toString();
        for (String bad : List.of("9x", "0", "1000", "sm_", "-90", "")) {
            assertOneLine(bundle("-o", out, "--cuda-arch", bad), "--cuda-arch " + bad + ":", "sm number");
        }
        assertEquals(90, BundleCommand.parseCudaArch("90"));
        assertEquals(120, BundleCommand.parseCudaArch("sm_120"));
        assertTrue(Files.notExists(dir.resolve("b.tar.xz")));
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "nothing left behind");
        }
    }

    @Test
    void anOutputThatCannotBeWrittenIsNamed() throws IOException {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        assertOneLine(bundle("-o", file.resolve("b.tar.xz").toString()), "-o " + file.resolve("b.tar.xz"),
                "does not exist");
        assertOneLine(bundle("-o", dir.resolve("missing/b.tar.xz").toString()), "missing", "does not exist");
        assertOneLine(bundle("-o", dir.toString()), "-o " + dir, "is a folder");
        if (Files.isDirectory(Path.of("/proc/self"))) {
            assertOneLine(bundle("-o", "/proc/self/b.tar.xz"), "-o /proc/self/b.tar.xz", "cannot write in");
        }
        assertOneLine(bundle("-o", dir.resolve("b.tar.xz").toString(), "--xz-level", "10"), "--xz-level 10");
    }

    @Test
    void theCommandIsInTheCliTree() {
        assertTrue(DropkitCli.commandLine().getSubcommands().containsKey("bundle"));
        Result r = bundle();
        assertEquals(2, r.status(), "-o is required");
        assertTrue(r.err().contains("--output"), r.err());
    }
}
