package dev.dropkit.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.TrainingHistory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotsTest {

    @Test
    void curvesArePngFilesAndRepeatedRunNamesAreNumbered(@TempDir Path dir) throws IOException {
        TrainingHistory h = new TrainingHistory("tiny");
        h.add(new EpochMetrics(1, 2.0, 0.3, 1.9, 0.35, 0.1));
        h.add(new EpochMetrics(2, 1.5, 0.5, 1.4, 0.55, 0.1));
        Path png = Plots.epochCurves(dir.resolve("acc"), "t", "test accuracy", List.of(h),
                EpochMetrics::testAccuracy);
        byte[] head = Files.readAllBytes(png);
        assertTrue(png.toString().endsWith("acc.png"), png.toString());
        assertTrue(head.length > 1000 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G', "a PNG file");
        // two runs under one name (every Trainer defaults to "run"): XChart refused the second series
        Path twice = Plots.epochCurves(dir.resolve("twice.png"), "t", "test accuracy", List.of(h, h),
                EpochMetrics::testAccuracy);
        assertTrue(Files.size(twice) > 1000);
    }
}
