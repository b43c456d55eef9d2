package dev.dropkit.train;

import dev.dropkit.core.AtomicFiles;
import dev.dropkit.core.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/** The per-epoch metrics of a run, and their CSV and JSON forms. */
public final class TrainingHistory {
    private final String name;
    private final List<EpochMetrics> epochs = new ArrayList<>();

    /** An empty history for the run called {@code name} (used as a label in files and plots). */
    public TrainingHistory(String name) {
        this.name = name;
    }

    /** The run's name. */
    public String name() {
        return name;
    }

    /** Appends one epoch. */
    public void add(EpochMetrics metrics) {
        epochs.add(metrics);
    }

    /** The epochs so far, oldest first. */
    public List<EpochMetrics> epochs() {
        return Collections.unmodifiableList(epochs);
    }

    /** The last epoch, or null before the first one ends. */
    public EpochMetrics last() {
        return epochs.isEmpty() ? null : epochs.get(epochs.size() - 1);
    }

    /** CSV with a header row, one row per epoch. */
    public String toCsv() {
        StringBuilder sb = new StringBuilder("epoch,train_loss,train_acc,test_loss,test_acc,seconds\n");
        for (EpochMetrics m : epochs) {
            sb.append(String.format(Locale.ROOT, "%d,%s,%s,%s,%s,%.3f%n", m.epoch(), num(m.trainLoss()),
                    num(m.trainAccuracy()), num(m.testLoss()), num(m.testAccuracy()), m.seconds()));
        }
        return sb.toString();
    }

    /**
     * JSON: {@code {"name": ..., "epochs": [{"epoch": 1, "train_loss": ...}, ...]}}, one epoch per
     * line. A metric that was not measured (test loss without a test set) is null.
     */
    public String toJson() {
        Json json = new Json().beginObject().key("name").value(name).key("epochs").beginArray();
        for (EpochMetrics m : epochs) {
            json.beginInlineObject()
                    .key("epoch").value(m.epoch())
                    .key("train_loss").value(m.trainLoss(), 6)
                    .key("train_acc").value(m.trainAccuracy(), 6)
                    .key("test_loss").value(m.testLoss(), 6)
                    .key("test_acc").value(m.testAccuracy(), 6)
                    .key("seconds").value(m.seconds(), 3)
                    .endObject();
        }
        return json.endArray().endObject().text() + "\n";
    }

    /** Writes {@code <prefix>.csv} and {@code <prefix>.json} into {@code dir}. */
    public void write(Path dir, String prefix) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve(prefix + ".csv"), toCsv());
        AtomicFiles.writeString(dir.resolve(prefix + ".json"), toJson());
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6f", v);
    }
}
