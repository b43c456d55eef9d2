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

/**
 * The per-epoch metrics of a run, the per-step values callbacks log (a regularizer's current rate), and
 * their CSV and JSON forms.
 */
public final class TrainingHistory {
    private final String name;
    private final List<EpochMetrics> epochs = new ArrayList<>();
    private final List<String> valueNames = new ArrayList<>();
    private final List<StepValues> steps = new ArrayList<>();

    /** The values logged at one optimizer step, in {@link #valueNames()} order (NaN: not logged at that step). */
    public record StepValues(long step, int epoch, double[] values) {}

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

    /**
     * Records {@code value} under {@code name} at optimizer step {@code step} (0-based, over the run). Steps
     * arrive in order; a second value for the same step and name (micro-batches of one accumulation group)
     * replaces the first.
     */
    public void log(long step, int epoch, String name, double value) {
        int column = valueNames.indexOf(name);
        if (column < 0) {
            valueNames.add(name);
            column = valueNames.size() - 1;
        }
        StepValues last = steps.isEmpty() ? null : steps.get(steps.size() - 1);
        if (last == null || last.step() != step) {
            last = new StepValues(step, epoch, new double[0]);
            steps.add(last);
        }
        double[] values = last.values();
        if (values.length <= column) {
            double[] grown = java.util.Arrays.copyOf(values, valueNames.size());
            java.util.Arrays.fill(grown, values.length, grown.length, Double.NaN);
            last = new StepValues(last.step(), last.epoch(), grown);
            steps.set(steps.size() - 1, last);
        }
        last.values()[column] = value;
    }

    /** Names of the per-step values, in the order they were first logged. */
    public List<String> valueNames() {
        return Collections.unmodifiableList(valueNames);
    }

    /** The per-step values, oldest first. */
    public List<StepValues> steps() {
        return Collections.unmodifiableList(steps);
    }

    /** Per-step values as CSV: {@code step,epoch,<name>...}, an empty cell where a value was not logged. */
    public String stepsToCsv() {
        StringBuilder sb = new StringBuilder("step,epoch");
        valueNames.forEach(n -> sb.append(',').append(n));
        sb.append('\n');
        for (StepValues row : steps) {
            sb.append(row.step()).append(',').append(row.epoch() + 1);
            for (int i = 0; i < valueNames.size(); i++) {
                sb.append(',').append(i < row.values().length ? num(row.values()[i]) : "");
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /**
     * Reads back the per-step values of {@code <prefix>-steps.csv} in {@code dir} that come before step
     * {@code before}: what a resumed run logged until its checkpoint. A missing file reads as none.
     */
    public void readSteps(Path dir, String prefix, long before) throws IOException {
        Path file = dir.resolve(prefix + "-steps.csv");
        if (!Files.isRegularFile(file)) {
            return;
        }
        List<String> lines = Files.readAllLines(file);
        if (lines.isEmpty()) {
            return;
        }
        String[] header = lines.get(0).split(",", -1);
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",", -1);
            if (cells.length != header.length) {
                throw new IOException(file + ": a row has " + cells.length + " cells, the header " + header.length);
            }
            long step;
            int epoch;
            try {
                step = Long.parseLong(cells[0]);
                epoch = Integer.parseInt(cells[1]) - 1;
            } catch (NumberFormatException e) {
                throw new IOException(file + ": not a step and epoch: " + line, e);
            }
            if (step >= before) {
                continue;
            }
            for (int i = 2; i < cells.length; i++) {
                if (!cells[i].isEmpty()) {
                    log(step, epoch, header[i], Double.parseDouble(cells[i]));
                }
            }
        }
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

    /** Writes {@code <prefix>.csv} and {@code <prefix>.json} into {@code dir}, and {@code <prefix>-steps.csv} when values were logged. */
    public void write(Path dir, String prefix) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve(prefix + ".csv"), toCsv());
        AtomicFiles.writeString(dir.resolve(prefix + ".json"), toJson());
        if (!steps.isEmpty()) {
            AtomicFiles.writeString(dir.resolve(prefix + "-steps.csv"), stepsToCsv());
        }
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6f", v);
    }
}
