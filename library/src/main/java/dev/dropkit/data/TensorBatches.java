package dev.dropkit.data;

import dev.dropkit.core.Checks;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Mini-batches over tensors already in memory (any device): synthetic data, small tests, features
 * precomputed elsewhere. Shuffling follows {@link EpochOrder}.
 */
public final class TensorBatches implements BatchSource {
    private final Tensor inputs;
    private final Tensor targets;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final torch.DeviceType deviceType; // not a Device: one made inside a PointerScope dies with it
    private final byte deviceIndex;

    /**
     * @param inputs [N, ...] inputs
     * @param targets [N] int64 class indices
     * @param batchSize samples per batch; the last batch may be smaller
     * @param shuffle whether each epoch uses its own seeded permutation
     * @param seed seed of the permutations
     * @param device where batches are delivered
     */
    public TensorBatches(Tensor inputs, Tensor targets, int batchSize, boolean shuffle, long seed, Device device) {
        this.inputs = Checks.notNull("inputs", inputs);
        this.targets = Checks.notNull("targets", targets);
        if (targets.scalar_type().intern() != torch.ScalarType.Long) { // cross_entropy's class indices
            throw new IllegalArgumentException("targets must be int64 class indices, got "
                    + targets.scalar_type().intern());
        }
        if (inputs.size(0) != targets.size(0)) {
            throw new IllegalArgumentException("inputs have " + inputs.size(0) + " samples but targets have "
                    + targets.size(0));
        }
        this.batchSize = (int) Checks.positive("batchSize", batchSize);
        this.shuffle = shuffle;
        this.seed = seed;
        Checks.notNull("device", device);
        this.deviceType = device.type().intern(); // == works only on interned enums (native-notes)
        this.deviceIndex = device.index();
    }

    @Override
    public int batchesPerEpoch() {
        return (int) (((long) samples() + batchSize - 1) / batchSize); // batchSize may be Integer.MAX_VALUE
    }

    @Override
    public int samples() {
        return (int) targets.size(0);
    }

    @Override
    public Iterator<Batch> epoch(int epoch) {
        int[] order = EpochOrder.of(samples(), shuffle, seed, epoch);
        return new Iterator<>() {
            int next = 0;

            @Override
            public boolean hasNext() {
                return next < order.length;
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int end = Math.min(order.length, next + batchSize);
                long[] idx = new long[end - next];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = order[next + i];
                }
                next = end;
                Tensor index = torch.tensor(idx).to(inputs.device(), torch.ScalarType.Long);
                Device device = new Device(deviceType, deviceIndex);
                Tensor x = inputs.index_select(0, index).to(device, inputs.scalar_type());
                Tensor y = targets.index_select(0, index.to(targets.device(), torch.ScalarType.Long))
                        .to(device, torch.ScalarType.Long);
                return new Batch(x, y);
            }
        };
    }
}
