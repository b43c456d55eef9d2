package dev.dropkit.examples.bench;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class GyroDropoutBenchmarkTest {

    @Test
    void runsTinyCasesAndPrintsBothRatios() {
        String out = capture(() -> assertEquals(0, new CommandLine(new GyroDropoutBenchmark()).execute("--batch", "64",
                "--features", "1", "--conv", "32,8,4,4", "--reps", "1", "--warmup", "0", "--device", "cpu")));
        assertTrue(out.contains("GyroDropout(p=0.5, sigma=256, tau=16"), out);
        assertTrue(out.matches("(?s).*\\n64x1K(\\s+[0-9.]+){5}\\n.*"), out);
        assertTrue(out.matches("(?s).*\\n32x8x4x4(\\s+[0-9.]+){5}\\n.*"), out);
    }
}
