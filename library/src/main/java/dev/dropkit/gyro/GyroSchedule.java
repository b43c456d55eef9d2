package dev.dropkit.gyro;

import dev.dropkit.core.Checks;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.SplitMix64;
import dev.dropkit.ffm.TensorSegments;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Which {@code tau} of the {@code sigma} sub-networks are active at each re-draw, as a pure function of
 * a seed and the re-draw's index. {@link GyroDropout} keeps only the seed and its step counter in its
 * buffers; because nothing else feeds the schedule, a run resumed from a checkpoint draws exactly what an
 * uninterrupted run draws, whatever the process's generators did in between.
 *
 * <p>Permutations come from libtorch's {@code randperm} on a private CPU generator seeded from
 * (seed, cycle) or (seed, draw); the seed itself is drawn from libtorch's default CPU generator when the
 * masks are, so {@link dev.dropkit.core.Seeds#seed(long)} fixes the whole schedule on CPU and CUDA.
 *
 * <p>{@link GyroSelection#PERMUTATION} reads a stream of permutations of all sub-networks, {@code tau}
 * at a time. When {@code tau} does not divide {@code sigma}, a draw takes the last few of one permutation
 * and the first few of the next; the next permutation is then arranged so that its first entries avoid
 * those last few, so every draw holds {@code tau} distinct sub-networks and every permutation is still
 * used once. The arrangement depends on the previous cycle, so cycles are computed in order (and the
 * last one is cached).
 */
public final class GyroSchedule {
    private final int sigma;
    private final int tau;
    private final GyroSelection selection;
    private final long seed;
    private long cachedCycle = -1;
    private long[] cachedOrder;

    /**
     * A schedule over {@code sigma} sub-networks, {@code tau} at a time.
     *
     * @throws IllegalArgumentException if {@code tau} is not in [1, sigma] or selection is null
     */
    public GyroSchedule(int sigma, int tau, GyroSelection selection, long seed) {
        checkSigmaTau(sigma, tau);
        this.sigma = sigma;
        this.tau = tau;
        this.selection = Checks.notNull("selection", selection);
        this.seed = seed;
    }

    /** The seed every permutation derives from. */
    public long seed() {
        return seed;
    }

    /**
     * Steps between two re-draws of the active set: {@code floor(itersPerEpoch * maxEpoch / sigma) * tau},
     * as in the paper and the reference implementation. Over the run there are then about
     * {@code sigma / tau} re-draws, so with {@link GyroSelection#PERMUTATION} each sub-network is active
     * for about {@code iterNum} steps.
     *
     * @throws IllegalArgumentException if a count is not positive, {@code tau} is not in [1, sigma], or
     *     the run has fewer steps than {@code sigma} (the reference implementation then divides by zero)
     */
    public static long iterNum(long itersPerEpoch, long maxEpoch, int sigma, int tau) {
        Checks.positive("itersPerEpoch", itersPerEpoch);
        Checks.positive("maxEpoch", maxEpoch);
        checkSigmaTau(sigma, tau);
        long steps = Math.multiplyExact(itersPerEpoch, maxEpoch);
        if (steps < sigma) {
            throw new IllegalArgumentException("itersPerEpoch * maxEpoch = " + itersPerEpoch + " * " + maxEpoch
                    + " = " + steps + " steps is fewer than sigma = " + sigma + " sub-networks, so"
                    + " iterNum = floor(" + steps + " / " + sigma + ") * " + tau + " would be 0 and no"
                    + " sub-network would get even one step of its own; train for at least " + sigma
                    + " steps or lower sigma to at most " + steps);
        }
        return Math.multiplyExact(steps / sigma, (long) tau);
    }

    /** Checks {@code 1 <= tau <= sigma}, naming the values otherwise. */
    static void checkSigmaTau(int sigma, int tau) {
        Checks.positive("sigma", sigma);
        Checks.positive("tau", tau);
        if (tau > sigma) {
            throw new IllegalArgumentException("tau (sub-networks active at once) must be at most sigma"
                    + " (sub-networks in all), got sigma=" + sigma + ", tau=" + tau);
        }
    }

    /**
     * The {@code tau} distinct sub-networks (indices in [0, sigma)) active during re-draw {@code draw}
     * (0-based: steps {@code draw * iterNum} to {@code (draw + 1) * iterNum - 1}); group {@code i} of a
     * batch uses entry {@code i}.
     */
    public long[] activeSet(long draw) {
        Checks.nonNegative("draw", draw);
        if (selection == GyroSelection.IID) {
            return Arrays.copyOf(permutation(mix(~seed, draw)), tau);
        }
        long start = Math.multiplyExact(draw, (long) tau);
        long cycle = start / sigma;
        int offset = (int) (start % sigma);
        long[] order = cycleOrder(cycle);
        if (offset + tau <= sigma) {
            return Arrays.copyOfRange(order, offset, offset + tau);
        }
        long[] next = cycleOrder(cycle + 1);
        long[] out = new long[tau];
        int fromThis = sigma - offset;
        System.arraycopy(order, offset, out, 0, fromThis);
        System.arraycopy(next, 0, out, fromThis, tau - fromThis);
        return out;
    }

    /**
     * The order in which permutation cycle {@code cycle} visits all {@code sigma} sub-networks
     * ({@link GyroSelection#PERMUTATION}; draw {@code d} reads positions {@code d * tau} onwards of the
     * concatenated cycles).
     */
    public long[] cycleOrder(long cycle) {
        Checks.nonNegative("cycle", cycle);
        if (cachedCycle < 0 || cachedCycle > cycle) {
            cachedOrder = permutation(mix(seed, 0));
            cachedCycle = 0;
        }
        while (cachedCycle < cycle) {
            cachedOrder = nextCycle(cachedOrder, cachedCycle + 1);
            cachedCycle++;
        }
        return cachedOrder.clone();
    }

    /**
     * Cycle {@code k}'s order: a fresh permutation, with the sub-networks that end cycle {@code k - 1}
     * inside the draw straddling the boundary moved behind the others, so that draw has no repeats.
     */
    private long[] nextCycle(long[] previous, long k) {
        long[] fresh = permutation(mix(seed, k));
        int leftover = (int) (Math.multiplyExact(k, (long) sigma) % tau);
        if (leftover == 0) {
            return fresh;
        }
        boolean[] endsPrevious = new boolean[sigma];
        for (int i = sigma - leftover; i < sigma; i++) {
            endsPrevious[(int) previous[i]] = true;
        }
        long[] out = new long[sigma];
        int at = 0;
        for (long id : fresh) {
            if (!endsPrevious[(int) id]) {
                out[at++] = id;
            }
        }
        for (long id : fresh) {
            if (endsPrevious[(int) id]) {
                out[at++] = id;
            }
        }
        return out;
    }

    /** A permutation of [0, sigma) from libtorch's randperm on a CPU generator seeded with {@code streamSeed}. */
    private long[] permutation(long streamSeed) {
        return NativeMemory.get(() -> {
            var generator = new GeneratorOptional(torch.createCPUGenerator(streamSeed));
            var perm = torch.randperm(sigma, generator, new TensorOptions(torch.ScalarType.Long));
            return TensorSegments.view(perm).toArray(ValueLayout.JAVA_LONG);
        });
    }

    /**
     * The seed of cycle or draw {@code stream}. The stream is spread by an odd constant before mixing, as
     * schedules always have been, so a saved schedule replays the same sub-networks.
     */
    private static long mix(long seed, long stream) {
        return SplitMix64.streamSeed(seed, stream * 0xD1B54A32D192ED03L);
    }

    @Override
    public String toString() {
        return "GyroSchedule(sigma=" + sigma + ", tau=" + tau + ", selection=" + selection.id() + ", seed=" + seed
                + ")";
    }
}
