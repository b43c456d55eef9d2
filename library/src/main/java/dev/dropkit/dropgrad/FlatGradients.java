package dev.dropkit.dropgrad;

import dev.dropkit.core.Tensors;
import java.util.List;
import java.util.function.IntFunction;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The optimizer wrapper's flat gradient buffers: the gradients of one rate group ({@link RateGroups}) live
 * in one contiguous buffer, and each member's {@code .grad} is a tensor over its slice of that buffer. Then
 * a step masks a whole group with one multiply by the round's group mask on CUDA (instead of four kernels
 * per parameter), and {@code zero_grad} is one fill per group.
 *
 * <p>Aliasing rules (native-notes/grad-views-and-zero-grad.md): the slices are made with
 * {@code empty(0).set_(storage, offset, shape, strides)}, not {@code narrow}/{@code view}, because autograd
 * refuses {@code detach_()} on a view and libtorch's {@code zero_grad(false)} calls it; they are assigned
 * through {@code mutable_grad()}. Autograd then accumulates every backward pass into the defined
 * {@code .grad} in place ({@code grad += new}), so the slices stay in the buffer. It does replace a
 * gradient that is undefined ({@code zero_grad()} of the inner optimizer: the new one is stolen or cloned)
 * or when it records a graph ({@code create_graph}): {@link #aliased} sees that from the data pointers,
 * the step masks that group parameter by parameter instead (same masks, same bits), and the next
 * {@link #zeroGrad} puts the slices back.
 *
 * <p>Off by default, on every device ({@code -Ddropkit.dropgrad.flatBuffers=true} turns it on; the tests
 * do). Counted from the code, a flat group costs two kernels more per CUDA step than masking its
 * parameters one by one with views of the group's one mask: one {@code zero_()} and one multiply per
 * group, while autograd's {@code +=} into the zeroed buffer takes the place of the per-parameter
 * multiplies (libtorch steals the first gradient into an undefined {@code .grad} for free, and the bindings
 * offer neither a post-accumulate hook nor {@code _foreach_mul_} to fuse those). It also leaves zeros, not
 * undefined gradients, after {@code zero_grad()}. On the CPU the mask is Java code that runs over the
 * memory anyway, and it measured no faster there. It stays as the engine for when the bindings offer a way
 * to keep autograd writing into the buffer for free.
 */
final class FlatGradients {
    /** The system property that turns flat buffers on ({@code true}); off by default. */
    static final String PROPERTY = "dropkit.dropgrad.flatBuffers";

    private final boolean on;
    private RateGroups layout;
    private Tensor[] flats;
    private Tensor[][] slices;
    private long[] bases;
    private long[] elementSizes;

    FlatGradients(boolean on) {
        this.on = on;
    }

    /** Whether flat buffers are on ({@value #PROPERTY}, default false). */
    static boolean onByDefault() {
        return Boolean.getBoolean(PROPERTY);
    }

    /** Whether this DropGrad keeps its gradients in flat buffers (one switch for every group). */
    boolean on() {
        return on;
    }

    /**
     * Zeroes every flat buffer in place and makes each member's {@code .grad} its slice again where it is
     * not (a first call, or a gradient libtorch replaced). Allocates the buffers when the layout changed.
     */
    synchronized void zeroGrad(RateGroups groups, List<Tensor> params) {
        if (layout != groups) {
            allocate(groups);
        }
        for (RateGroups.Group g : groups.groups) {
            flats[g.index].zero_();
            for (int k = 0; k < g.members.length; k++) {
                Tensor p = params.get(g.members[k]);
                if (!aliased(p, g, k) && p.scalar_type().value == g.dtypeValue) { // else: masked by itself
                    p.mutable_grad().put(slices[g.index][k]);
                }
            }
        }
    }

    /** Whether every member of group {@code g} has its slice of the buffer as {@code .grad} now. */
    synchronized boolean aliased(RateGroups groups, RateGroups.Group g, List<Tensor> params) {
        if (layout != groups) {
            return false;
        }
        for (int k = 0; k < g.members.length; k++) {
            if (!aliased(params.get(g.members[k]), g, k)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The wrapper's masking of the gradients accumulated since the last zero_grad, with one round's draw: a
     * group whose gradients are all its buffer's slices at once (one multiply by the group mask, or the CPU
     * hash over each slice), any other parameter by itself with the same mask, so both give the same bits.
     */
    void dropAccumulated(RateGroups gs, RoundDraw draw, List<Tensor> params,
            IntFunction<IllegalArgumentException> sparse) {
        double[] r = draw.rates;
        for (RateGroups.Group g : gs.groups) {
            double rate = r[g.members[0]];
            if (rate == 0.0) {
                continue;
            }
            if (aliased(gs, g, params)) {
                Tensor mask = draw.groupMask(g.index);
                if (mask != null) {
                    flat(g).mul_(mask);
                } else {
                    for (int k = 0; k < g.members.length; k++) {
                        DropGradOps.dropInPlace(slice(g, k), rate, draw.key(g.members[k]));
                    }
                }
                continue;
            }
            for (int m : g.members) {
                Tensor grad = params.get(m).grad();
                if (!grad.defined()) {
                    continue;
                }
                if (grad.is_sparse()) {
                    throw sparse.apply(m);
                }
                if (draw.hashed(m)) {
                    DropGradOps.dropInPlace(grad, rate, draw.key(m));
                } else {
                    grad.mul_(draw.maskView(m));
                }
            }
        }
    }

    /** Group {@code g}'s buffer (only while {@link #aliased} says so is it every member's gradient). */
    synchronized Tensor flat(RateGroups.Group g) {
        return flats[g.index];
    }

    /** Member {@code k} of group {@code g}'s slice. */
    synchronized Tensor slice(RateGroups.Group g, int k) {
        return slices[g.index][k];
    }

    private boolean aliased(Tensor p, RateGroups.Group g, int k) {
        Tensor grad = p.grad();
        return grad.defined() && grad.data_ptr().address() == bases[g.index] + g.offsets[k] * elementSizes[g.index];
    }

    private void allocate(RateGroups groups) {
        release();
        int n = groups.groups.length;
        flats = new Tensor[n];
        slices = new Tensor[n][];
        bases = new long[n];
        elementSizes = new long[n];
        try (PointerScope ignored = new PointerScope()) {
            for (RateGroups.Group g : groups.groups) {
                Tensor flat = torch.zeros(new long[] {g.total}, Tensors.options(g.dtype, g.device));
                flat.retainReference();
                flats[g.index] = flat;
                bases[g.index] = flat.data_ptr().address();
                elementSizes[g.index] = flat.element_size();
                var storage = flat.storage();
                slices[g.index] = new Tensor[g.members.length];
                for (int k = 0; k < g.members.length; k++) {
                    long[] shape = g.shapes[k];
                    Tensor s = torch.empty(new long[] {0}, Tensors.options(g.dtype, g.device), new MemoryFormatOptional())
                            .set_(storage, g.offsets[k], shape, contiguousStrides(shape));
                    s.retainReference();
                    slices[g.index][k] = s;
                }
            }
        }
        layout = groups;
    }

    private static long[] contiguousStrides(long[] shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            strides[d] = s;
            s *= Math.max(shape[d], 1);
        }
        return strides;
    }

    /** Frees the buffers (gradients still pointing into them keep their storage alive). */
    synchronized void release() {
        if (flats != null) {
            for (int g = 0; g < flats.length; g++) {
                if (flats[g] != null) {
                    flats[g].releaseReference();
                    for (Tensor s : slices[g]) {
                        s.releaseReference();
                    }
                }
            }
        }
        flats = null;
        slices = null;
        layout = null;
    }
}
