package dev.dropkit.train;

import dev.dropkit.core.Checks;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Optimizer;

/**
 * Where the loop stands, handed to every {@link TrainingCallback}. Epochs and steps are 0-based;
 * {@link #globalStep()} counts optimizer steps since the start of training (resumes included).
 */
public final class TrainingContext {
    private final TrainableModel model;
    private final Optimizer optimizer;
    private final Device device;
    private final int epochs;
    private final int batchesPerEpoch;
    private final int accumulationSteps;
    int epoch;
    int step;
    long globalStep;
    TrainingHistory history; // where log() records; null outside a Trainer's run

    TrainingContext(TrainableModel model, Optimizer optimizer, Device device, int epochs, int batchesPerEpoch,
            int accumulationSteps) {
        this.model = model;
        this.accumulationSteps = accumulationSteps;
        this.optimizer = optimizer;
        this.device = device;
        this.epochs = epochs;
        this.batchesPerEpoch = batchesPerEpoch;
    }

    /** The model being trained. */
    public TrainableModel model() {
        return model;
    }

    /** The libtorch optimizer stepping it. */
    public Optimizer optimizer() {
        return optimizer;
    }

    /** Where the model and batches live. */
    public Device device() {
        return device;
    }

    /** Current epoch, 0-based. */
    public int epoch() {
        return epoch;
    }

    /** Total epochs of the run ({@code max_epoch}). */
    public int epochs() {
        return epochs;
    }

    /** Current batch (micro-batch, with gradient accumulation) within the epoch, 0-based. */
    public int step() {
        return step;
    }

    /** Batches in one epoch ({@code iters_per_epoch} without gradient accumulation). */
    public int batchesPerEpoch() {
        return batchesPerEpoch;
    }

    /** Batches whose gradients each optimizer step accumulates (1: no accumulation). */
    public int accumulationSteps() {
        return accumulationSteps;
    }

    /** Position of the current batch in its accumulation group, 0-based (always 0 without accumulation). */
    public int microBatch() {
        return step % accumulationSteps;
    }

    /** Optimizer steps in one epoch: batches per epoch over accumulation steps, rounded up. */
    public int optimizerStepsPerEpoch() {
        return (batchesPerEpoch + accumulationSteps - 1) / accumulationSteps;
    }

    /** Optimizer steps taken before the current one, over the whole run. */
    public long globalStep() {
        return globalStep;
    }

    /** Optimizer steps in the whole run. */
    public long totalSteps() {
        return (long) epochs * optimizerStepsPerEpoch();
    }

    /**
     * Logs a value for the current optimizer step under {@code name} (a regularizer's current rate, say):
     * the run's history keeps it, and the trainer writes it to {@code metrics-<run>-steps.csv}.
     */
    public void log(String name, double value) {
        Checks.notNull("name", name);
        if (history != null) {
            history.log(globalStep, epoch, name, value);
        }
    }

    /** Fraction of training done, in [0, 1): what warm-ups and schedules read. */
    public double progress() {
        return totalSteps() == 0 ? 0 : (double) globalStep / totalSteps();
    }
}
