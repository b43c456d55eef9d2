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
 * 2016): tensor-level ops shaped like torchvision's {@code stochastic_depth} and timm's {@code drop_path}
 * ({@link #dropPath}, {@link #dropPathAdd}), and the output of a {@link ResidualBlock} whose branch is
 * dropped at rate {@code rate} ({@link #forward}), built on them.
 *
 * <p><b>Where the decisions are drawn, and why.</b> Sample-wise decisions are drawn on the input's device,
 * with that device's default generator, into an {@code [N, 1, ..., 1]} tensor, and applied with one fused
 * {@code addcmul} into the residual sum: on CUDA that is two kernels ({@code bernoulli_}, {@code addcmul})
 * and no host synchronization, no host mask, no pinned copy. Block-wise decisions stay on libtorch's CPU
 * generator: the host must know the outcome to decide whether to compute the branch at all. So a fixed seed
 * ({@link dev.dropkit.core.Seeds#seed(long)}, the trainer's per-epoch reseeding) fixes every draw on each
 * device, and gives the same block decisions on the CPU and on CUDA, but not the same sample decisions: those
 * come from the CPU generator on the CPU and from the CUDA generator on CUDA, which differ.
 *
 * <p><b>Rounding.</b> A kept row of {@link #dropPathAdd} in sample mode is {@code fl(shortcut + scale * branch)}
 * computed by {@code addcmul}. On the CPU that equals {@code shortcut.add(branch.mul(scale))} bit for bit; on
 * CUDA, with a scale other than 1, the kernel's fused multiply-add rounds once where that reference rounds
 * twice, so the two may differ in the last bit (native-notes/cuda-addcmul-rounds-once.md). Dropped rows are
 * exactly the shortcut everywhere, and at scale 1 kept rows are exact everywhere.
 */
public final class StochasticDepthOps {
    private static final System.Logger LOG = System.getLogger(StochasticDepthOps.class.getName());
    private static volatile boolean warnedFastOnCuda;

    private StochasticDepthOps() {}

    /**
     * {@code branch} with stochastic depth applied, as torchvision's {@code stochastic_depth(input, p, mode,
     * training)} and timm's {@code drop_path(x, drop_prob, training, scale_by_keep)}: the value to add to the
     * shortcut. Works on any tensor of at least one dimension; dimension 0 is the sample.
     *
     * <p>Training: {@code keep * scale * branch}, where {@code keep} is one Bernoulli(1 - rate) draw per sample
     * ({@link DepthMethod#SAMPLE}, drawn on the tensor's device; {@link DepthMethod#SAMPLE_FAST} is the same here,
     * since a tensor op has no branch to skip) or one for the whole tensor ({@link DepthMethod#BLOCK}, drawn on
     * the host), and {@code scale} is {@link DepthScaling#trainScale}. A kept row is exactly
     * {@code branch.mul(scale)} (the per-sample factors are scaled before one multiply), a dropped row exactly 0.
     * Rate 1 gives zeros that do not depend on {@code branch} (no NaN from an infinite branch; it gets no
     * gradient). Evaluation: {@code branch} itself ({@link DepthScaling#INVERTED}, as torchvision and timm) or
     * {@code (1 - rate) * branch} ({@link DepthScaling#COMPOSER}). Rate 0: {@code branch} itself.
     *
     * <p>When the sum with a shortcut follows, prefer {@link #dropPathAdd}: it fuses the multiply into the
     * addition (one kernel less, one full-size tensor less).
     *
     * @throws IllegalArgumentException if {@code rate} is outside [0, 1], an argument is null or
     *     {@code branch} is 0-dimensional
     */
    public static Tensor dropPath(Tensor branch, double rate, DepthMethod mode, DepthScaling scaling,
            boolean training) {
        checkOp(branch, rate, mode, scaling);
        if (rate == 0.0 || (!training && scaling == DepthScaling.INVERTED)) {
            return branch;
        }
        if (!training) {
            return branch.mul(new Scalar(1.0 - rate));
        }
        if (rate == 1.0) {
            return torch.zeros_like(branch);
        }
        double scale = scaling.trainScale(rate);
        if (mode == DepthMethod.BLOCK) {
            if (!hostKeep(rate)) {
                return torch.zeros_like(branch);
            }
            return scale == 1.0 ? branch : branch.mul(new Scalar(scale));
        }
        Tensor keep = sampleMask(branch, rate);
        if (scale != 1.0) {
            keep.mul_(new Scalar(scale)); // [N, 1, ...]: scaling it costs nothing next to the full-size multiply
        }
        return branch.mul(keep);
    }

    /**
     * {@code shortcut + dropPath(branch, ...)} in one step: the residual sum of a block whose branch is dropped
     * at {@code rate}, always a new tensor (blocks often apply an in-place activation to it, and the shortcut
     * may be the block's input).
     *
     * <p>Training, sample-wise ({@link DepthMethod#SAMPLE}; {@link DepthMethod#SAMPLE_FAST} is the same here):
     * {@code shortcut.addcmul(branch, keep, scale)} with {@code keep} an {@code [N, 1, ..., 1]} Bernoulli(1 - rate)
     * draw on the inputs' device: on CUDA, two kernels and no host synchronization. Block-wise: the host draws
     * one decision; dropped gives a copy of {@code shortcut}, kept {@code shortcut + branch.mul(scale)}. Rate 1:
     * a copy of {@code shortcut} (the branch is not read). Evaluation: {@code shortcut + branch}
     * ({@link DepthScaling#INVERTED}) or {@code shortcut + branch.mul(1 - rate)} ({@link DepthScaling#COMPOSER};
     * a copy of the shortcut at rate 1).
     *
     * <p>See the class comment for how a kept row rounds on CUDA.
     *
     * @throws IllegalArgumentException if {@code rate} is outside [0, 1], an argument is null or
     *     {@code branch} is 0-dimensional
     */
    public static Tensor dropPathAdd(Tensor shortcut, Tensor branch, double rate, DepthMethod mode,
            DepthScaling scaling, boolean training) {
        Checks.notNull("shortcut", shortcut);
        checkOp(branch, rate, mode, scaling);
        if (rate == 0.0 || (!training && scaling == DepthScaling.INVERTED)) {
            return shortcut.add(branch);
        }
        if (rate == 1.0) {
            return shortcut.clone();
        }
        if (!training) {
            return shortcut.add(branch.mul(new Scalar(1.0 - rate)));
        }
        double scale = scaling.trainScale(rate);
        if (mode == DepthMethod.BLOCK) {
            if (!hostKeep(rate)) {
                return shortcut.clone();
            }
            return scale == 1.0 ? shortcut.add(branch) : shortcut.add(branch.mul(new Scalar(scale)));
        }
        return shortcut.addcmul(branch, sampleMask(branch, rate), new Scalar(scale));
    }

    /**
     * The block's output with its branch dropped at {@code rate}.
     *
     * <p>Training: {@code activateOutput(shortcut + keep * scale * branch)} where {@code keep} is a
     * per-sample ({@code SAMPLE}, {@code SAMPLE_FAST}) or per-batch ({@code BLOCK}) Bernoulli(1 - rate)
     * draw and {@code scale} is {@link DepthScaling#trainScale(double)}: {@link #dropPathAdd} for
     * {@code SAMPLE}; a dropped block does not run its branch; {@code SAMPLE_FAST} runs the branch on the
     * kept samples only ({@link #keptOnly}) on the CPU, and runs as {@code SAMPLE} on CUDA (see
     * {@link DepthMethod#SAMPLE_FAST}; warned once). Rate 1: {@code activateOutput(shortcut)}, without running
     * the branch. Evaluation: {@code activateOutput(shortcut + (1 - rate) * branch)}
     * ({@link DepthScaling#COMPOSER}) or the plain block ({@link DepthScaling#INVERTED}). With {@code rate == 0}
     * both phases are the plain block.
     *
     * @throws IllegalArgumentException if {@code rate} is outside [0, 1] or an argument is null
     */
    @SuppressWarnings("deprecation") // SAMPLE_FAST is still served
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
        if (rate == 1.0) { // every sample, every block is dropped: nothing reads the branch
            return block.activateOutput(block.shortcut(x));
        }
        double scale = scaling.trainScale(rate);
        return switch (method) {
            case SAMPLE -> drawnOnDevice(block, x, rate, scaling);
            case SAMPLE_FAST -> {
                if (x.is_cuda()) {
                    warnFastOnCuda();
                    yield drawnOnDevice(block, x, rate, scaling);
                }
                yield keptOnly(block, x, keepMask(x.size(0), rate), scale);
            }
            case BLOCK -> blockWise(block, x, hostKeep(rate), scale);
        };
    }

    /** {@link DepthMethod#SAMPLE}: the branch on the whole batch, decisions drawn and applied on its device. */
    private static Tensor drawnOnDevice(ResidualBlock block, Tensor x, double rate, DepthScaling scaling) {
        Tensor shortcut = block.shortcut(x);
        Tensor branch = block.branch(x);
        return block.activateOutput(dropPathAdd(shortcut, branch, rate, DepthMethod.SAMPLE, scaling, true));
    }

    private static void warnFastOnCuda() {
        if (!warnedFastOnCuda) {
            warnedFastOnCuda = true;
            LOG.log(System.Logger.Level.WARNING, "stochastic_method sample_fast runs as sample on CUDA: gathering the"
                    + " kept samples needs their count on the host, a synchronization every block and step that"
                    + " costs more than the branch it saves; use sample");
        }
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
     * tensor: 1 keeps a sample's branch, 0 drops it. For {@link #sampleWise(ResidualBlock, Tensor, Tensor,
     * double)} and {@link #keptOnly} with a mask of one's own; the modes draw their own.
     */
    public static Tensor keepMask(long n, double rate) {
        Checks.probability("drop_rate", rate);
        Checks.positive("n", n);
        return torch.empty(new long[] {n}, new TensorOptions(ScalarType.Float), new MemoryFormatOptional())
                .bernoulli_(1.0 - rate, new GeneratorOptional());
    }

    /** One block-wise decision from the CPU generator: whether the branch is kept. */
    private static boolean hostKeep(double rate) {
        return keepMask(1, rate).item_double() != 0.0;
    }

    /**
     * Per-sample Bernoulli(1 - rate) draws shaped {@code [N, 1, ..., 1]} like {@code like}, of its type and on
     * its device, from that device's default generator: on CUDA one kernel, nothing read back.
     */
    private static Tensor sampleMask(Tensor like, double rate) {
        long[] shape = new long[(int) like.dim()];
        Arrays.fill(shape, 1);
        shape[0] = like.size(0);
        return torch.empty(shape, Tensors.options(like.scalar_type(), like.device()), new MemoryFormatOptional())
                .bernoulli_(1.0 - rate, new GeneratorOptional());
    }

    private static void checkOp(Tensor branch, double rate, DepthMethod mode, DepthScaling scaling) {
        Checks.notNull("branch", branch);
        Checks.probability("drop_rate", rate);
        Checks.notNull("mode", mode);
        Checks.notNull("scaling", scaling);
        if (branch.dim() == 0) {
            throw new IllegalArgumentException("branch must have a sample dimension (at least 1 dimension), got a"
                    + " 0-dimensional tensor");
        }
    }

    /**
     * Sample-wise stochastic depth with a given mask: {@code activateOutput(shortcut + scale * keep * branch)}
     * with {@code keep} broadcast over every dimension but the first (one fused {@code addcmul}). The branch
     * runs on the whole batch, so its BatchNorms see every sample. When a CPU mask keeps every sample the
     * mask is skipped (same result, one pass less).
     *
     * @param keepMask {@code [N]} of 0 and 1 (float; on the CPU, or on the input's device; a CPU mask is
     *     checked, a CUDA mask is not, since reading it would wait for the GPU; a CPU mask for a CUDA input
     *     is copied from pageable memory, which waits too: the {@link DepthMethod#SAMPLE} mode draws its
     *     decisions on the device instead)
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
        Tensor mask = keepMask.to(branch.device(), branch.scalar_type()).view(shape);
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
