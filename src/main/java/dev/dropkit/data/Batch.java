package dev.dropkit.data;

import org.bytedeco.pytorch.Tensor;

/** One mini-batch: inputs (float) and integer class targets, already on the training device. */
public record Batch(Tensor inputs, Tensor targets) {
    /** Number of samples in the batch. */
    public int size() {
        return (int) targets.size(0);
    }
}
