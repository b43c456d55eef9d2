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
 *
 * <p>Inside, {@code DropGrad} is a facade over the resolved rules ({@code DropGradRules}), the parameters
 * grouped by rate ({@code RateGroups}), one round's random draw ({@code RoundDraw}, shared by the hooks
 * through {@code HookRound}) and the wrapper's flat gradient buffers ({@code FlatGradients}), which let a
 * CUDA step mask each rate group with one multiply.
 */
package dev.dropkit.dropgrad;
