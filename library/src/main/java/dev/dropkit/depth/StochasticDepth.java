package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Modules;
import java.lang.ref.Reference;
import java.util.Locale;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A residual block whose branch is dropped at random during training: stochastic depth (Huang et al.,
 * "Deep Networks with Stochastic Depth", ECCV 2016) around any {@link ResidualBlock}. A thin module around
 * {@link StochasticDepthOps#forward}; it follows its own training flag ({@code train()}/{@code eval()} on
 * it or any parent).
 *
 * <pre>{@code
 * var sd = new StochasticDepth(new Bottleneck(64, 16, 1), 0.1);                        // sample-wise, Composer
 * var timm = new StochasticDepth(block, 0.1, DepthMethod.SAMPLE, DepthScaling.INVERTED); // DropPath
 * }</pre>
 *
 * <p><b>Names stay put.</b> The wrapper does not register the block as a child (that would rename
 * {@code layer1.0.conv1.weight} to {@code layer1.0.block.conv1.weight} and break every checkpoint).
 * It registers the block's own children under their own names instead: the same native modules, so
 * parameter and buffer names (BatchNorm running statistics included), {@code to()}, {@code train()} and
 * checkpoints are exactly those of the unwrapped block. It keeps a Java reference to the block, which
 * keeps those children alive (see native-notes), and calls the block's {@code branch}/{@code shortcut}.
 *
 * <p><b>Consequence.</b> The wrapped block itself is no longer in the module tree, so {@code train()} and
 * {@code eval()} on the model reach its children but not the block object: a block must not read its
 * own {@code is_training()} (the ResNet blocks do not). For the same reason surgery that runs after this
 * one cannot swap modules inside a wrapped block (it reports them as not held by a Java field): apply
 * dropout swaps before stochastic depth.
 *
 * <p>The drop rate can change during training ({@link #setRate(double)}; {@link StochasticDepthCallback}
 * does so for warm-ups); {@link #targetRate()} is the rate it was created with.
 */
public final class StochasticDepth extends Module implements ResidualBlock {
    private final Module block;
    private final ResidualBlock residual;
    private final double targetRate;
    private final DepthMethod method;
    private final DepthScaling scaling;
    private volatile double rate;

    /** Sample-wise stochastic depth with Composer's scaling. */
    public StochasticDepth(Module block, double rate) {
        this(block, rate, DepthMethod.SAMPLE, DepthScaling.COMPOSER);
    }

    /**
     * Wraps {@code block}.
     *
     * @param block a {@link Module} implementing {@link ResidualBlock}, not itself a {@code StochasticDepth}
     * @param rate drop rate in [0, 1]
     * @param method sample-wise, block-wise or fast sample-wise
     * @param scaling where the {@code 1 - rate} correction goes
     * @throws IllegalArgumentException if the block is not a residual block or is already wrapped, or
     *     the rate is outside [0, 1] (NaN included)
     */
    public StochasticDepth(Module block, double rate, DepthMethod method, DepthScaling scaling) {
        super("StochasticDepth");
        Checks.notNull("block", block);
        if (block instanceof StochasticDepth) {
            throw new IllegalArgumentException("block is already wrapped: " + block);
        }
        if (!(block instanceof ResidualBlock r)) {
            throw new IllegalArgumentException("block must implement ResidualBlock, got " + block.getClass().getName());
        }
        this.targetRate = Checks.probability("drop_rate", rate);
        this.rate = rate;
        this.method = Checks.notNull("method", method);
        this.scaling = Checks.notNull("scaling", scaling);
        this.block = block;
        this.residual = r;
        // The block's children, parameters and buffers, under their own names: the same native modules and
        // tensors, so names, optimizers and checkpoints see the wrapped model as they saw the plain one.
        Modules.namedChildren(block).forEach(this::register_module);
        var ownParameters = block.named_parameters(false);
        for (long i = 0; i < ownParameters.size(); i++) {
            var item = ownParameters.get(i);
            Tensor p = item.value();
            register_parameter(item.key().getString(), p, p.requires_grad());
        }
        var ownBuffers = block.named_buffers(false);
        for (long i = 0; i < ownBuffers.size(); i++) {
            var item = ownBuffers.get(i);
            register_buffer(item.key().getString(), item.value());
        }
        Reference.reachabilityFence(ownParameters); // their items are views until registered
        Reference.reachabilityFence(ownBuffers);
    }

    /** Applies stochastic depth according to this module's training flag and current rate. */
    @Override
    public Tensor forward(Tensor x) {
        return StochasticDepthOps.forward(residual, x, rate, method, scaling, is_training());
    }

    /** The wrapped block's branch, never dropped (for analysis and tests). */
    @Override
    public Tensor branch(Tensor x) {
        return residual.branch(x);
    }

    /** The wrapped block's shortcut. */
    @Override
    public Tensor shortcut(Tensor x) {
        return residual.shortcut(x);
    }

    /** The wrapped block's answer. */
    @Override
    public boolean projectionIsPrivate() {
        return residual.projectionIsPrivate();
    }

    /** The wrapped block's activation after the addition. */
    @Override
    public Tensor activateOutput(Tensor sum) {
        return residual.activateOutput(sum);
    }

    /** The wrapped block's activation of a sum only the caller holds (in place where the block allows). */
    @Override
    public Tensor activateOwnedOutput(Tensor sum) {
        return residual.activateOwnedOutput(sum);
    }

    /** The wrapped block (the Java object, whose class surgery targets matched). */
    public Module block() {
        return block;
    }

    /** The drop rate used now (below {@link #targetRate()} during a warm-up). */
    public double rate() {
        return rate;
    }

    /** The rate this block was given: by the caller, or by the drop distribution during surgery. */
    public double targetRate() {
        return targetRate;
    }

    /**
     * Sets the rate used from now on (warm-ups, schedules).
     *
     * @throws IllegalArgumentException if it is outside [0, 1] or NaN
     */
    public void setRate(double rate) {
        this.rate = Checks.probability("drop_rate", rate);
    }

    /** How the branch is dropped. */
    public DepthMethod method() {
        return method;
    }

    /** Where the {@code 1 - rate} correction goes. */
    public DepthScaling scaling() {
        return scaling;
    }

    @Override
    public String toString() {
        String r = rate == targetRate ? fmt(rate) : fmt(rate) + " (target " + fmt(targetRate) + ")";
        return "StochasticDepth(rate=" + r + ", method=" + method.id() + ", scaling=" + scaling.id() + " ["
                + scaling.summary() + "], block=" + block + ")";
    }

    private static String fmt(double v) {
        String s = String.format(Locale.ROOT, "%.6g", v);
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", ".0") : s;
    }
}
