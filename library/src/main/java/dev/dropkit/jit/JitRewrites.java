package dev.dropkit.jit;

import dev.dropkit.core.Checks;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.gyro.GyroDropoutOptions;
import java.util.List;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.JitModule;

/**
 * Adds dropkit's regularizers to TorchScript models exported from Python, in place, at the graph
 * level. Each rewrite writes its logic as TorchScript methods of the affected module classes and its
 * state as their attributes and buffers, so the saved archive keeps regularizing when trained again
 * in dropkit, in C++ or in Python PyTorch. In evaluation the rewritten model computes exactly what the
 * original did (for inverted modes).
 *
 * <pre>{@code
 * JitModule model = JitModels.load(Path.of("resnet.pt"), Devices.cpu());
 * JitRewriteReport r = JitRewrites.stochasticDepth(model, StochasticDepthOptions.builder()
 *         .dropRate(0.1).distribution("linear").method("sample").build());
 * model.save("resnet-sd.pt");
 * }</pre>
 *
 * <p>Rewrite a model before its first forward: libtorch caches an execution plan per method, and a
 * module that already ran may keep using it. Rewrites are not idempotent: a second Gyro Dropout rewrite
 * finds no dropout left (its calls are now dropkit methods) and says so. A rewrite that throws may
 * leave the model partly changed (attributes registered, some classes rewritten): reload it before
 * trying again; {@code dropkit jit rewrite} writes nothing in that case.
 */
public final class JitRewrites {
    private JitRewrites() {}

    /** Every dropout call becomes Gyro Dropout with {@code options}' p (see the full overload). */
    public static JitRewriteReport gyroDropout(JitModule model, GyroDropoutOptions options) {
        return gyroDropout(model, options, false, null);
    }

    /**
     * Replaces dropout calls by Gyro Dropout. Alpha dropout is left alone (reported as skipped).
     *
     * @param options sigma, tau, p and the run's length: {@code itersPerEpoch} and {@code maxEpoch} must
     *     be set, because the code in the archive re-draws the active sub-networks on its own
     * @param keepEachP use each call's own drop probability instead of {@code options.p()}
     * @param modules only calls in modules whose dotted path matches (null: all)
     * @throws IllegalArgumentException if the run's length is not set
     * @throws JitRewriteException if the model has no dropout to rewrite
     */
    public static JitRewriteReport gyroDropout(JitModule model, GyroDropoutOptions options, boolean keepEachP,
            Pattern modules) {
        Checks.notNull("model", model);
        Checks.notNull("options", options);
        if (options.itersPerEpoch() <= 0 || options.maxEpoch() <= 0) {
            throw new IllegalArgumentException("Gyro Dropout in a TorchScript model needs the run's length, which sets"
                    + " how often its active sub-networks change: set itersPerEpoch and maxEpoch in the options"
                    + " (got itersPerEpoch=" + options.itersPerEpoch() + ", maxEpoch=" + options.maxEpoch() + ")");
        }
        GyroRewrite rewrite = new GyroRewrite(options, keepEachP);
        String settings = options.settings(keepEachP ? "each call's" : Double.toString(options.p()),
                options.itersPerEpoch(), options.maxEpoch(), rewrite.iterNum())
                + (modules == null ? "" : ", modules=" + modules.pattern());
        return DropoutSites.apply(model, modules, rewrite, "gyro-dropout", settings, List.of(
                "masks are drawn on the first training call, from the global generator (torch.manual_seed)",
                "the active sub-networks change every iterNum training calls of each rewritten call site",
                "evaluation is the identity, as before"));
    }

    /**
     * Sets a new drop probability on every dropout call, or switches them to the classic form.
     *
     * @param p the new probability in [0, 1], or NaN to keep each call's own
     * @param mode {@link DropoutMode#INVERTED} (PyTorch's) or {@link DropoutMode#CLASSIC} (no scaling in
     *     training, {@code x * (1-p)} in evaluation, so evaluation output changes)
     * @param modules only calls in modules whose dotted path matches (null: all)
     * @throws IllegalArgumentException for a probability outside [0, 1], or NaN with inverted mode (nothing to do)
     * @throws JitRewriteException if the model has no dropout to rewrite
     */
    public static JitRewriteReport dropout(JitModule model, double p, DropoutMode mode, Pattern modules) {
        Checks.notNull("model", model);
        Checks.notNull("mode", mode);
        if (!Double.isNaN(p)) {
            Checks.probability("p", p);
        } else if (mode == DropoutMode.INVERTED) {
            throw new IllegalArgumentException("a dropout rewrite needs a new p or mode=classic; got neither");
        }
        String settings = (Double.isNaN(p) ? "p=each call's" : "p=" + p) + ", mode=" + mode.id()
                + (modules == null ? "" : ", modules=" + modules.pattern());
        return DropoutSites.apply(model, modules, new DropoutRateRewrite(p, mode), "dropout", settings, List.of(
                mode == DropoutMode.CLASSIC ? "classic: training masks without scaling, evaluation multiplies by 1-p"
                        : "inverted: evaluation is the identity, as before"));
    }

    /** Stochastic depth on torchvision's {@code BasicBlock}/{@code Bottleneck}, no warm-up. */
    public static JitRewriteReport stochasticDepth(JitModule model, StochasticDepthOptions options) {
        return stochasticDepth(model, options, JitInspector.DEFAULT_BLOCKS, 0);
    }

    /**
     * Drops the residual branch of every block whose unmangled type name matches {@code blocks}, with
     * per-block rates from the options' distribution over block order (the module tree's order). A model
     * that already holds {@code torchvision.ops.StochasticDepth} modules gets those retuned instead.
     *
     * @param warmupSteps training calls over which each block's rate ramps from 0 to its target (0: none);
     *     the archive counts them itself, so the warm-up is in steps, not a fraction of the run
     * @throws IllegalArgumentException if the options ask for a warm-up fraction (use {@code warmupSteps}),
     *     or {@code warmupSteps} is negative
     * @throws JitRewriteException if no block matches or no matched block has a recognizable residual addition
     */
    public static JitRewriteReport stochasticDepth(JitModule model, StochasticDepthOptions options, Pattern blocks,
            long warmupSteps) {
        Checks.notNull("model", model);
        Checks.notNull("options", options);
        Checks.notNull("blocks", blocks);
        Checks.nonNegative("warmupSteps", warmupSteps);
        if (options.warmup() > 0) {
            throw new IllegalArgumentException("a TorchScript model counts its own steps, so give the warm-up as"
                    + " warmupSteps instead of a fraction of training (got warmup=" + options.warmup() + ")");
        }
        return DepthRewrite.apply(model, options, blocks, warmupSteps);
    }
}
