package dev.dropkit.examples.bench;

import picocli.CommandLine.Option;

/**
 * {@code --reps} and {@code --warmup}: every benchmark times a number of repetitions after some untimed ones;
 * each holds its own counts with {@link #withDefaults}.
 */
public final class BenchmarkRepetitions {
    @Option(names = "--reps", description = "Timed repetitions (default: ${DEFAULT-VALUE}).")
    private int reps;

    @Option(names = "--warmup", description = "Untimed repetitions first (default: ${DEFAULT-VALUE}).")
    private int warmup;

    private BenchmarkRepetitions(int reps, int warmup) {
        this.reps = reps;
        this.warmup = warmup;
    }

    /** {@code --reps} and {@code --warmup} that default to {@code timed} and {@code warmup} in the benchmark holding them. */
    public static BenchmarkRepetitions withDefaults(int timed, int warmup) {
        return new BenchmarkRepetitions(timed, warmup);
    }

    /** How many repetitions are timed. */
    public int timed() {
        return (int) dev.dropkit.core.Checks.positive("--reps", reps);
    }

    /** How many untimed repetitions go first (a minimum where a benchmark also warms up for a time). */
    public int warmup() {
        return (int) dev.dropkit.core.Checks.nonNegative("--warmup", warmup);
    }
}
