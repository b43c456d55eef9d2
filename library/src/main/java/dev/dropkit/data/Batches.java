package dev.dropkit.data;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.ffm.TensorSegments;
import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Seeded mini-batches over an {@link IdxDataset}, normalized and on the training device.
 *
 * <pre>{@code
 * Batches batches = Batches.builder(train).batchSize(64).seed(42).device(device)
 *         .normalization(Normalization.FASHION_MNIST).build();
 * for (int epoch = 0; epoch < epochs; epoch++) {
 *     Iterator<Batch> it = batches.epoch(epoch);
 *     while (it.hasNext()) {
 *         NativeMemory.run(() -> step(model, it.next())); // next() inside the step's scope
 *     }
 * }
 * }</pre>
 *
 * <h2>Order</h2>
 * Epoch {@code e} visits the samples in {@link EpochOrder}'s seeded permutation (file order without
 * shuffling). Every sample of an epoch is visited exactly once; with {@code dropLast} the last partial
 * batch is skipped.
 *
 * <h2>Memory</h2>
 * A batch's tensors are created when {@link Iterator#next()} is called and belong to the
 * {@code PointerScope} open at that moment; call {@code next()} inside the per-step
 * {@link NativeMemory} scope so they are freed with the step. Temporaries (index tensor, uint8 copy) are
 * freed inside {@code next()}. Batches are copies: training may modify them freely, the mapped dataset
 * is never written.
 *
 * <h2>Devices</h2>
 * Pixels are gathered on the CPU as uint8 ({@code index_select} on the mapped images). For CUDA they are
 * gathered straight into pinned host memory, copied with {@code non_blocking}, and normalized on the
 * GPU: a quarter of the bytes of a float copy cross the bus, and the copy overlaps with host work. On
 * the CPU nothing is pinned.
 */
public final class Batches implements BatchSource {
    private final IdxDataset dataset;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final boolean dropLast;
    private final torch.DeviceType deviceType;
    private final byte deviceIndex;
    private final Normalization normalization;
    private final boolean flatten;
    private final int samples;

    private Batches(Builder b) {
        this.dataset = b.dataset;
        this.batchSize = b.batchSize;
        this.shuffle = b.shuffle;
        this.seed = b.seed;
        this.dropLast = b.dropLast;
        // Keep the device as plain values: a Device object made in a caller's scope may be freed before us.
        this.deviceType = b.device.type().intern(); // == works only on interned enums (native-notes)
        this.deviceIndex = b.device.index();
        this.normalization = b.normalization;
        this.flatten = b.flatten;
        this.samples = b.limit == 0 ? b.dataset.size() : b.limit;
    }

    /** A builder over {@code dataset}, which must stay open while batches are drawn. */
    public static Builder builder(IdxDataset dataset) {
        return new Builder(Checks.notNull("dataset", dataset));
    }

    /** Batches in one epoch: {@code samples / batchSize}, rounded up unless {@code dropLast}. */
    @Override
    public int batchesPerEpoch() {
        return dropLast ? samples / batchSize : (int) (((long) samples + batchSize - 1) / batchSize); // no int overflow
    }

    /** Samples an epoch draws from (the dataset's size, or the limit). */
    @Override
    public int samples() {
        return samples;
    }

    /** The batch size (the last batch of an epoch may be smaller unless {@code dropLast}). */
    public int batchSize() {
        return batchSize;
    }

