package dev.dropkit.data;

import java.util.Iterator;

/**
 * Anything the training loop can draw mini-batches from, one epoch at a time. An epoch's order must be
 * a pure function of the source's seed and the epoch number, so that a resumed run sees the same batches
 * as an uninterrupted one.
 *
 * <p>The tensors of a {@link Batch} are created by {@code next()} and belong to the
 * {@link org.bytedeco.javacpp.PointerScope} active at that moment: call {@code next()} inside the
 * per-step scope.
 */
public interface BatchSource {
    /** Batches in one epoch. */
    int batchesPerEpoch();

    /** Samples the source draws from (before any drop-last). */
    int samples();

    /** The batches of epoch {@code epoch} (0-based), in that epoch's order. */
    Iterator<Batch> epoch(int epoch);
}
