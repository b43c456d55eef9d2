package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Tensors;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.global.torch;

/**
 * The DropGrad op on one gradient tensor: each element is zeroed with probability {@code rate} and the
 * survivors are multiplied by exactly {@code 1 / (1 - rate)}, so the expected gradient is unchanged.
 *
 * <p><b>Where the mask comes from.</b> On the CPU, from one 64-bit draw of libtorch's default CPU
 * generator, expanded by a counter-based hash (see {@code CpuMasks}): one 32-bit hash word decides two
 * elements, each dropped when its 16 bits fall below {@code round(rate * 2^16)}, so the drop probability
 * is {@code rate} rounded to a multiple of 2^-16 (at most 7.6e-6 away; a rate below 2^-17 drops nothing
 * on the CPU). Rates above {@code 1 - 2^-5}, where that rounding would move the expected gradient by more
 * than 2^-12, get exact masks on the CPU too, drawn like CUDA's below (slower). The hash costs about as
 * much as libtorch multiplying the gradient once, against a serial Mersenne-Twister draw per element for
 * libtorch's CPU {@code bernoulli_}/{@code uniform_} (1.2-2.0 ms for the 269K gradient elements of a
 * small MLP, drawn and applied, against about 0.06 ms).
 * On other devices (CUDA) the mask is libtorch's {@code uniform_} compared with {@code rate}, drawn from
 * that device's default generator. Either way {@link dev.dropkit.core.Seeds#seed(long)} makes it
 * reproducible, and the mask depends on the generator's state and the element's position, not on the
 * gradient's dtype or memory layout.
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
        checkGradient(grad);
        Checks.probabilityBelowOne("rate", rate);
        return rate == 0.0 ? grad : drop(grad, rate, key(grad, rate));
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
        checkGradient(grad);
        Checks.probabilityBelowOne("rate", rate);
        return rate == 0.0 ? grad : dropInPlace(grad, rate, key(grad, rate));
    }

    /** A dense floating-point tensor, or an {@link IllegalArgumentException} saying what it is instead. */
    private static void checkGradient(Tensor grad) {
        Checks.notNull("grad", grad);
        if (!grad.defined()) {
            throw new IllegalArgumentException("grad is an undefined tensor");
        }
        if (grad.is_sparse()) {
            throw new IllegalArgumentException("DropGrad supports dense gradients only; grad is sparse");
        }
        if (!grad.is_floating_point()) {
            throw new IllegalArgumentException("grad must be a floating-point tensor, got "
                    + grad.scalar_type().intern());
        }
    }

    /** A CPU hash key when the hash serves this gradient and rate (drawn only then), else 0. */
    private static long key(Tensor grad, double rate) {
        return hashed(grad, rate) ? CpuMasks.subKey(CpuMasks.drawKey(), 0) : 0L;
    }

    /** Whether the CPU hash masks {@code grad} at {@code rate}; otherwise a {@link #keepMask} is drawn. */
    static boolean hashed(TensorBase grad, double rate) {
        return grad.is_cpu() && CpuMasks.hashes(rate);
    }

    /**
     * {@link #drop(Tensor, double)} with the CPU mask of {@code key} (ignored off the CPU, where the mask is
     * drawn from the device's generator). {@code rate} must be in (0, 1).
     */
    static Tensor drop(Tensor grad, double rate, long key) {
        if (!hashed(grad, rate)) {
            return applyMask(grad, keepMask(grad, rate), rate);
        }
        if (CpuMasks.direct(grad)) {
            Tensor out = torch.empty(Tensors.shape(grad), Tensors.options(grad.scalar_type().intern(), grad.device()),
                    new MemoryFormatOptional());
            CpuMasks.drop(grad, out, rate, key);
            return out;
        }
        return applyMask(grad, cpuKeepMask(grad, rate, key), rate);
    }

    /** {@link #dropInPlace(Tensor, double)} with the CPU mask of {@code key}; {@code rate} in (0, 1). */
    static Tensor dropInPlace(Tensor grad, double rate, long key) {
        if (!hashed(grad, rate)) {
            return applyMaskInPlace(grad, keepMask(grad, rate), rate);
        }
        if (CpuMasks.direct(grad)) {
            CpuMasks.drop(grad, grad, rate, key);
            return grad;
        }
        return applyMaskInPlace(grad, cpuKeepMask(grad, rate, key), rate);
    }

    /** The CPU mask of {@code key} in {@code like}'s dtype, for the dtypes and layouts the fast kernel skips. */
    private static Tensor cpuKeepMask(Tensor like, double rate, long key) {
        Tensor keep = CpuMasks.keepMask(Tensors.shape(like), rate, key);
        return keep.scalar_type().intern() == like.scalar_type().intern() ? keep : keep.to(like.scalar_type());
    }

    /**
     * A mask shaped like {@code like}, on its device (CUDA, or the CPU above the hash's highest rate) and in its
     * dtype: 1 (kept) with probability {@code 1 - rate}, else 0. Drawn as float32 uniforms whatever the
     * gradient's dtype, so a seed gives the same mask for float, double and half gradients; compared in
     * place, which costs less than a boolean mask and its promotion in the multiply.
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