    /**
     * The batches of epoch {@code epoch} (0-based), in this epoch's order (see the class comment).
     *
     * @throws IllegalArgumentException if epoch is negative
     */
    @Override
    public Iterator<Batch> epoch(int epoch) {
        Checks.nonNegative("epoch", epoch);
        int[] order = order(epoch);
        int batches = batchesPerEpoch();
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < batches;
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException("epoch " + epoch + " has only " + batches + " batches");
                }
                int from = next * batchSize;
                next++;
                return batch(order, from, Math.min(from + batchSize, samples));
            }
        };
    }

    /** The sample order of an epoch: a permutation of 0..samples-1 (see {@link EpochOrder}). */
    int[] order(int epoch) {
        return EpochOrder.of(samples, shuffle, seed, epoch);
    }

    private Batch batch(int[] order, int from, int to) {
        int b = to - from;
        byte[] labels = dataset.labelBytes(); // also fails clearly if the dataset was closed
        long[] index = new long[b];
        long[] targets = new long[b];
        for (int i = 0; i < b; i++) {
            index[i] = order[from + i];
            targets[i] = Byte.toUnsignedInt(labels[order[from + i]]);
        }
        Tensor inputs = NativeMemory.keep(() -> inputs(index));
        Tensor y = NativeMemory.keep(() -> onDevice(targets));
        return new Batch(inputs, y);
    }

    private Tensor inputs(long[] index) {
        int b = index.length;
        int rows = dataset.rows();
        int cols = dataset.cols();
        Tensor idx = TensorSegments.copy(MemorySegment.ofArray(index), ScalarType.Long, b);
        Tensor images = dataset.images();
        Tensor pixels;
        if (isCuda()) {
            Tensor pinned = torch.empty(new long[] {b, rows, cols},
                    new TensorOptions(ScalarType.Byte).pinned_memory(new BoolOptional(true)),
                    new MemoryFormatOptional());
            torch.index_select_out(pinned, images, 0, idx);
            pixels = pinned.to(device(), ScalarType.Byte, true, false, new MemoryFormatOptional());
        } else {
            pixels = images.index_select(0, idx);
        }
        Tensor x = normalization.apply(pixels);
        if (!isCpu()) {
            x = x.to(device(), ScalarType.Float, false, false, new MemoryFormatOptional());
        }
        return flatten ? x.view(b, (long) rows * cols) : x.view(b, 1, rows, cols);
    }

    private Tensor onDevice(long[] targets) {
        int b = targets.length;
        if (isCuda()) {
            Tensor pinned = torch.empty(new long[] {b},
                    new TensorOptions(ScalarType.Long).pinned_memory(new BoolOptional(true)),
                    new MemoryFormatOptional());
            if (b > 0) {
                TensorSegments.view(pinned).copyFrom(MemorySegment.ofArray(targets));
            }
            return pinned.to(device(), ScalarType.Long, true, false, new MemoryFormatOptional());
        }
        Tensor y = TensorSegments.copy(MemorySegment.ofArray(targets), ScalarType.Long, b);
        return isCpu() ? y : y.to(device(), ScalarType.Long, false, false, new MemoryFormatOptional());
    }

    private boolean isCuda() {
        return deviceType == torch.DeviceType.CUDA;
    }

    private boolean isCpu() {
        return deviceType == torch.DeviceType.CPU;
    }

    private Device device() {
        return new Device(deviceType, deviceIndex);
    }

    /** Settings for {@link Batches}; every setter checks its value. */
    public static final class Builder {
        private final IdxDataset dataset;
        private int batchSize = 64;
        private boolean shuffle = true;
        private long seed;
        private boolean dropLast;
        private Device device = Devices.cpu();
        private Normalization normalization = Normalization.UNIT;
        private boolean flatten;
        private int limit;

        private Builder(IdxDataset dataset) {
            this.dataset = dataset;
        }

        /** Samples per batch, at least 1 (default 64). */
        public Builder batchSize(int batchSize) {
            this.batchSize = (int) Checks.positive("batchSize", batchSize);
            return this;
        }

        /** Whether each epoch visits the samples in a seeded random order (default true). */
        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        /** Seed of the shuffle (default 0); see the class comment for how epochs derive from it. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Whether to skip the last batch of an epoch when it is smaller than the batch size (default false). */
        public Builder dropLast(boolean dropLast) {
            this.dropLast = dropLast;
            return this;
        }

        /** Device of the batches' tensors (default the CPU). */
        public Builder device(Device device) {
            Checks.notNull("device", device);
            this.device = new Device(device.type().intern(), device.index()); // our own copy, see Batches()
            return this;
        }

        /** How pixels become inputs (default {@link Normalization#UNIT}). */
        public Builder normalization(Normalization normalization) {
            this.normalization = Checks.notNull("normalization", normalization);
            return this;
        }

        /** Inputs as [B, rows * cols] (true) or [B, 1, rows, cols] (false, the default). */
        public Builder flatten(boolean flatten) {
            this.flatten = flatten;
            return this;
        }

        /** Use only the first {@code limit} samples of the dataset; 0 (the default) uses all. */
        public Builder limit(int limit) {
            this.limit = (int) Checks.nonNegative("limit", limit);
            return this;
        }

        /**
         * The batches.
         *
         * @throws IllegalArgumentException if the limit exceeds the dataset's size
         * @throws IllegalStateException if the dataset is closed, or the device is CUDA and CUDA is absent
         */
        public Batches build() {
            dataset.labelBytes(); // fails if closed
            if (limit > dataset.size()) {
                throw new IllegalArgumentException("limit must be at most the dataset's size " + dataset.size()
                        + ", got " + limit);
            }
            if (device.is_cuda() && !Devices.cudaAvailable()) {
                throw new IllegalStateException("device " + Devices.describe(device)
                        + " was requested but CUDA is not available");
            }
            return new Batches(this);
        }
    }
}
