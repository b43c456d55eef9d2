package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Tensors;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The functional form of stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV
 * 2016): the output of a {@link ResidualBlock} whose branch is dropped at rate {@code rate}.
 *
 * <p>Every keep/drop decision is drawn from libtorch's default CPU generator, whatever the device:
 * the host must know the outcome before it decides what to compute (skip a dropped block, gather the
 * kept rows, skip the mask when every sample is kept), and a draw on the GPU would make it wait for the
 * GPU. {@link dev.dropkit.core.Seeds#seed(long)} (and the trainer's per-epoch reseeding) fixes the draws,
 * and the same seed drops the same samples on the CPU and on CUDA. Masks bound for a GPU are drawn into
 * pinned memory and copied without blocking.
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
        if (rate == 0.0 || x.size(0) == 0) { // an empty batch has no sample to drop
            return block.forward(x);
        }
        if (!training) {
            return evaluate(block, x, rate, scaling);
        }
        double scale = scaling.trainScale(rate);
        return switch (method) {
            case SAMPLE -> sampleWise(block, x, hostMask(x.size(0), rate, x.device()), scale);
            case SAMPLE_FAST -> keptOnly(block, x, hostMask(x.size(0), rate, x.device()), scale);
            case BLOCK -> blockWise(block, x, keepMask(1, rate).item_double() != 0.0, scale);
        };
    }

    /**
     * Evaluation output: {@code activateOutput(shortcut + (1 - rate) * branch)} for
     * {@link DepthScaling#COMPOSER} (the shortcut alone, without computing the branch, when
     * {@code rate == 1}), the plain block for {@link DepthScaling#INVERTED}.
     */
    public static Tensor evaluate(ResidualBlock block, Tensor x, double rate, DepthScaling scaling) {
        Checks.notNull("block", block);
        Checks.notNull("x", x);
        Checks.notNull("scaling", scaling);
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
     * {@code n} independent Bernoulli(1 - rate) draws from libtorch's default CPU generator, as a float CPU
     * tensor: 1 keeps a sample's branch, 0 drops it.
     */
    public static Tensor keepMask(long n, double rate) {
        return hostMask(n, rate, new Device(torch.DeviceType.CPU));
    }

    /**
     * Sample-wise stochastic depth with a given mask: {@code activateOutput(shortcut + scale * keep * branch)}
     * with {@code keep} broadcast over every dimension but the first (one fused {@code addcmul}). The branch
     * runs on the whole batch, so its BatchNorms see every sample. When a CPU mask keeps every sample the
     * mask is skipped (same result, one pass less).
     *
     * @param keepMask {@code [N]} of 0 and 1 (float; on the CPU, or on the input's device; a CPU mask is
     *     checked, a CUDA mask is not, since reading it would wait for the GPU)
     * @param scale factor for kept branches (1, or {@code 1/(1-rate)} for {@link DepthScaling#INVERTED})
     * @throws IllegalArgumentException if the mask's shape is not {@code [N]}, a CPU mask holds a value
     *     other than 0 and 1, or {@code scale} is not finite and positive
     */
    public static Tensor sampleWise(ResidualBlock block, Tensor x, Tensor keepMask, double scale) {
        checkMask(keepMask, x, scale);
        if (!keepMask.is_cuda() && countKept(keepMask, null) == keepMask.size(0)) {
            return scaledBlock(block, x, scale);
        }
        Tensor shortcut = block.shortcut(x);
        Tensor branch = block.branch(x);
        long[] shape = new long[(int) branch.dim()];
        Arrays.fill(shape, 1);
        shape[0] = keepMask.size(0);
        Tensor mask = onDevice(keepMask, branch.device(), branch.scalar_type()).view(shape);
        return block.activateOutput(shortcut.addcmul(branch, mask, new Scalar(scale)));
    }

    /**
     * Sample-wise stochastic depth that computes the branch only for the kept samples: their rows are
     * gathered ({@code index_select}), the branch runs on them, and the result, times {@code scale}, is
     * added into the shortcut's rows ({@code index_add}; in place into a projection shortcut that
     * {@link ResidualBlock#projectionIsPrivate is private}), and the sum is activated with
     * {@link ResidualBlock#activateOwnedOutput} (in place for those blocks). No sample kept: the branch is not
     * run. Every sample kept: the plain (scaled) block. Exactly one kept: {@link #sampleWise} (a BatchNorm cannot
     * normalize a single 1x1 sample). The output equals {@link #sampleWise}'s when the branch treats samples
     * independently; a BatchNorm in the branch computes its batch statistics (and updates its running
     * statistics) over the kept samples only. The mask is read on the host: pass a CPU mask.
     *
     * @throws IllegalArgumentException if the mask's shape is not {@code [N]}, it holds a value other than 0
     *     and 1, or {@code scale} is not finite and positive
     */
    public static Tensor keptOnly(ResidualBlock block, Tensor x, Tensor keepMask, double scale) {
        long n = checkMask(keepMask, x, scale);
        long[] kept = new long[(int) n];
        int count = countKept(keepMask, kept);
        if (count == n) {
            return scaledBlock(block, x, scale);
        }
        if (count == 1) {
            // A BatchNorm in the branch cannot normalize one sample of 1x1 features in training mode; one kept
            // sample is rare (tiny batches, high rates), so the branch runs on the batch and is masked instead.
            return sampleWise(block, x, keepMask, scale);
        }
        Tensor shortcut = block.shortcut(x);
        if (count == 0) {
            return block.activateOutput(shortcut);
        }
        Tensor index = indexOn(Arrays.copyOf(kept, count), x.device());
        Tensor branch = block.branch(x.index_select(0, index));
        // A private projection (see ResidualBlock.projectionIsPrivate): add into it instead of cloning it.
        boolean ownShortcut = shortcut != x && block.projectionIsPrivate();
        if (scale != 1.0) {
            // A separate multiply, not index_add's alpha: the rows then equal sampleWise's addcmul bit for bit.
            branch = branch.mul(new Scalar(scale));
        }
        Tensor sum = ownShortcut ? shortcut.index_add_(0, index, branch) : shortcut.index_add(0, index, branch);
        // The sum is a new tensor that nothing else reads (index_add's backward reads neither its input nor
        // its output): the block may activate it in place, which saves a full-size allocation.
        return block.activateOwnedOutput(sum);
    }

    /**
     * Block-wise stochastic depth with a given decision: the block (kept branch times {@code scale}) or,
     * when dropped, {@code activateOutput(shortcut)} without running the branch.
     */
    public static Tensor blockWise(ResidualBlock block, Tensor x, boolean keep, double scale) {
        if (!keep) {
            return block.activateOutput(block.shortcut(x));
        }
        return scaledBlock(block, x, scale);
    }

    /** {@code activateOutput(shortcut + scale * branch)}; the plain block when {@code scale == 1}. */
    private static Tensor scaledBlock(ResidualBlock block, Tensor x, double scale) {
        if (scale == 1.0) {
            return block.forward(x);
        }
        return block.activateOutput(block.shortcut(x).add(block.branch(x).mul(new Scalar(scale))));
    }

    /** Bernoulli(1 - rate) draws on the CPU generator, in pinned memory when they are bound for a GPU. */
    private static Tensor hostMask(long n, double rate, Device target) {
        Checks.probability("drop_rate", rate);
        Checks.positive("n", n);
        TensorOptions options = new TensorOptions(ScalarType.Float);
        if (target.is_cuda()) {
            options = options.pinned_memory(new BoolOptional(true));
        }
        return torch.empty(new long[] {n}, options, new MemoryFormatOptional())
                .bernoulli_(1.0 - rate, new GeneratorOptional());
    }

    /** {@code t} as {@code type} on {@code device}; a copy from pinned memory does not block the host. */
    private static Tensor onDevice(Tensor t, Device device, ScalarType type) {
        if (!device.is_cuda()) {
            return t.to(device, type);
        }
        return t.to(device, type, true, false, new MemoryFormatOptional());
    }

    /** An int64 index tensor on {@code device}. */
    private static Tensor indexOn(long[] indices, Device device) {
        if (!device.is_cuda()) {
            return torch.tensor(indices);
        }
        Tensor pinned = torch.empty(new long[] {indices.length},
                new TensorOptions(ScalarType.Long).pinned_memory(new BoolOptional(true)), new MemoryFormatOptional());
        dev.dropkit.ffm.TensorSegments.view(pinned).copyFrom(MemorySegment.ofArray(indices));
        return pinned.to(device, ScalarType.Long, true, false, new MemoryFormatOptional());
    }

    /**
     * Kept samples of a mask (read on the host); their indices go to {@code kept} when it is not null.
     *
     * @throws IllegalArgumentException if an entry is neither 0 nor 1 (a 0.5 would scale the branch in
     *     {@link #sampleWise} but keep it whole in {@link #keptOnly})
     */
    private static int countKept(Tensor keepMask, long[] kept) {
        float[] keep = Tensors.toFloatArray(keepMask);
        int count = 0;
        for (int i = 0; i < keep.length; i++) {
            if (keep[i] != 0f && keep[i] != 1f) {
                throw new IllegalArgumentException("keepMask must hold only 0 and 1 (drop or keep a sample), got "
                        + keep[i] + " at index " + i);
            }
            if (keep[i] != 0f) {
                if (kept != null) {
                    kept[count] = i;
                }
                count++;
            }
        }
        return count;
    }

    private static long checkMask(Tensor keepMask, Tensor x, double scale) {
        Checks.notNull("x", x);
        Checks.notNull("keepMask", keepMask);
        if (!(scale > 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("scale must be finite and > 0, got " + scale);
        }
        if (keepMask.dim() != 1 || keepMask.size(0) != x.size(0)) {
            throw new IllegalArgumentException("keepMask must have shape [" + x.size(0) + "] (one entry per sample),"
                    + " got " + Arrays.toString(Tensors.shape(keepMask)));
        }
        return x.size(0);
    }
}
