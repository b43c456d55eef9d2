package dev.dropkit.dropgrad;

import dev.dropkit.core.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The random draw of one DropGrad round (one backward pass for the hooks, one step for the wrapper), made
 * the same way by both forms so that they give bit-identical gradients for a seed:
 *
 * <ol>
 *   <li>one 64-bit key from libtorch's default CPU generator, if any CPU group is masked by the hash
 *       ({@link CpuMasks}); parameter {@code i}'s mask is hashed from {@code subKey(key, i)};
 *   <li>then, for every other group with a nonzero rate (CUDA, or the CPU above the hash's highest rate), in
 *       group order, one mask over the whole group, already scaled: {@code 1 / (1 - rate)} where kept, 0
 *       where dropped. Drawn with {@code bernoulli_} in float32 on the group's device (one kernel, from the
 *       device generator's host-side state: no sync), converted to the group's dtype, scaled (one kernel).
 * </ol>
 *
 * A parameter's mask is a view into its group's ({@link #maskView}), so masking costs one multiply per
 * parameter in the hooks and one per group over a flat gradient buffer in the wrapper.
 */
final class RoundDraw implements AutoCloseable {
    final RateGroups groups;
    final double[] rates;
    final long cpuKey;
    private final Tensor[] masks;

    private RoundDraw(RateGroups groups, double[] rates, long cpuKey, Tensor[] masks) {
        this.groups = groups;
        this.rates = rates;
        this.cpuKey = cpuKey;
        this.masks = masks;
    }

    /** Draws a round for {@code rates}; its masks live until {@link #close()}, whatever scope is open. */
    static RoundDraw draw(RateGroups groups, double[] rates) {
        RateGroups.Group[] gs = groups.groups;
        long key = 0L;
        for (RateGroups.Group g : gs) {
            if (hashed(g, rates[g.members[0]])) {
                key = CpuMasks.drawKey();
                break;
            }
        }
        Tensor[] masks = new Tensor[gs.length];
        boolean anyMask = false;
        for (RateGroups.Group g : gs) {
            double rate = rates[g.members[0]];
            anyMask |= rate != 0.0 && !hashed(g, rate);
        }
        if (!anyMask) { // the usual CPU round: a key, no tensor, no scope
            return new RoundDraw(groups, rates, key, masks);
        }
        try (PointerScope ignored = new PointerScope()) {
            for (RateGroups.Group g : gs) {
                double rate = rates[g.members[0]];
                if (rate != 0.0 && !hashed(g, rate)) {
                    Tensor mask = scaledMask(g, rate);
                    mask.retainReference(); // outlives this scope until the round closes
                    masks[g.index] = mask;
                }
            }
        }
        return new RoundDraw(groups, rates, key, masks);
    }

    /** Whether group {@code g}'s masks come from the CPU hash at {@code rate} (else from {@link #scaledMask}). */
    static boolean hashed(RateGroups.Group g, double rate) {
        return rate != 0.0 && g.cpu && CpuMasks.hashes(rate);
    }

    /** Whether parameter {@code i} is masked by the CPU hash in this round. */
    boolean hashed(int i) {
        return hashed(groups.group(i), rates[i]);
    }

    /** Parameter {@code i}'s hash key in this round. */
    long key(int i) {
        return CpuMasks.subKey(cpuKey, i);
    }

    /** Group {@code g}'s whole scaled mask, or null (rate zero, or hashed). Owned by the round. */
    Tensor groupMask(int g) {
        return masks[g];
    }

    /**
     * Parameter {@code i}'s scaled mask, shaped like it: a view into the group's mask, owned by the caller's
     * scope. The view holds the mask's storage, so it stays valid after the round closes.
     */
    Tensor maskView(int i) {
        RateGroups.Group g = groups.group(i);
        int k = groups.slotOf[i];
        long n = 1;
        for (long d : g.shapes[k]) {
            n *= d;
        }
        return masks[g.index].narrow(0, g.offsets[k], n).view(g.shapes[k]);
    }

    /**
     * {@code 1 / (1 - rate)} with probability {@code 1 - rate}, else 0, over the group's elements, in its
     * dtype: survivors are multiplied by exactly the scale {@code grad.mul_(scale)} would use.
     */
    private static Tensor scaledMask(RateGroups.Group g, double rate) {
        Tensor keep = torch.empty(new long[] {g.total}, Tensors.options(ScalarType.Float, g.device),
                new MemoryFormatOptional()).bernoulli_(1.0 - rate, new GeneratorOptional());
        if (g.dtype != ScalarType.Float) {
            keep = keep.to(g.dtype);
        }
        return keep.mul_(new Scalar(1.0 / (1.0 - rate)));
    }

    /** Frees the masks. */
    @Override
    public void close() {
        for (int g = 0; g < masks.length; g++) {
            if (masks[g] != null) {
                masks[g].releaseReference();
                masks[g] = null;
            }
        }
    }
}
