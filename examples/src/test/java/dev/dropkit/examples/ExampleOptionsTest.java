package dev.dropkit.examples;

import static dev.dropkit.testing.StdoutCapture.capture;
import static dev.dropkit.testing.StdoutCapture.captureErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The demos and benchmarks share --device, --out, --data-dir, --progress, --reps and --warmup, each with its own defaults. */
class ExampleOptionsTest {

    /** The help of {@code command}, with line wrapping undone. */
    private static String help(String... command) {
        String[] args = java.util.Arrays.copyOf(command, command.length + 1);
        args[command.length] = "--help";
        return capture(() -> assertEquals(0, ExamplesCli.run(args))).replaceAll("\\s+", " ");
    }

    @Test
    void eachCommandShowsItsOwnDefaults() {
        String demo = help("demo");
        assertTrue(demo.contains("--device=<device> auto, cpu, cuda or cuda:N (default: auto)."), demo);
        assertTrue(demo.contains("--out=<out> Output directory (default: " + Path.of("out", "demo") + ")."), demo);
        assertTrue(demo.contains("--progress=<progress> auto, bar, plain or none (default: AUTO)."), demo);
        assertTrue(demo.contains("--data-dir=<dataDir> Directory with the four IDX files (default: $DROPKIT_DATA,"), demo);
        String depth = help("stochastic-depth");
        assertTrue(depth.contains("(default: " + Path.of("target", "stochastic-depth") + ")."), depth);
        String dropout = help("bench", "dropout");
        assertTrue(dropout.contains("--reps=<reps> Timed repetitions (default: 9).")
                && dropout.contains("--warmup=<warmup> Untimed repetitions first (default: 3)."), dropout);
        String jit = help("bench", "jit");
        assertTrue(jit.contains("(default: 11).") && jit.contains("Untimed repetitions first (default: 1)."), jit);
    }

    @Test
    void aBadDeviceIsTheCommandsOneLineErrorWithExitCodeTwo() {
        String err = captureErr(() -> capture(() -> assertEquals(2, ExamplesCli.run("smoke", "--device", "tpu"))));
        assertEquals("dropkit smoke: device must be auto, cpu, cuda or cuda:N, got 'tpu'", err.strip());
    }

    @Test
    void aDataDirWithoutTheDatasetIsRejectedByName() {
        String err = captureErr(() -> capture(() -> assertEquals(2, ExamplesCli.run("stochastic-depth", "--device", "cpu",
                "--data-dir", "no-such-dir"))));
        assertTrue(err.startsWith("dropkit stochastic-depth: data directory no-such-dir does not hold the dataset"), err);
    }
}
