package dev.dropkit.examples.bench;

import static dev.dropkit.testing.StdoutCapture.capture;
import static dev.dropkit.testing.StdoutCapture.captureErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.examples.ExamplesCli;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class StochasticDepthBenchmarkTest {

    /** {@code dropkit bench stochastic-depth} on a tiny network, with {@code args} added. */
    private static int run(String... args) {
        String[] tiny = {"bench", "stochastic-depth", "--layout", "resnet18", "--width", "4", "--size", "8", "--batch",
            "4", "--reps", "1", "--warmup", "0", "--steps", "1", "--device", "cpu"};
        return ExamplesCli.run(Stream.concat(Stream.of(tiny), Stream.of(args)).toArray(String[]::new));
    }

    @Test
    void timesOnlyTheChosenMethodsAndRates() {
        String out = capture(() -> assertEquals(0, run("--methods", "sample_fast", "--rates", "0.3",
                "--distributions", "uniform")));
        assertTrue(out.matches("(?s).*\\nnone\\s+-\\s+-\\s+[0-9.]+\\s+1\\.000\\s*\\n.*"), out);
        assertTrue(out.matches("(?s).*\\nsample_fast\\s+0\\.30\\s+uniform\\s+[0-9.]+\\s+[0-9.]+\\s+< 1\\.0\\n.*"), out);
        assertFalse(out.contains("\nblock"), out);
        assertFalse(out.contains("\nsample "), out);
    }

    @Test
    void badMethodsAndRatesAreRejectedByName() {
        String err = captureErr(() -> capture(() -> assertEquals(2, run("--methods", "dropconnect"))));
        assertTrue(err.contains("'dropconnect'"), err);
        err = captureErr(() -> capture(() -> assertEquals(2, run("--methods", "block", "--rates", "1.5"))));
        assertTrue(err.contains("1.5"), err);
    }
}
