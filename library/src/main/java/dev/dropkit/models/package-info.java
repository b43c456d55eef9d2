/**
 * Networks to train and regularize: {@link dev.dropkit.models.ResNet} (ResNet-18/34/50 with torchvision's
 * layouts and parameter names, and narrow versions for 28x28/32x32 images), built from
 * {@link dev.dropkit.models.BasicBlock}s or {@link dev.dropkit.models.Bottleneck}s, the two
 * {@link dev.dropkit.models.ResNetBlock}s.
 *
 * <p>The models live apart from the regularizers so that those stay model-agnostic: the blocks implement
 * {@link dev.dropkit.depth.ResidualBlock}, which is all stochastic depth needs, and this package depends on
 * {@code dev.dropkit.depth}, never the other way round.
 */
package dev.dropkit.models;
