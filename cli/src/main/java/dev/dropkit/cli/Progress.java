package dev.dropkit.cli;

import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.TrainingCallback;
import dev.dropkit.train.TrainingContext;
import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress of long work: a live bar with rate and ETA on a terminal, a few plain log lines otherwise
 * (CI logs, pipes), nothing when switched off. {@link #training} renders a
 * {@link dev.dropkit.train.Trainer}'s progress, which the library reports only through callbacks.
 */
public abstract class Progress implements AutoCloseable {
    /** How progress is shown. */
    public enum Mode {
        /** A bar on a terminal, plain lines elsewhere or when {@code CI} is set. */
        AUTO,
        /** Always a bar. */
        BAR,
        /** Always plain lines (about every 25%). */
        PLAIN,
        /** Nothing. */
        NONE
    }

    /** Advances by one unit, showing {@code message} (e.g. the running loss). */
    public abstract void step(String message);

    @Override
    public abstract void close();

    /** Starts showing progress of {@code total} units of {@code task}. */
    public static Progress start(Mode mode, String task, long total, PrintStream out) {
        Mode m = mode == Mode.AUTO ? (onTerminal() ? Mode.BAR : Mode.PLAIN) : mode;
        return switch (m) {
            case BAR -> new Bar(task, total, out);
            case PLAIN -> new Plain(task, total, out);
            default -> new Progress() {
                @Override
                public void step(String message) {}

                @Override
                public void close() {}
            };
        };
    }

    /**
     * A callback that shows each epoch's steps as progress (with the running loss) and prints the
     * epoch's metrics line to {@code out} when it ends, whatever the mode.
     *
     * @param mode how the steps are shown
     * @param run the run's name, shown in front of the epoch
     * @param out where the bar, the plain lines and the epoch lines go
     */
    public static TrainingCallback training(Mode mode, String run, PrintStream out) {
        return new TrainingCallback() {
            private Progress bar;

            @Override
            public void onEpochBegin(TrainingContext context) {
                bar = start(mode, String.format(Locale.ROOT, "%s epoch %d/%d", run, context.epoch() + 1,
                        context.epochs()), context.batchesPerEpoch(), out);
            }

            @Override
            public void onBatchEnd(TrainingContext context, double loss) {
                bar.step(String.format(Locale.ROOT, "loss %.4f", loss));
                if (context.step() == context.batchesPerEpoch() - 1) {
                    bar.close(); // before the evaluation, which is not part of the bar
                }
            }

            @Override
            public void onEpochEnd(TrainingContext context, EpochMetrics metrics) {
                bar.close();
                out.println(metrics.notebookLine());
            }
        };
    }

    static boolean onTerminal() {
        if (System.getenv("CI") != null) {
            return false;
        }
        java.io.Console console = System.console();
        return console != null && console.isTerminal();
    }

    private static final class Bar extends Progress {
        private final ProgressBar bar;

        Bar(String task, long total, PrintStream out) {
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                    .setConsumer(new ConsoleProgressBarConsumer(out)).showSpeed().setUnit(" it", 1)
                    .setUpdateIntervalMillis(250).build();
        }

        @Override
        public void step(String message) {
            bar.setExtraMessage(message);
            bar.step();
        }

        @Override
        public void close() {
            bar.close();
        }
    }

    private static final class Plain extends Progress {
        private final String task;
        private final long total;
        private final PrintStream out;
        private final long start = System.nanoTime();
        private long done;
        private int lastQuarter;

        Plain(String task, long total, PrintStream out) {
            this.task = task;
            this.total = total;
            this.out = out;
        }

        @Override
        public void step(String message) {
            done++;
            int quarter = total == 0 ? 4 : (int) (4 * done / total);
            if (quarter > lastQuarter && done < total) {
                lastQuarter = quarter;
                double secs = (System.nanoTime() - start) / 1e9;
                double rate = done / Math.max(secs, 1e-9);
                out.printf(Locale.ROOT, "%s: %d/%d (%d%%) %.1f it/s, ETA %.0fs %s%n", task, done, total,
                        100 * done / total, rate, (total - done) / rate, message);
            }
        }

        @Override
        public void close() {}
    }
}
