package dev.dropkit.examples;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dropkit.testing.ParsedJson;
import org.junit.jupiter.api.Test;

class ExamplesCliTest {

    @Test
    void smokePrintsVersionDeviceAndBothModes() {
        String out = capture(() -> assertEquals(0, ExamplesCli.run("smoke", "--device", "cpu")));
        assertTrue(out.contains("libtorch 2.10.0"), out);
        assertTrue(out.contains("device:  cpu"), out);
        assertTrue(out.contains("Dropout(p=0.5, mode=inverted)"), out);
        assertTrue(out.contains("eval:  [0.5, 0.5"), out);
    }

    @Test
    void benchmarkRunsAndPrintsRatios() {
        String out = capture(() -> assertEquals(0,
                ExamplesCli.run("bench", "dropout", "--sizes", "1", "--reps", "1", "--warmup", "0", "--device", "cpu")));
        assertTrue(out.matches("(?s).*\\n\\s+1M\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+.*"), out);
    }

    @Test
    void theNotebookDemoRunsEndToEndAndWritesItsFiles(@org.junit.jupiter.api.io.TempDir java.nio.file.Path out)
            throws java.io.IOException {
        java.nio.file.Path subset = java.nio.file.Path.of("data", "fashion-mnist-subset");
        String log = capture(() -> assertEquals(0, ExamplesCli.run("demo", "--epochs", "1", "-H", "32",
                "--train-limit", "300", "--test-limit", "200", "--batch-size", "100", "--device", "cpu",
                "--progress", "none", "--data-dir", subset.toString(), "--out", out.toString(), "--gyro", "3,2")));
        assertTrue(log.contains("DATA: "), log);
        assertTrue(log.contains("dropout -> gyro dropout: 3 change(s)"), log);
        assertTrue(log.contains("gyro dropout test/acc="), log);
        assertTrue(log.contains("300 training / 200 test images"), log);
        assertTrue(log.matches("(?s).*epoch 1:\\ttest/acc=0\\.\\d{3}\\ttest/loss=\\d+\\.\\d{3}\\ttrain/acc=.*"), log);
        assertTrue(log.contains("final (epoch 1): dropout test/acc="), log);
        for (String f : new String[] {"metrics-dropout.csv", "metrics-dropout.json", "metrics-no-dropout.csv",
                "metrics-no-dropout.json", "test-accuracy.png"}) {
            assertTrue(java.nio.file.Files.size(out.resolve(f)) > 0, f);
        }
        assertEquals(2, java.nio.file.Files.readAllLines(out.resolve("metrics-dropout.csv")).size());
        for (String run : new String[] {"dropout", "no-dropout"}) {
            String text = java.nio.file.Files.readString(out.resolve("metrics-" + run + ".json"));
            JsonNode json = ParsedJson.parse(text);
            assertEquals(run, json.get("name").textValue(), text);
            assertEquals(1, json.get("epochs").size(), text);
            JsonNode epoch = json.get("epochs").get(0);
            assertEquals(1, epoch.get("epoch").intValue(), text);
            for (String metric : new String[] {"train_acc", "test_acc"}) {
                double v = epoch.get(metric).doubleValue();
                assertTrue(epoch.get(metric).isNumber() && v >= 0 && v <= 1, metric + " in " + text);
            }
            assertTrue(epoch.get("train_loss").isNumber() && epoch.get("test_loss").isNumber(), text);
        }
    }

    @Test
    void theGyroExampleComparesBothMethods(@org.junit.jupiter.api.io.TempDir java.nio.file.Path out) {
        String log = capture(() -> assertEquals(0, ExamplesCli.run("gyro", "--epochs", "1", "--hidden", "16",
                "--seeds", "1,2", "--sigma", "4", "--tau", "2", "--train-limit", "256", "--test-limit", "100",
                "--batch-size", "32", "--device", "cpu", "--progress", "none", "--data-dir",
                java.nio.file.Path.of("data", "fashion-mnist-subset").toString(), "--out", out.toString())));
        assertTrue(log.matches("(?s).*\\ndropout\\s+0\\.\\d{4} ± 0\\.\\d{4}.*"), log);
        assertTrue(log.matches("(?s).*\\ngyro dropout\\s+0\\.\\d{4} ± 0\\.\\d{4}.*"), log);
        assertTrue(java.nio.file.Files.exists(out.resolve("test-accuracy.png")));
        assertTrue(java.nio.file.Files.exists(out.resolve("metrics-gyro-seed2.csv")));
    }

    @Test
    void unknownCommandsFail() {
        assertTrue(ExamplesCli.run("frobnicate") != 0);
    }

    /** On the bundled subset the demo keeps the notebook's 60 steps an epoch, and both arms learn (issue 19). */
    @Test
    void theDemoOnTheBundledSubsetScalesItsBatchAndBothArmsReachSeventyPercent(@org.junit.jupiter.api.io.TempDir
            java.nio.file.Path out) {
        String log = capture(() -> assertEquals(0, ExamplesCli.run("demo", "--device", "cpu", "--progress", "none",
                "--data-dir", java.nio.file.Path.of("data", "fashion-mnist-subset").toString(), "--out", out.toString())));
        assertTrue(log.contains("6000 training images: batch 100 keeps the notebook's 60 steps an epoch"), log);
        assertTrue(log.contains("apt-get install dataset-fashion-mnist"), log);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "final \\(epoch 10\\): dropout test/acc=(0\\.\\d+) .* no-dropout test/acc=(0\\.\\d+) ").matcher(log);
        assertTrue(m.find(), log);
        assertTrue(Double.parseDouble(m.group(1)) >= 0.70, "dropout arm: " + m.group(1));
        assertTrue(Double.parseDouble(m.group(2)) >= 0.70, "no-dropout arm: " + m.group(2));
    }

    @Test
    void theDemoRunsTheNotebooksSharedMaskOnRequest(@org.junit.jupiter.api.io.TempDir java.nio.file.Path out) {
        String log = capture(() -> assertEquals(0, ExamplesCli.run("demo", "--shared-mask", "--epochs", "1", "-H", "32",
                "--train-limit", "300", "--test-limit", "100", "--device", "cpu", "--progress", "none", "--data-dir",
                java.nio.file.Path.of("data", "fashion-mnist-subset").toString(), "--out", out.toString())));
        assertTrue(log.contains("Dropout(p=0.1, mode=classic, shared_across_batch), Dropout(p=0.2, mode=classic,"
                + " shared_across_batch)"), log);
    }
}
