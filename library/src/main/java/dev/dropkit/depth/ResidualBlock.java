package dev.dropkit.depth;

import org.bytedeco.pytorch.Tensor;

/**
 * A residual block split into the parts stochastic depth needs to tell apart: the
 * {@linkplain #branch(Tensor) branch} it may drop, the {@linkplain #shortcut(Tensor) shortcut} it always
 * keeps, and the {@linkplain #activateOutput(Tensor) activation} applied after the two are added.
 *
 * <p>{@code forward(x) = activateOutput(shortcut(x) + branch(x))}. ResNet's blocks apply ReLU after the
 * addition, so they override {@link #activateOutput}; pre-activation and transformer-style blocks keep the
 * identity. A dropped branch therefore gives {@code activateOutput(shortcut(x))}, exactly.
 *
 * <p>Implementations are {@link org.bytedeco.pytorch.Module}s whose parts are registered children. They
 * must not read their own {@code is_training()}: once wrapped by {@link StochasticDepth} only their
 * registered children follow {@code train()}/{@code eval()} (see {@link StochasticDepth}).
 */
public interface ResidualBlock {
    /** The residual branch ({@code F(x)}): what stochastic depth drops. */
    Tensor branch(Tensor x);

    /** The shortcut: the input itself, or a projection when the shape changes. */
    Tensor shortcut(Tensor x);

    /**
     * Whether a {@link #shortcut} that is not the input itself is a fresh tensor that only the caller holds
     * and that no backward reads (a convolution + BatchNorm projection), so that stochastic depth's fast mode
     * may add the kept rows into it in place instead of cloning it. False by default.
     */
    default boolean projectionIsPrivate() {
        return false;
    }

    /**
     * Applied to {@code shortcut + branch} (or to the shortcut alone when the branch is dropped). Must not
     * modify its argument in place: it may be the block's input. Identity by default.
     */
    default Tensor activateOutput(Tensor sum) {
        return sum;
    }

    /**
     * {@link #activateOutput} of a sum that nothing else references: a fresh tensor whose producer's backward
     * reads neither it nor its inputs (stochastic depth's fast mode passes the result of an {@code index_add}),
     * so an implementation may work in place and save an allocation. Must give the same values and gradients
     * as {@link #activateOutput}, which is what the default calls.
     */
    default Tensor activateOwnedOutput(Tensor sum) {
        return activateOutput(sum);
    }

    /** The block's full output, {@code activateOutput(shortcut(x) + branch(x))}. */
    default Tensor forward(Tensor x) {
        return activateOutput(shortcut(x).add(branch(x)));
    }
}
