package dev.dropkit.examples.dropgrad;

import static dev.dropkit.testing.StdoutCapture.capture;
import static dev.dropkit.testing.StdoutCapture.captureErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.examples.ExamplesCli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DropGradExampleTest {
    static final String SUBSET = "data/fashion-mnist-subset";

    @Test
    void trainsAllFourVariantsAndWritesTableCsvAndPng(@TempDir Path tmp) throws IOException {
        String out = capture(() -> assertEquals(0, ExamplesCli.run("dropgrad", "--data-dir", SUBSET, "--train-limit",
                "256", "--epochs", "1", "--hidden", "16", "--progress", "none", "--device", "cpu", "--out",
                tmp.toString())));
        assertTrue(out.contains("data:    IDX dataset from " + SUBSET), out);
        for (String row : new String[] {"sgd\\s+off", "sgd\\s+rate 0.1", "adam\\s+off", "adam\\s+rate 0.1"}) {
            assertTrue(out.matches("(?s).*\\n" + row + "\\s+42\\s+0\\.\\d{4}\\s+0\\.\\d{4}.*"), row + " in " + out);
        }
        assertTrue(Files.size(tmp.resolve("dropgrad-test-accuracy.png")) > 1000);
        assertEquals(5, Files.readAllLines(tmp.resolve("dropgrad-summary.csv")).size());
        assertTrue(Files.exists(tmp.resolve("metrics-adam+dropgrad.csv")));
    }

    @Test
    void badOptionsAreRejectedNamingTheValue(@TempDir Path tmp) {
        String err = captureErr(() -> capture(() -> assertEquals(2, ExamplesCli.run("dropgrad", "--data-dir", SUBSET,
                "--rate", "1.0", "--out", tmp.toString()))));
        assertTrue(err.contains("dropkit dropgrad: rate must be in [0, 1), got 1.0"), err);
        err = captureErr(() -> capture(() -> assertEquals(2, ExamplesCli.run("dropgrad", "--data-dir", SUBSET,
                "--progress", "loud", "--out", tmp.toString()))));
        assertTrue(err.contains("Invalid value for option '--progress'") && err.contains("'loud'"), err);
    }
}
