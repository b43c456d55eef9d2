package dev.dropkit.dropgrad;

import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;

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

    /** Ends the open round and frees its masks. */
    synchronized void end() {
        if (draw != null) {
            draw.close();
        }
        draw = null;
        used = null;
    }
}
