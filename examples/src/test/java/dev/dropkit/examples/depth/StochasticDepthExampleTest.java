package dev.dropkit.examples.depth;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The example runs end to end on tiny settings (the bundled Fashion-MNIST subset). */
class StochasticDepthExampleTest {

    @Test
    void exampleTrainsEveryRunAndWritesTheTableAndThePng(@TempDir Path out) {
        String text = capture(() -> assertEquals(0, new CommandLine(new StochasticDepthExample()).execute(
                "--data-dir", "data/fashion-mnist-subset", "--runs", "none,sample:0.1,sample_fast:0.5",
                "--epochs", "1", "--train-limit", "32", "--test-limit", "32", "--batch", "16", "--depths", "1,1",
                "--width", "2", "--device", "cpu", "--out", out.toString())));
        assertTrue(text.matches("(?s).*\\nsample_fast-0\\.5\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+\\n.*"),
                text);
        assertTrue(text.contains("sample-0.1: 2 blocks, StochasticDepthOptions(target=blocks named 'ResNetBottleneck'"),
                text);
        assertTrue(Files.isRegularFile(out.resolve("stochastic-depth-test-accuracy.png")));
        assertTrue(Files.isRegularFile(out.resolve("metrics-sample-0.1.csv")));
    }
}
