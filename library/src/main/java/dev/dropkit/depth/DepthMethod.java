package dev.dropkit.depth;

import dev.dropkit.core.NamedEnum;

/** How {@link StochasticDepth} drops a residual branch during training (Composer's {@code stochastic_method}). */
public enum DepthMethod implements NamedEnum {
    /**
     * Each sample keeps its branch with probability {@code 1 - rate}: a per-sample Bernoulli vector,
     * broadcast over the other dimensions, multiplied into the branch output. The branch is computed for
     * the whole batch, so this costs a little more than no stochastic depth. Composer's {@code "sample"}.
     */
    SAMPLE,
    /**
     * The whole batch keeps or drops the branch together, with probability {@code 1 - rate}; a dropped
     * branch is not computed at all. Huang et al.'s original form, and Composer's {@code "block"}.
     */
    BLOCK,
    /**
     * {@link #SAMPLE} that computes the branch only for the kept samples (gathers their rows, runs the
     * branch, adds the result into the shortcut's rows). On the CPU it can be faster than no stochastic
     * depth. The output is the same as {@link #SAMPLE}'s for branches without batch statistics; a BatchNorm
     * inside the branch sees only the kept samples, so its batch statistics (and running statistics) are
     * computed over those. On the CPU its branches see a different batch size at almost every step, so oneDNN
     * compiles a convolution kernel per size: raise {@code ONEDNN_PRIMITIVE_CACHE_CAPACITY} (e.g. to 16384) so
     * they stay cached.
     *
     * @deprecated It cannot win on a GPU: the kept rows' count decides the shape of the gathered batch, so
     *     the host must know it before it queues the branch. Drawn on the GPU, that count is a synchronization
     *     per block and step; drawn on the host, the mask or the index must be copied in per block. Either
     *     way the GPU waits or launches more than the branch it saves (measured 2.6x and 3.3x a plain step at
     *     rates 0.2 and 0.5 on an H200, issue 16), and the varying batch size defeats cached kernels. On CUDA
     *     it therefore runs as {@link #SAMPLE}, with a one-time warning; on the CPU it keeps its behaviour. It
     *     still parses, so configurations that name it keep working. Use {@link #SAMPLE}.
     */
    @Deprecated
    SAMPLE_FAST;

    /**
     * Parses {@code sample}, {@code block} or {@code sample_fast} (see {@link NamedEnum#parse}: case and
     * {@code -}/{@code _} ignored).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DepthMethod parse(String value) {
        return NamedEnum.parse(DepthMethod.class, "stochastic_method", value);
    }
}
