/**
 * DropGrad (dingo-actual, github.com/dingo-actual/dropgrad): before each optimizer step every element of
 * a parameter's gradient is zeroed with probability {@code drop_rate} and the survivors are divided by
 * {@code 1 - drop_rate}, so the expected gradient is unchanged.
 *
 * <p>The op is {@link dev.dropkit.dropgrad.DropGradOps}; {@link dev.dropkit.dropgrad.DropGrad} holds the
 * per-parameter rates (a default, name patterns, single tensors; constant or scheduled) and applies the
 * op through gradient hooks ({@link dev.dropkit.dropgrad.DropGradHooks}), an optimizer wrapper
 * ({@link dev.dropkit.dropgrad.DropGradOptimizer}) or the training loop's
 * {@link dev.dropkit.dropgrad.DropGradCallback}. {@link dev.dropkit.dropgrad.DropGradMode#FULL_UPDATE}
 * drops whole parameter updates instead of elements.
 */
package dev.dropkit.dropgrad;
