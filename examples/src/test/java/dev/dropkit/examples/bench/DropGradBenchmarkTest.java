package dev.dropkit.examples.bench;

import static dev.dropkit.testing.StdoutCapture.capture;
import static dev.dropkit.testing.StdoutCapture.captureErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.examples.ExamplesCli;
import org.junit.jupiter.api.Test;

class DropGradBenchmarkTest {

    @Test
    void runsEveryModelAndPrintsBothRatios() {
        String out = capture(() -> assertEquals(0, ExamplesCli.run("bench", "dropgrad", "--reps", "1", "--warmup", "0",
                "--warmup-seconds", "0", "--steps", "1", "--batch", "8", "--hidden", "16", "--rates", "0.1",
                "--device", "cpu")));
        for (String model : new String[] {"mlp", "conv", "resnet"}) {
            assertTrue(out.matches("(?s).*\\n" + model + "\\s+\\d+\\s+0\\.10(\\s+[0-9.]+){7}\\n.*"), out);
        }
    }

    @Test
    void anUnknownModelIsRejected() {
        String err = captureErr(() -> capture(() -> assertEquals(2, ExamplesCli.run("bench", "dropgrad", "--models",
                "vgg", "--reps", "1", "--warmup", "0", "--warmup-seconds", "0", "--device", "cpu"))));
        assertTrue(err.contains("model must be 'mlp', 'conv' or 'resnet', got 'vgg'"), err);
    }
}
