package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The functional form of stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV
 * 2016): the output of a {@link ResidualBlock} whose branch is dropped at rate {@code rate}.
 *
 * <p>Random draws come from libtorch's default generators, so {@link dev.dropkit.core.Seeds#seed(long)}
 * (and the trainer's per-epoch reseeding) fixes them. {@link DepthMethod#SAMPLE} draws its mask on the
 * input's device, like torchvision; {@link DepthMethod#BLOCK} and {@link DepthMethod#SAMPLE_FAST} draw on
 * the CPU generator, because the host must know the outcome before it decides what to compute, and a
 * draw on the GPU would make it wait for the GPU.
 */
public final class StochasticDepthOps {
    private StochasticDepthOps() {}

    /**
     * The block's output with its branch dropped at {@code rate}.
     *
     * <p>Training: {@code activateOutput(shortcut + keep * scale * branch)} where {@code keep} is a
     * per-sample ({@code SAMPLE}, {@code SAMPLE_FAST}) or per-batch ({@code BLOCK}) Bernoulli(1 - rate)
     * draw and {@code scale} is {@link DepthScaling#trainScale(double)}. Evaluation:
     * {@code activateOutput(shortcut + (1 - rate) * branch)} ({@link DepthScaling#COMPOSER}) or the plain
     * block ({@link DepthScaling#INVERTED}). With {@code rate == 0} both phases are the plain block.
     *
     * @throws IllegalArgumentException if {@code rate} is outside [0, 1] or an argument is null
     */
    public static Tensor forward(ResidualBlock block, Tensor x, double rate, DepthMethod method,
            DepthScaling scaling, boolean training) {
        Checks.notNull("block", block);
        Checks.notNull("x", x);
        Checks.probability("drop_rate", rate);
        Checks.notNull("method", method);
        Checks.notNull("scaling", scaling);
        if (rate == 0.0) {
            return block.forward(x);
        }
        if (!training) {
            return evaluate(block, x, rate, scaling);
        }
        double scale = scaling.trainScale(rate);
        return switch (method) {
            case SAMPLE -> sampleWise(block, x, keepMask(x.size(0), rate, x.device()), scale);
            case SAMPLE_FAST -> keptOnly(block, x, keepMask(x.size(0), rate, Devices.cpu()), scale);
            case BLOCK -> blockWise(block, x, keepMask(1, rate, Devices.cpu()).item_double() != 0.0, scale);
        };
    }

    /**
     * Evaluation output: {@code activateOutput(shortcut + (1 - rate) * branch)} for
     * {@link DepthScaling#COMPOSER} (the shortcut alone, without computing the branch, when
     * {@code rate == 1}), the plain block for {@link DepthScaling#INVERTED}.
     */
    public static Tensor evaluate(ResidualBlock block, Tensor x, double rate, DepthScaling scaling) {
        Checks.probability("drop_rate", rate);
        if (scaling == DepthScaling.INVERTED || rate == 0.0) {
            return block.forward(x);
        }
        Tensor shortcut = block.shortcut(x);
        if (rate == 1.0) {
            return block.activateOutput(shortcut);
        }
        return block.activateOutput(shortcut.add(block.branch(x).mul(new Scalar(1.0 - rate))));
    }

    /**
     * {@code n} independent Bernoulli(1 - rate) draws as a float tensor on {@code device}: 1 keeps a
     * sample's branch, 0 drops it.
     */
    public static Tensor keepMask(long n, double rate, Device device) {
        Checks.probability("drop_rate", rate);
        Checks.positive("n", n);
        return torch.empty(new long[] {n}, Tensors.options(torch.ScalarType.Float, device), new MemoryFormatOptional())
                .bernoulli_(1.0 - rate, new GeneratorOptional());
    }

    /**
     * Sample-wise stochastic depth with a given mask: the branch runs on the whole batch and is multiplied
     * by {@code keepMask * scale}, broadcast over every dimension but the first.
     *
     * @param keepMask {@code [N]} of 0 and 1 (any device and floating type)
     * @param scale factor for kept branches (1, or {@code 1/(1-rate)} for {@link DepthScaling#INVERTED})
     */
    public static Tensor sampleWise(ResidualBlock block, Tensor x, Tensor keepMask, double scale) {
        Tensor shortcut = block.shortcut(x);
        Tensor branch = block.branch(x);
        long[] shape = new long[(int) branch.dim()];
        java.util.Arrays.fill(shape, 1);
        shape[0] = checkMask(keepMask, x);
        Tensor mask = keepMask.to(branch.device(), branch.scalar_type()).view(shape);
        if (scale != 1.0) {
            mask = mask.mul(new Scalar(scale));
        }
        return block.activateOutput(shortcut.add(branch.mul(mask)));
    }

    /**
     * Sample-wise stochastic depth that computes the branch only for the kept samples: their rows are
     * gathered ({@code index_select}), the branch runs on them, and the result, times {@code scale}, is
     * added into the shortcut's rows ({@code index_add}). No sample kept: the branch is not run. Every
     * sample kept: the plain (scaled) block. The output equals {@link #sampleWise}'s when the branch treats
     * samples independently; a BatchNorm in the branch computes its batch statistics over the kept
     * samples only. The mask is read on the host: pass a CPU mask to avoid waiting for a GPU.
     */
    public static Tensor keptOnly(ResidualBlock block, Tensor x, Tensor keepMask, double scale) {
        long n = checkMask(keepMask, x);
        float[] keep = Tensors.toFloatArray(keepMask);
        long[] kept = new long[(int) n];
        int count = 0;
        for (int i = 0; i < keep.length; i++) {
            if (keep[i] != 0f) {
                kept[count++] = i;
            }
        }
        Tensor shortcut = block.shortcut(x);
        if (count == 0) {
            return block.activateOutput(shortcut);
        }
        if (count == n) {
            Tensor branch = block.branch(x);
            return block.activateOutput(shortcut.add(scale == 1.0 ? branch : branch.mul(new Scalar(scale))));
        }
        Tensor index = torch.tensor(java.util.Arrays.copyOf(kept, count)).to(x.device(), torch.ScalarType.Long);
        Tensor branch = block.branch(x.index_select(0, index));
        if (scale != 1.0) {
            branch = branch.mul(new Scalar(scale));
        }
        return block.activateOutput(shortcut.index_add(0, index, branch));
    }

    /**
     * Block-wise stochastic depth with a given decision: the block (kept branch times {@code scale}) or,
     * when dropped, {@code activateOutput(shortcut)} without running the branch.
     */
    public static Tensor blockWise(ResidualBlock block, Tensor x, boolean keep, double scale) {
        Tensor shortcut = block.shortcut(x);
        if (!keep) {
            return block.activateOutput(shortcut);
        }
        Tensor branch = block.branch(x);
        return block.activateOutput(shortcut.add(scale == 1.0 ? branch : branch.mul(new Scalar(scale))));
    }

    private static long checkMask(Tensor keepMask, Tensor x) {
        Checks.notNull("keepMask", keepMask);
        if (keepMask.dim() != 1 || keepMask.size(0) != x.size(0)) {
            throw new IllegalArgumentException("keepMask must have shape [" + x.size(0) + "] (one entry per sample),"
                    + " got " + java.util.Arrays.toString(Tensors.shape(keepMask)));
        }
        return x.size(0);
    }
}
