package dev.dropkit.dropout;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The functional form of dropout. Random masks come from libtorch's default generator on the input's
 * device, so {@link dev.dropkit.core.Seeds#seed(long)} makes them reproducible.
 */
public final class DropoutOps {
    private DropoutOps() {}

    /** Inverted dropout with drop probability {@code p}; see {@link #dropout(Tensor, double, DropoutMode, boolean)}. */
    public static Tensor dropout(Tensor input, double p, boolean training) {
        return dropout(input, p, DropoutMode.INVERTED, training);
    }

    /**
     * Zeroes each element of {@code input} with probability {@code p} during training.
     *
     * <p>Inverted mode delegates to libtorch's own {@code dropout} (the fused {@code native_dropout}
     * kernel on CUDA), so it costs what PyTorch costs. Classic mode multiplies by a Bernoulli(1-p)
     * mask in training and by {@code 1-p} in evaluation. With {@code p == 0} both modes return the input
     * itself; with {@code p == 1} training returns zeros (and zero gradients).
     *
     * @param input any floating-point tensor, on any device
     * @param p drop probability in [0, 1]
     * @param mode where the {@code 1/(1-p)} correction goes
     * @param training whether to drop (training) or pass through (evaluation)
     * @return a new tensor, or {@code input} itself where the result is the identity
     * @throws IllegalArgumentException if {@code p} is outside [0, 1] or not finite
     */
    public static Tensor dropout(Tensor input, double p, DropoutMode mode, boolean training) {
        return dropout(input, p, mode, training, false);
    }

    /**
     * Dropout whose mask is drawn once per feature and shared by every sample of the batch (dimension 0),
     * as the Dropout notebook's {@code Dropout1D} does: a dropped feature is dropped for the whole batch.
     * With {@code sharedAcrossBatch == false} this is {@link #dropout(Tensor, double, DropoutMode, boolean)}.
     *
     * @throws IllegalArgumentException as the four-argument form, or for a shared mask on a 0-dimensional input
     */
    public static Tensor dropout(Tensor input, double p, DropoutMode mode, boolean training, boolean sharedAcrossBatch) {
        Checks.probability("p", p);
        Checks.notNull("mode", mode);
        Checks.notNull("input", input);
        if (!input.defined()) {
            throw new IllegalArgumentException("input is an undefined tensor");
        }
        if (p == 0.0) {
            return input;
        }
        if (sharedAcrossBatch && training && p < 1.0) {
            return input.mul(sharedMask(input, 1.0 - p, mode));
        }
        if (mode == DropoutMode.INVERTED) {
            return training ? torch.dropout(input, p, true) : input;
        }
        double keep = 1.0 - p;
        if (!training) {
            return input.mul(new Scalar(keep));
        }
        if (p == 1.0) {
            return input.mul(new Scalar(0.0));
        }
        // On CUDA a one-byte mask: the multiply reads it and promotes to the input's type in the same kernel,
        // and so does the backward, so fwd+bwd moves about the bytes of libtorch's fused dropout (9 per element
        // each way) instead of 14. On the CPU a mask of the input's type: libtorch's vectorized Bernoulli draw
        // and multiply cover only that case, and a byte mask measured up to 30% slower there.
        Tensor mask = input.is_cuda()
                ? torch.empty_like(input, new TensorOptions(ScalarType.Bool), new MemoryFormatOptional())
                : torch.empty_like(input);
        mask.bernoulli_(keep, new org.bytedeco.pytorch.GeneratorOptional());
        return input.mul(mask);
    }

    /** A Bernoulli({@code keep}) mask of shape [1, rest of input], scaled by 1/keep in inverted mode. */
    private static Tensor sharedMask(Tensor input, double keep, DropoutMode mode) {
        if (input.dim() < 1) {
            throw new IllegalArgumentException("a mask shared across the batch needs a batch dimension, got a "
                    + "0-dimensional input");
        }
        if (input.size(0) == 0) {
            return torch.ones_like(input); // an empty batch: nothing to drop
        }
        // [1, rest of input] on the input's device and dtype, broadcast over the batch by the multiply
        Tensor mask = torch.empty_like(input.narrow(0, 0, 1)).bernoulli_(keep, new org.bytedeco.pytorch.GeneratorOptional());
        return mode == DropoutMode.INVERTED ? mask.div_(new Scalar(keep)) : mask;
    }
}
