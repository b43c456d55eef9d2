package dev.dropkit.data;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.Tensor;

/**
 * One mini-batch: float inputs ([B, 784] or [B, 1, 28, 28] for MNIST-sized images) and int64 class
 * targets [B], on the same device. Both tensors belong to the {@code PointerScope} that was open when
 * the batch was made (see {@link Batches}).
 */
public record Batch(Tensor inputs, Tensor targets) {
    /** @throws IllegalArgumentException if either tensor is null */
    public Batch {
        Checks.notNull("inputs", inputs);
        Checks.notNull("targets", targets);
    }

    /** Number of samples in the batch (the last one of an epoch may be smaller). */
    public int size() {
        return (int) targets.size(0);
    }
}
