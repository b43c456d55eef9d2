package dev.dropkit.train;

import dev.dropkit.core.Checks;
import dev.dropkit.schedule.Schedule;
import java.util.function.DoubleConsumer;
import java.util.function.DoubleSupplier;

/**
 * Drives one regularizer's hyperparameter from a {@link Schedule}: before every step it reads the schedule
 * at the step, epoch and progress of the loop, hands the value to the regularizer, and logs it under a
 * metric name ({@code dropout/p}, {@code stochastic_depth/drop_rate}, ...) in the run's per-step values,
 * as Composer logs {@code stochastic_depth/drop_rate}. Every regularizer's schedule goes through this one
 * class; each algorithm's package has a factory that finds its modules in a model.
 *
 * <pre>{@code
 * Trainer.builder(model).callback(DropoutSchedules.forModel(net, Schedule.early(0.1, 0.2))) ...
 * }</pre>
 */
public final class ScheduleCallback implements TrainingCallback {
    private final String metric;
    private final Schedule schedule;
    private final DoubleConsumer apply;
    private final DoubleSupplier logged;
    private double current = Double.NaN;

    /**
     * @param metric the name the value is logged under
     * @param schedule the value over training
     * @param apply sets the value on the regularizer; it validates it (a drop rate outside [0, 1] is refused there)
     */
    public ScheduleCallback(String metric, Schedule schedule, DoubleConsumer apply) {
        this(metric, schedule, apply, null);
    }

    /**
     * For a regularizer whose value in force can lag the one asked for (Gyro Dropout's {@code p} changes
     * only when its masks are redrawn): the schedule's value is handed to {@code apply}, and the value read
     * from {@code inForce} right after is the one logged, returned and kept as {@link #current()}.
     *
     * @param inForce reads the value the regularizer actually uses; null logs the schedule's value
     */
    public ScheduleCallback(String metric, Schedule schedule, DoubleConsumer apply, DoubleSupplier inForce) {
        this.metric = Checks.notNull("metric", metric);
        this.schedule = Checks.notNull("schedule", schedule);
        this.apply = Checks.notNull("apply", apply);
        this.logged = inForce;
    }

    /** Sets the value for a point of training and returns it (the value in force, where that can lag). */
    public double update(long step, int epoch, double progress) {
        double value = schedule.valueAt(step, epoch, progress);
        apply.accept(value);
        current = logged == null ? value : logged.getAsDouble();
        return current;
    }

    @Override
    public void onTrainBegin(TrainingContext context) {
        update(context.globalStep(), context.epoch(), context.progress());
    }

    @Override
    public void onBatchBegin(TrainingContext context) {
        context.log(metric, update(context.globalStep(), context.epoch(), context.progress()));
    }

    /** The value set last (or in force, see the four-argument constructor); NaN before the first step. */
    public double current() {
        return current;
    }

    /** The metric name. */
    public String metric() {
        return metric;
    }

    /** The schedule it follows. */
    public Schedule schedule() {
        return schedule;
    }

    @Override
    public String toString() {
        return "ScheduleCallback(" + metric + " = " + schedule + ")";
    }
}
