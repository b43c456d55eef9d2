package dev.dropkit.train;

/**
 * Where regularizers hook into the loop. Every method has an empty default, so a callback overrides
 * only what it needs: Gyro Dropout's sub-network schedule in {@link #onBatchBegin}, DropGrad's gradient
 * masking in {@link #beforeOptimizerStep}, drop-rate schedules and warm-ups in {@link #onEpochBegin} or
 * {@link #onBatchBegin} (from {@link TrainingContext#progress()}).
 *
 * <p>Order within one step: {@code onBatchBegin}, forward, loss, backward, {@code beforeOptimizerStep},
 * optimizer step, {@code onBatchEnd}. With gradient accumulation
 * ({@link Trainer.Builder#accumulationSteps(int)}) {@code beforeOptimizerStep} and the optimizer step come
 * only after the last micro-batch of each group. Callbacks run in the order they were added. Tensors a callback
 * creates inside a step are freed at the end of that step.
 */
public interface TrainingCallback {
    /** Once, before the first epoch (also when resuming). */
    default void onTrainBegin(TrainingContext context) {}

    /** Before each training epoch; the model is in training mode. */
    default void onEpochBegin(TrainingContext context) {}

    /** Before each step's forward pass. */
    default void onBatchBegin(TrainingContext context) {}

    /** After backward, before the optimizer step: gradients are populated and may be changed. */
    default void beforeOptimizerStep(TrainingContext context) {}

    /** After the optimizer step, with the step's mean loss. */
    default void onBatchEnd(TrainingContext context, double loss) {}

    /** After each epoch's evaluation. */
    default void onEpochEnd(TrainingContext context, EpochMetrics metrics) {}

    /** Once, after the last epoch. */
    default void onTrainEnd(TrainingContext context, TrainingHistory history) {}
}
