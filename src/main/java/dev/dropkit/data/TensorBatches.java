package dev.dropkit.data;

import dev.dropkit.core.Checks;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Random;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Mini-batches over tensors already in memory (any device): synthetic data, small tests, features
 * precomputed elsewhere. Shuffling uses a Java generator seeded from {@code seed} and the epoch.
 */
public final class TensorBatches implements BatchSource {
    private final Tensor inputs;
    private final Tensor targets;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final Device device;

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
        if (inputs.size(0) != targets.size(0)) {
            throw new IllegalArgumentException("inputs have " + inputs.size(0) + " samples but targets have "
                    + targets.size(0));
        }
        this.batchSize = (int) Checks.positive("batchSize", batchSize);
        this.shuffle = shuffle;
        this.seed = seed;
        this.device = Checks.notNull("device", device);
    }

    @Override
    public int batchesPerEpoch() {
        return (samples() + batchSize - 1) / batchSize;
    }

    @Override
    public int samples() {
        return (int) targets.size(0);
    }

    @Override
    public Iterator<Batch> epoch(int epoch) {
        long[] order = permutation(samples(), shuffle, seed, epoch);
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
                long[] idx = java.util.Arrays.copyOfRange(order, next, end);
                next = end;
                Tensor index = torch.tensor(idx).to(inputs.device(), torch.ScalarType.Long);
                Tensor x = inputs.index_select(0, index).to(device, inputs.scalar_type());
                Tensor y = targets.index_select(0, index.to(targets.device(), torch.ScalarType.Long))
                        .to(device, torch.ScalarType.Long);
                return new Batch(x, y);
            }
        };
    }

    /** The order of epoch {@code epoch}: identity, or a Fisher-Yates shuffle seeded by seed and epoch. */
    static long[] permutation(int n, boolean shuffle, long seed, int epoch) {
        long[] order = new long[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            Random random = new Random(seed * 1_000_003L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                long t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }
}
