package dev.dropkit.dropgrad;

import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;

/**
 * The hooks' open round: one {@link RoundDraw} shared by every parameter's hook during one backward pass.
 * A round ends when a parameter's gradient arrives a second time (the next backward pass), when its rate
 * was zero at the draw but is not now, or when {@link #end()} is called ({@code DropGrad.update}). Hooks
 * may run on several autograd threads, hence the lock.
 */
final class HookRound {
    /** What one hook takes from the round: its rate, hash key, or mask view (owned by the caller's scope). */
    record Share(double rate, boolean hashed, long key, Tensor mask) {}

    private RoundDraw draw;
    private boolean[] used;

    /**
     * Parameter {@code index}'s share of the open round, opening a new round with {@code open} first when
     * needed. The mask view is made under the lock, so a round closed by another thread right after cannot
     * free it (a view holds its storage).
     */
    synchronized Share take(int index, Supplier<RoundDraw> open) {
        if (draw == null || used[index] || draw.rates[index] == 0.0) {
            end();
            draw = open.get();
            used = new boolean[draw.rates.length];
        }
        used[index] = true;
        double rate = draw.rates[index];
        if (rate == 0.0) {
            return new Share(0.0, false, 0L, null);
        }
        boolean hashed = draw.hashed(index);
        return new Share(rate, hashed, hashed ? draw.key(index) : 0L, hashed ? null : draw.maskView(index));
    }

    /**
     * The hooks' work for parameter {@code index}: the dropped gradient as a new tensor, or null to leave
     * the gradient as it is (rate zero, or dropped in place because nobody else can read it; see
     * {@link GradientOwnership}). Off the CPU that is one multiply by the parameter's view of its group's
     * mask, in place where allowed (one kernel; else the multiply and AccumulateGrad's copy of the result).
     */
    Tensor gradient(int index, TensorBase grad, Supplier<RoundDraw> open, IntFunction<IllegalArgumentException> sparse) {
        Share share = take(index, open);
        double rate = share.rate();
        if (rate == 0.0) { // the rate became zero between the caller's check and the round
            return null;
        }
        if (grad.is_sparse()) {
            throw sparse.apply(index);
        }
        // Nobody else reads it: dropped in place, no new tensor, no copy into .grad. Decided before any Java
        // copy of the tensor, which would count as one more holder.
        boolean exclusive = grad.has_storage() && GradientOwnership.exclusive(grad);
        if (share.hashed()) {
            if (exclusive && CpuMasks.direct(grad)) {
                CpuMasks.drop(grad, grad, rate, share.key());
                return null;
            }
            return DropGradOps.drop(new Tensor(grad), rate, share.key());
        }
        if (exclusive) {
            new Tensor(grad).mul_(share.mask());
            return null;
        }
        return new Tensor(grad).mul(share.mask());
    }

    /** Ends the open round and frees its masks. */
    synchronized void end() {
        if (draw != null) {
            draw.close();
        }
        draw = null;
        used = null;
    }
}
