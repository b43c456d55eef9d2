package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Tensors;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The DropGrad op on one gradient tensor: each element is zeroed with probability {@code rate} and the
 * survivors are multiplied by {@code 1 / (1 - rate)}, so the expected gradient is unchanged. The mask is
 * drawn on the gradient's own device from libtorch's default generator there, so
 * {@link dev.dropkit.core.Seeds#seed(long)} makes it reproducible.
 *
 * <p>Dropping is a multiplication, not a selection: a non-finite gradient stays non-finite (a dropped
 * infinity becomes NaN), so overflow checks such as a gradient scaler's still see it.
 */
public final class DropGradOps {
    private DropGradOps() {}

    /**
     * The gradient with DropGrad applied, as a new tensor.
     *
     * @param grad a floating-point gradient, on any device
     * @param rate drop probability in [0, 1)
     * @return a new tensor, or {@code grad} itself when {@code rate == 0} (no work, no random draw)
     * @throws IllegalArgumentException if {@code rate} is outside [0, 1) or NaN
     */
    public static Tensor drop(Tensor grad, double rate) {
        Checks.notNull("grad", grad);
        Checks.probabilityBelowOne("rate", rate);
        return rate == 0.0 ? grad : applyMask(grad, keepMask(grad, rate), rate);
    }

    /**
     * Applies DropGrad to {@code grad} in place: for a parameter's accumulated {@code .grad}, which the
     * caller owns. Never use it on a gradient autograd is still passing around (in a hook), where other
     * consumers may share its memory.
     *
     * @return {@code grad}, untouched when {@code rate == 0}
     * @throws IllegalArgumentException if {@code rate} is outside [0, 1) or NaN
     */
    public static Tensor dropInPlace(Tensor grad, double rate) {
        Checks.notNull("grad", grad);
        Checks.probabilityBelowOne("rate", rate);
        return rate == 0.0 ? grad : applyMaskInPlace(grad, keepMask(grad, rate), rate);
    }

    /**
     * A mask shaped like {@code like}, on its device and in its dtype: 1 (kept) with probability
     * {@code 1 - rate}, else 0. Drawn as float32 uniforms whatever the gradient's dtype, so a seed gives the
     * same mask for float, double and half gradients; compared in place, which on the CPU costs less than
     * a boolean mask and its promotion in the multiply.
     */
    static Tensor keepMask(Tensor like, double rate) {
        Tensor uniform = torch.empty(Tensors.shape(like), Tensors.options(torch.ScalarType.Float, like.device()),
                new MemoryFormatOptional());
        Tensor keep = uniform.uniform_(0.0, 1.0, new GeneratorOptional()).ge_(new Scalar(rate));
        return keep.scalar_type().intern() == like.scalar_type().intern() ? keep : keep.to(like.scalar_type());
    }

    /** {@code grad * keep / (1 - rate)} as a new tensor: survivors are exactly {@code grad * (1 / (1 - rate))}. */
    static Tensor applyMask(Tensor grad, Tensor keep, double rate) {
        return grad.mul(keep).mul_(new Scalar(1.0 / (1.0 - rate)));
    }

    /** The same product written into {@code grad}, bit for bit what {@link #applyMask} returns. */
    static Tensor applyMaskInPlace(Tensor grad, Tensor keep, double rate) {
        return grad.mul_(keep).mul_(new Scalar(1.0 / (1.0 - rate)));
    }
}
