package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import dev.dropkit.train.TrainingCallback;
import dev.dropkit.train.TrainingContext;
import dev.dropkit.train.TrainingHistory;

/**
 * DropGrad in {@link dev.dropkit.train.Trainer}: updates the rates from their schedules before every
 * step ({@code onBatchBegin}, from the run's global step, epoch and progress) and applies DropGrad in
 * one of two ways.
 *
 * <ul>
 *   <li>{@link #hooks(DropGrad)}: registers the gradient hooks when training begins and removes them when
 *       it ends (or on {@link #close()}, if training stopped with an exception).
 *   <li>{@link #masking(DropGrad)}: drops the accumulated gradients in {@code beforeOptimizerStep}, like
 *       the optimizer wrapper; the only form of {@link DropGradMode#FULL_UPDATE}.
 * </ul>
 *
 * <pre>{@code
 * DropGrad dropGrad = DropGrad.builder().rate(Schedule.linearWarmup(0, 0.1, 500)).build(net);
 * Trainer.builder(TrainableModel.of(net, net::forward)).callback(DropGradCallback.hooks(dropGrad)) ...
 * }</pre>
 *
 * Before every step it logs the current rate per step as {@value #METRIC} (the highest rate, when
 * parameters have several), into the run's per-step metrics.
 *
 * <p>The trainer reseeds libtorch at every epoch and DropGrad draws from libtorch's generators, so a run
 * resumed from a checkpoint draws the same masks as an uninterrupted one.
 */
public final class DropGradCallback implements TrainingCallback, AutoCloseable {
    /**
     * The metric the current rate ({@link DropGrad#maxRate()}) is logged under before every step, as
     * {@code dev.dropkit.train.ScheduleCallback} logs dropout's and stochastic depth's values.
     */
    public static final String METRIC = "dropgrad/rate";

    private final DropGrad dropGrad;
    private final boolean useHooks;
    private DropGradHooks hooks;

    private DropGradCallback(DropGrad dropGrad, boolean useHooks) {
        this.dropGrad = Checks.notNull("dropGrad", dropGrad);
        this.useHooks = useHooks;
        if (useHooks && dropGrad.mode() == DropGradMode.FULL_UPDATE) {
            throw new IllegalArgumentException("DropGrad mode full-update cannot run in gradient hooks;"
                    + " use DropGradCallback.masking(...)");
        }
    }

    /** Gradient hooks, registered for the duration of training. */
    public static DropGradCallback hooks(DropGrad dropGrad) {
        return new DropGradCallback(dropGrad, true);
    }

    /** Drops the accumulated gradients just before each optimizer step. */
    public static DropGradCallback masking(DropGrad dropGrad) {
        return new DropGradCallback(dropGrad, false);
    }

    /** The configuration it applies. */
    public DropGrad dropGrad() {
        return dropGrad;
    }

    /**
     * Checks that the trainer's optimizer trains every parameter DropGrad acts on, and registers the hooks.
     *
     * @throws IllegalArgumentException naming a parameter the optimizer does not train
     */
    @Override
    public void onTrainBegin(TrainingContext context) {
        dropGrad.checkTrainedBy(context.optimizer(), "the trainer's optimizer");
        if (useHooks && (hooks == null || !hooks.isOpen())) {
            hooks = dropGrad.attach();
        }
    }

    /** Sets the rates from their schedules for this step and logs the current rate as {@value #METRIC}. */
    @Override
    public void onBatchBegin(TrainingContext context) {
        dropGrad.update(context.globalStep(), context.epoch(), context.progress());
        context.log(METRIC, dropGrad.maxRate());
    }

    @Override
    public void beforeOptimizerStep(TrainingContext context) {
        if (!useHooks) {
            dropGrad.apply();
        }
    }

    @Override
    public void onTrainEnd(TrainingContext context, TrainingHistory history) {
        close();
    }

    /** Removes the hooks, if registered. Idempotent. */
    @Override
    public void close() {
        if (hooks != null) {
            hooks.close();
        }
    }
}
