/**
 * Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016): residual branches
 * dropped at random during training, per sample or per block, with Composer's or timm's scaling.
 *
 * <ul>
 *   <li>{@link dev.dropkit.depth.ResidualBlock}: a block as branch + shortcut (+ activation), the one thing
 *       stochastic depth needs from a model; ResNet's blocks, which implement it, are in
 *       {@code dev.dropkit.models}.</li>
 *   <li>{@link dev.dropkit.depth.StochasticDepthOps}: the functional op; {@link dev.dropkit.depth.StochasticDepth}:
 *       the module that wraps any residual block without renaming its parameters.</li>
 *   <li>{@link dev.dropkit.depth.StochasticDepthSurgery}: wraps the target blocks of a model in place, with
 *       per-block rates from the {@link dev.dropkit.depth.DropDistribution}; options in
 *       {@link dev.dropkit.depth.StochasticDepthOptions}; {@link dev.dropkit.depth.StochasticDepthCallback}
 *       drives the warm-up from the training loop.</li>
 * </ul>
 *
 * <p>Methods: {@link dev.dropkit.depth.DepthMethod#SAMPLE} (Composer's "sample"),
 * {@link dev.dropkit.depth.DepthMethod#BLOCK} (the paper's, "block") and the opt-in
 * {@link dev.dropkit.depth.DepthMethod#SAMPLE_FAST}, which runs the branch on the kept samples only and is
 * faster than no stochastic depth, at the price of BatchNorm statistics computed over those samples.
 */
package dev.dropkit.depth;
