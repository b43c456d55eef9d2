/**
 * Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016): residual branches
 * dropped at random during training, per sample or per block, with Composer's or timm's scaling.
 *
 * <ul>
 *   <li>{@link dev.dropkit.depth.ResidualBlock}: a block as branch + shortcut (+ activation), the one thing
 *       stochastic depth needs from a model; ResNet's blocks, which implement it, are in
 *       {@code dev.dropkit.models}.</li>
 *   <li>{@link dev.dropkit.depth.StochasticDepthOps}: the tensor ops {@code dropPath} and {@code dropPathAdd}
 *       (torchvision's {@code stochastic_depth}, timm's {@code drop_path}; sample-wise decisions drawn on the
 *       tensor's device, no host synchronization) and the block-level op built on them;
 *       {@link dev.dropkit.depth.StochasticDepth}: the module that wraps any residual block without renaming its
 *       parameters.</li>
 *   <li>{@link dev.dropkit.depth.StochasticDepthSurgery}: wraps the target blocks of a model in place, with
 *       per-block rates from the {@link dev.dropkit.depth.DropDistribution}; options in
 *       {@link dev.dropkit.depth.StochasticDepthOptions}; {@link dev.dropkit.depth.StochasticDepthCallback}
 *       drives the warm-up from the training loop.</li>
 * </ul>
 *
 * <p>Methods: {@link dev.dropkit.depth.DepthMethod#SAMPLE} (Composer's "sample"),
 * {@link dev.dropkit.depth.DepthMethod#BLOCK} (the paper's, "block") and the deprecated
 * {@link dev.dropkit.depth.DepthMethod#SAMPLE_FAST}, which runs the branch on the kept samples only on the CPU
 * (BatchNorm statistics then come from those samples) and runs as sample on CUDA, where gathering the kept
 * rows would cost a host synchronization per block and step.
 */
package dev.dropkit.depth;
