package dev.dropkit.schedule;

import dev.dropkit.core.Checks;

/**
 * A number that changes as training goes on: a drop rate that warms up, a survival probability that
 * decays. Regularizers read it once per step with where the loop stands: the optimizer step (0-based,
 * counted over the whole run), the epoch (0-based) and the progress (fraction of the run done, in
 * [0, 1]), so one schedule can be written in whichever unit suits it.
 *
 * <p>The factories validate their arguments when called, and the schedules they return reject a
 * negative step or epoch and a progress outside [0, 1] with an {@link IllegalArgumentException}. What
 * values are acceptable (a rate below 1, a positive count) is for the consumer to check.
 *
 * <pre>{@code
 * Schedule warm = Schedule.linearWarmup(0.0, 0.1, 1000);    // 0 -> 0.1 over the first 1000 steps
 * Schedule decay = Schedule.cosine(0.2, 0.0);               // 0.2 -> 0 over the run
 * Schedule early = Schedule.early(0.1, 0.2);                // dropout 0.1 for the first fifth, then none
 * Schedule custom = Schedule.of((step, epoch) -> epoch < 5 ? 0.1 : 0.05);
 * }</pre>
 */
@FunctionalInterface
public interface Schedule {

    /**
     * The value at a point of training.
     *
     * @param step optimizer steps taken before this one, over the whole run (0-based)
     * @param epoch current epoch (0-based)
     * @param progress fraction of the run done, in [0, 1]
     */
    double valueAt(long step, int epoch, double progress);

    /** A function of the step and the epoch, for {@link #of(StepFunction)}. */
    @FunctionalInterface
    interface StepFunction {
        /** The value at optimizer step {@code step} (0-based) in epoch {@code epoch} (0-based). */
        double apply(long step, int epoch);
    }

    /** The same value at every step. */
    static Schedule constant(double value) {
        finite("value", value);
        return checked("constant(" + value + ")", (step, epoch, progress) -> value);
    }

    /**
     * Linear from {@code from} at step 0 to {@code to} at step {@code warmupSteps}, then {@code to}.
     * With {@code warmupSteps == 0} it is {@code to} from the start.
     */
    static Schedule linearWarmup(double from, double to, long warmupSteps) {
        finite("from", from);
        finite("to", to);
        Checks.nonNegative("warmupSteps", warmupSteps);
        return checked("linearWarmup(" + from + " -> " + to + " over " + warmupSteps + " steps)",
                (step, epoch, progress) -> step >= warmupSteps ? to
                        : from + (to - from) * ((double) step / warmupSteps));
    }

    /**
     * A staircase like PyTorch's {@code StepLR}: {@code initial} for the first {@code everyEpochs}
     * epochs, then multiplied by {@code factor} every {@code everyEpochs} epochs.
     */
    static Schedule step(double initial, double factor, int everyEpochs) {
        finite("initial", initial);
        finite("factor", factor);
        Checks.positive("everyEpochs", everyEpochs);
        return checked("step(" + initial + " x " + factor + " every " + everyEpochs + " epochs)",
                (step, epoch, progress) -> initial * Math.pow(factor, epoch / everyEpochs));
    }

    /**
     * Half a cosine from {@code from} at the start of the run to {@code to} at its end, by progress:
     * {@code to + (from - to) * (1 + cos(pi * progress)) / 2}.
     */
    static Schedule cosine(double from, double to) {
        finite("from", from);
        finite("to", to);
        return checked("cosine(" + from + " -> " + to + " over the run)",
                (step, epoch, progress) -> to + (from - to) * (1 + Math.cos(Math.PI * progress)) / 2);
    }

    /**
     * Half a cosine from {@code from} at step 0 to {@code to} at step {@code totalSteps}, then
     * {@code to}: for loops that count steps but do not know their length as a fraction.
     */
    static Schedule cosine(double from, double to, long totalSteps) {
        finite("from", from);
        finite("to", to);
        Checks.positive("totalSteps", totalSteps);
        return checked("cosine(" + from + " -> " + to + " over " + totalSteps + " steps)",
                (step, epoch, progress) -> step >= totalSteps ? to
                        : to + (from - to) * (1 + Math.cos(Math.PI * step / totalSteps)) / 2);
    }

    /**
     * {@code value} for the first {@code untilProgress} of the run, then 0: early dropout (Liu et al. 2023,
     * "Dropout Reduces Underfitting"), which regularizes only while the model is far from its data.
     */
    static Schedule early(double value, double untilProgress) {
        finite("value", value);
        Checks.probability("untilProgress", untilProgress);
        return checked("early(" + value + " until " + untilProgress + " of the run)",
                (step, epoch, progress) -> progress < untilProgress ? value : 0.0);
    }

    /** 0 until {@code fromProgress} of the run, then {@code value}: late dropout, for when the model starts to overfit. */
    static Schedule late(double value, double fromProgress) {
        finite("value", value);
        Checks.probability("fromProgress", fromProgress);
        return checked("late(" + value + " from " + fromProgress + " of the run)",
                (step, epoch, progress) -> progress >= fromProgress ? value : 0.0);
    }

    /** A straight line from {@code from} at the start of the run to {@code to} at its end, by progress. */
    static Schedule linear(double from, double to) {
        finite("from", from);
        finite("to", to);
        return checked("linear(" + from + " -> " + to + " over the run)",
                (step, epoch, progress) -> from + (to - from) * progress);
    }

    /** Any function of the step and the epoch; its arguments are validated, its values left to the consumer. */
    static Schedule of(StepFunction function) {
        Checks.notNull("function", function);
        return checked("of(function)", (step, epoch, progress) -> function.apply(step, epoch));
    }

    /**
     * Rejects a negative step or epoch and a progress outside [0, 1] (or NaN), naming the bad value.
     *
     * @throws IllegalArgumentException for an impossible point of training
     */
    static void checkPoint(long step, int epoch, double progress) {
        Checks.nonNegative("step", step);
        Checks.nonNegative("epoch", epoch);
        Checks.probability("progress", progress);
    }

    private static Schedule checked(String description, Schedule body) {
        return new CheckedSchedule(description, body);
    }

    private static void finite(String name, double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException(name + " must be finite, got " + value);
        }
    }
}
