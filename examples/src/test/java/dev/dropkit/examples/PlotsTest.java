package dev.dropkit.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.TrainingHistory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotsTest {

    static TrainingHistory tiny() {
        TrainingHistory h = new TrainingHistory("tiny");
        h.add(new EpochMetrics(1, 2.0, 0.3, 1.9, 0.35, 0.1));
        h.add(new EpochMetrics(2, 1.5, 0.5, 1.4, 0.55, 0.1));
        return h;
    }

    @Test
    void curvesArePngFilesAndRepeatedRunNamesAreNumbered(@TempDir Path dir) throws IOException {
        TrainingHistory h = tiny();
        Path png = Plots.epochCurves(dir.resolve("acc"), "t", "test accuracy", List.of(h),
                EpochMetrics::testAccuracy).orElseThrow();
        byte[] head = Files.readAllBytes(png);
        assertEquals(dir.resolve("acc.png"), png);
        assertTrue(head.length > 1000 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G', "a PNG file");
        // two runs under one name (every Trainer defaults to "run"): XChart refused the second series
        Path twice = Plots.epochCurves(dir.resolve("twice.png"), "t", "test accuracy", List.of(h, h),
                EpochMetrics::testAccuracy).orElseThrow();
        assertTrue(Files.size(twice) > 1000);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("acc.png", "twice.png"), files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary file left");
        }
    }

    /** What the child JVM runs on a machine whose fonts are hidden. */
    public static final class NoFontsProbe {
        public static void main(String[] args) {
            System.out.println("result: " + Plots.epochCurves(Path.of(args[0]), "t", "test accuracy", List.of(tiny()),
                    EpochMetrics::testAccuracy));
        }
    }

    @Test
    void withoutFontsAPlotIsAOneLineWarningNotACrash(@TempDir Path dir) throws IOException, InterruptedException {
        assumeTrue("root".equals(System.getProperty("user.name")) && Files.isExecutable(Path.of("/usr/bin/unshare")),
                "skipped: hiding the fonts needs root and unshare (a private mount namespace)");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path png = dir.resolve("curves.png");
        String script = "set -e; for d in /usr/share/fonts /etc/fonts; do [ -d $d ] && mount -t tmpfs none $d; done;"
                + " exec \"$@\"";
        Process p = new ProcessBuilder("/usr/bin/unshare", "-m", "sh", "-c", script, "sh", java, "-Djava.awt.headless=true",
                "-cp", System.getProperty("java.class.path"), NoFontsProbe.class.getName(), png.toString())
                .redirectError(dir.resolve("stderr.txt").toFile()).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        String err = Files.readString(dir.resolve("stderr.txt"));
        assumeTrue(!err.contains("unshare failed") && !err.contains("mount:"), "skipped: no private mounts here: " + err);
        assertEquals(0, p.exitValue(), out + err);
        assertTrue(out.contains("result: Optional.empty"), out + err);
        // libfontconfig itself may print "Fontconfig error: ..." on the native stderr; ours is one line
        List<String> lines = err.lines().filter(l -> !l.isBlank() && !l.startsWith("Fontconfig ")).toList();
        assertEquals(1, lines.size(), "one line, no stack trace: " + err);
        assertTrue(lines.get(0).startsWith("dropkit: warning: the plot " + png + " was not drawn ("), err);
        assertFalse(err.contains("\tat ") || err.contains("Exception in thread"), err);
        assertFalse(Files.exists(png), "no plot file");
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("stderr.txt"), files.map(f -> f.getFileName().toString()).toList(), "no partial file");
        }
    }
}
