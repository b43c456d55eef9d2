package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;

/**
 * The original DropGrad's form: wraps any libtorch optimizer; {@link #step()} drops the gradients
 * accumulated since the last {@link #zero_grad()}, then steps the wrapped optimizer.
 *
 * <pre>{@code
 * Adam adam = new Adam(net.parameters(), new AdamOptions(1e-3));
 * StepLR schedule = new StepLR(adam, 10, 0.5);              // schedules act on the wrapped optimizer
 * DropGradOptimizer opt = DropGradOptimizer.wrap(adam, 0.1);
 * loss.backward(); opt.step(); opt.zero_grad(); // ... schedule.step() once per epoch
 * }</pre>
 *
 * <p>libtorch's {@link Optimizer} cannot be subclassed from Java, so this is not one: loops written
 * against {@code Optimizer} (such as {@link dev.dropkit.train.Trainer}) use
 * {@link DropGradCallback#masking(DropGrad)} instead, which does the same before each step. Scheduled
 * rates move when {@link DropGrad#update} is called; the wrapper does not count steps itself.
 */
public final class DropGradOptimizer {
    private final Optimizer inner;
    private final DropGrad dropGrad;

    /**
     * Wraps {@code inner} with a configured DropGrad.
     *
     * @throws IllegalArgumentException if a parameter DropGrad acts on is not optimized by {@code inner}
     */
    public DropGradOptimizer(Optimizer inner, DropGrad dropGrad) {
        this.inner = Checks.notNull("optimizer", inner);
        this.dropGrad = Checks.notNull("dropGrad", dropGrad);
        dropGrad.checkTrainedBy(inner, "the wrapped optimizer");
    }

    /** The original's {@code DropGrad(optimizer, drop_rate)}: one rate in [0, 1) for every parameter it optimizes. */
    public static DropGradOptimizer wrap(Optimizer inner, double rate) {
        Checks.notNull("optimizer", inner);
        return new DropGradOptimizer(inner, DropGrad.builder().rate(rate).build(DropGrad.optimizedParameters(inner)));
    }

    /** Drops the accumulated gradients, then steps the wrapped optimizer; returns what its step returns. */
    public Tensor step() {
        dropGrad.apply();
        return inner.step();
    }

    /**
     * Zeroes the gradients: libtorch's default (set to undefined) through the wrapped optimizer, except that
     * where DropGrad keeps a rate group's gradients in one flat buffer (off unless
     * {@code -Ddropkit.dropgrad.flatBuffers=true}) the buffer is
     * zeroed in place and stays every member's {@code .grad}, so the next step masks it with one multiply.
     * Those gradients are then zeros, not undefined, as after PyTorch's {@code zero_grad(set_to_none=False)}.
     */
    public void zero_grad() {
        dropGrad.zeroGrad(inner);
    }

    /**
     * Passes through to the wrapped optimizer. {@code true} undefines every gradient, flat ones too: the next
     * step then masks parameter by parameter, and the next {@link #zero_grad()} restores the flat buffers.
     */
    public void zero_grad(boolean setToNone) {
        inner.zero_grad(setToNone);
    }

    /** The wrapped optimizer: give it to learning-rate schedules, checkpoints and the like. */
    public Optimizer inner() {
        return inner;
    }

    /** The DropGrad configuration it applies. */
    public DropGrad dropGrad() {
        return dropGrad;
    }
}
