package dev.dropkit.examples.jit;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.examples.ExamplesCli;
import dev.dropkit.jit.JitFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jit demo}, which the examples module adds to the CLI (the CLI module alone does not have it). */
class JitTrainExampleTest {

    /** The example main end to end on a slice of Fashion-MNIST: export in Python, rewrite, train, reload in Python. */
    @Test
    void demoTrainsTheExportedMlpAndPythonReproducesTheLogits(@TempDir Path tmp) {
        JitFixtures.assumeTorch();
        String out = capture(() -> assertEquals(0, ExamplesCli.run("jit", "demo", "--train-limit", "640",
                "--test-limit", "256", "--epochs", "1", "--sigma", "8", "--tau", "4", "--device", "cpu",
                "--progress", "none", "--out", tmp.toString())));
        assertTrue(out.contains("rewrite: 2 dropout call(s) -> Gyro Dropout"), out);
        assertTrue(out.contains("rewritten: Gyro Dropout") && out.contains("as exported + DropGrad 0.1"), out);
        assertTrue(Files.isRegularFile(tmp.resolve("test-accuracy.png")), out);
        String line = out.lines().filter(l -> l.contains("max |logit difference|")).findFirst().orElse("");
        assertTrue(!line.isEmpty(), out);
        double diff = Double.parseDouble(line.substring(line.lastIndexOf('=') + 1).trim());
        assertTrue(diff < 1e-4, "Python and Java agree on the trained model's logits: " + line);
    }

    @Test
    void demoWithTheResNetRewritesItsBlocksToStochasticDepth(@TempDir Path tmp) throws IOException {
        JitFixtures.assumeTorchvision();
        String out = capture(() -> assertEquals(0, ExamplesCli.run("jit", "demo", "--arch", "resnet", "--train-limit", "192",
                "--test-limit", "128", "--epochs", "1", "--dropgrad", "0", "--device", "cpu", "--progress", "none",
                "--out", tmp.toString())));
        assertTrue(out.contains("rewrite: 6 residual blocks -> stochastic depth, rate=0.1") && out.contains("method=block"), out);
        assertTrue(out.contains("rewritten: SD sample 0.1 linear") && out.contains("rewritten: SD block 0.2 linear"), out);
        assertTrue(Files.isRegularFile(tmp.resolve("resnet-sd-trained.pt")), out);
        String line = out.lines().filter(l -> l.contains("max |logit difference|")).findFirst().orElse("");
        assertTrue(!line.isEmpty() && Double.parseDouble(line.substring(line.lastIndexOf('=') + 1).trim()) < 1e-4, out);
        capture(() -> assertEquals(2, ExamplesCli.run("jit", "demo", "--arch", "vgg", "--out", tmp.toString())));
    }
}
