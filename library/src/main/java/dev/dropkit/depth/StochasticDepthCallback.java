package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.train.TrainingCallback;
import dev.dropkit.train.TrainingContext;
import java.util.List;
import org.bytedeco.pytorch.Module;

/**
 * Composer's {@code drop_warmup} for the dropkit {@link dev.dropkit.train.Trainer}: before every step,
 * each wrapper's rate is {@code targetRate * min(1, progress / warmup)}, where {@code progress} is
 * {@link TrainingContext#progress()} (steps done over steps in the run). So the rate is 0 at the first
 * step, grows linearly, and is exactly the target from {@code progress >= warmup} on. With
 * {@code warmup == 0} every rate is its target from the start.
 *
 * <pre>{@code
 * StochasticDepthSurgery.apply(net, options);
 * Trainer.builder(model).callback(StochasticDepthCallback.forModel(net, options)) ...
 * }</pre>
 */
public final class StochasticDepthCallback implements TrainingCallback {
    private final List<StochasticDepth> wrappers;
    private final double warmup;

    /**
     * @param wrappers the blocks whose rates it drives
     * @param warmup {@code drop_warmup}: fraction of training in [0, 1] over which rates ramp up
     * @throws IllegalArgumentException if {@code warmup} is outside [0, 1] or the list is empty
     */
    public StochasticDepthCallback(List<StochasticDepth> wrappers, double warmup) {
        Checks.notNull("wrappers", wrappers);
        if (wrappers.isEmpty()) {
            throw new IllegalArgumentException("wrappers must not be empty; apply StochasticDepthSurgery first");
        }
        this.wrappers = List.copyOf(wrappers);
        this.warmup = Checks.probability("drop_warmup", warmup);
    }

    /** Drives every {@link StochasticDepth} in {@code model} with {@code options.warmup()}. */
    public static StochasticDepthCallback forModel(Module model, StochasticDepthOptions options) {
        return new StochasticDepthCallback(StochasticDepthSurgery.wrappers(model), options.warmup());
    }

    /**
     * The fraction of its target rate a block uses at {@code progress}: {@code min(1, progress / warmup)},
     * or 1 without a warm-up.
     */
    public static double warmupFactor(double progress, double warmup) {
        Checks.probability("progress", progress);
        Checks.probability("drop_warmup", warmup);
        return warmup == 0.0 ? 1.0 : Math.min(1.0, progress / warmup);
    }

    /** Sets every wrapper's rate for training progress {@code progress} in [0, 1]. */
    public void update(double progress) {
        double factor = warmupFactor(progress, warmup);
        for (StochasticDepth sd : wrappers) {
            sd.setRate(factor == 1.0 ? sd.targetRate() : sd.targetRate() * factor);
        }
    }

    @Override
    public void onTrainBegin(TrainingContext context) {
        update(context.progress());
    }

    @Override
    public void onBatchBegin(TrainingContext context) {
        update(context.progress());
    }

    /** The blocks it drives, in block order. */
    public List<StochasticDepth> wrappers() {
        return wrappers;
    }

    /** {@code drop_warmup}. */
    public double warmup() {
        return warmup;
    }

    @Override
    public String toString() {
        return "StochasticDepthCallback(blocks=" + wrappers.size() + ", drop_warmup=" + warmup + ")";
    }
}
