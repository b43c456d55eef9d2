package dev.dropkit.gyro;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Tensors;
import java.util.Arrays;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The functional form of Gyro Dropout: given the {@code sigma} pre-selected masks and the {@code tau}
 * active ones, mask a batch. It draws no random numbers; choosing masks and when to change them is
 * {@link GyroSchedule}'s and {@link GyroDropout}'s job.
 *
 * <p>Masks act on dimension 1 of an {@code [N, C, *]} input: one value per feature of a
 * {@code [N, C]} activation, one value per channel of a convolutional {@code [N, C, H, W]} (or
 * {@code [N, C, L]}, {@code [N, C, D, H, W]}) activation, broadcast over the spatial positions as
 * {@code Dropout2d} does. A sequence model laid out {@code [N, L, D]} would mask positions, not features:
 * pass {@code featuresLast} (or {@link GyroDropoutOptions.Builder#featuresLast}) to mask the last dimension.
 */
public final class GyroDropoutOps {
    private GyroDropoutOps() {}

    /**
     * How a batch of {@code batch} samples is split into {@code tau} groups of consecutive samples: as
     * evenly as possible, the remainder going to the first groups (10 samples, tau 4: 3, 3, 2, 2).
     *
     * @throws IllegalArgumentException if {@code tau < 1} or the batch is smaller than {@code tau}
     */
    public static long[] groupSizes(long batch, int tau) {
        Checks.positive("tau", tau);
        if (batch < tau) {
            throw new IllegalArgumentException("a batch of " + batch + " samples is smaller than tau = " + tau
                    + ": each of the " + tau + " sub-networks active at once needs at least one sample;"
                    + " use batches of at least " + tau + " samples or a smaller tau");
        }
        long[] sizes = new long[tau];
        long base = batch / tau;
        long extra = batch % tau;
        for (int i = 0; i < tau; i++) {
            sizes[i] = base + (i < extra ? 1 : 0);
        }
        return sizes;
    }

    /**
     * Applies Gyro Dropout to a batch: the batch is split into {@code active.size(0)} groups of
     * consecutive samples ({@link #groupSizes}), group {@code i} is multiplied by mask
     * {@code masks[active[i]]}, and kept units are scaled by {@code 1/(1-p)}. In evaluation, or with
     * {@code p == 0}, it returns {@code input} itself.
     *
     * <p>The kept value is exactly {@code x * (1/(1-p))} in the input's type: the {@code tau} chosen
     * masks are converted and scaled once ({@code [tau, C]} elements), then one broadcast multiply does
     * the rest; when the groups are even no per-sample mask is materialized at all.
     *
     * @param input {@code [N, C, *]} floating-point activations, any device
     * @param masks {@code [sigma, C]} masks of 0 and 1 (bool or any numeric type), on the input's device
     * @param active {@code [tau]} indices into {@code masks}, on the input's device
     * @param p the drop probability the masks were drawn with, in [0, 1)
     * @param training whether to mask (training) or pass through (evaluation)
     * @throws IllegalArgumentException for a bad {@code p}, an input without a feature dimension, masks
     *     whose feature count differs from the input's, or a batch smaller than {@code tau}
     */
    public static Tensor gyroDropout(Tensor input, Tensor masks, Tensor active, double p, boolean training) {
        return gyroDropout(input, masks, active, p, training, false);
    }

    /**
     * As {@link #gyroDropout(Tensor, Tensor, Tensor, double, boolean)}, with the masks over the input's
     * last dimension when {@code featuresLast} ({@code [N, L, D]} sequences: one mask of the D hidden units
     * per sample, the same at every position) instead of dimension 1.
     */
    public static Tensor gyroDropout(Tensor input, Tensor masks, Tensor active, double p, boolean training,
            boolean featuresLast) {
        Checks.probabilityBelowOne("p", p);
        Checks.notNull("input", input);
        Checks.notNull("masks", masks);
        Checks.notNull("active", active);
        if (!training || p == 0.0) {
            return input;
        }
        int dims = (int) input.dim();
        if (dims < 2) {
            throw new IllegalArgumentException("Gyro Dropout needs an input of shape [N, C, *] (a batch and a"
                    + " feature or channel dimension), got shape " + Arrays.toString(Tensors.shape(input)));
        }
        long n = input.size(0);
        int axis = featuresLast ? dims - 1 : 1;
        long c = input.size(axis);
        if (masks.dim() != 2 || masks.size(1) != c) {
            throw new IllegalArgumentException("masks must have shape [sigma, " + c + "] for an input with " + c
                    + " features or channels, got " + Arrays.toString(Tensors.shape(masks)));
        }
        if (active.dim() != 1 || active.size(0) < 1) {
            throw new IllegalArgumentException("active must hold the indices of at least one mask, got shape "
                    + Arrays.toString(Tensors.shape(active)));
        }
        int tau = (int) active.size(0);
        long[] sizes = groupSizes(n, tau);
        boolean even = n % tau == 0;
        // scalar_type() returns a fresh enum object: compare its intern() (native-notes).
        Tensor index = active.scalar_type().intern() == torch.ScalarType.Long ? active : active.to(torch.ScalarType.Long);
        // [tau, C]: index_select always copies, so scaling in place never touches the masks buffer.
        Tensor chosen = masks.index_select(0, index).to(input.scalar_type()).mul_(new Scalar(1.0 / (1.0 - p)));
        // Even groups: [tau, N/tau, C, *] * [tau, 1, C, 1...], a broadcast, no [N, C] mask is built. Uneven: an
        // [N, C] per-sample mask, broadcast over the spatial positions.
        Tensor ready = even ? chosen : repeatedRows(chosen, identity(tau), sizes);
        return applyReadyMask(input, ready.view(readyShape(even, tau, n, dims, axis, c)), tau);
    }

    /**
     * The mask that {@link #applyReadyMask} multiplies a batch by: the rows {@code active} of
     * {@code masks}, scaled by {@code 1/(1-p)}, in {@code type} on {@code device}, arranged for a batch of
     * {@code n} samples of rank {@code dims}. When {@code tau} divides {@code n} it is
     * {@code [tau, 1, C, 1...]} (for the batch seen as {@code [tau, n/tau, C, *]}) and fits any such batch;
     * otherwise it is {@code [n, C, 1...]}, one row per sample. The active indices are host values, so
     * building it reads nothing back from a GPU and copies nothing to one: each active row is a view of
     * {@code masks}, and one {@code cat}, one conversion and one scale make the mask (3 kernels).
     *
     * @param masks {@code [sigma, C]} masks (bool or numeric), on any device
     * @param active the {@code tau} active indices into {@code masks}
     * @throws IllegalArgumentException if {@code n < tau} or an index is out of range
     */
    public static Tensor readyMask(Tensor masks, long[] active, long n, int dims, boolean featuresLast, double p,
            torch.ScalarType type, Device device) {
        Checks.probabilityBelowOne("p", p);
        int tau = active.length;
        long[] sizes = groupSizes(n, tau);
        boolean even = n % tau == 0;
        long c = masks.size(1);
        for (long index : active) {
            if (index < 0 || index >= masks.size(0)) {
                throw new IllegalArgumentException("active index " + index + " is not one of the " + masks.size(0)
                        + " masks");
            }
        }
        long[] repeats = new long[tau];
        Arrays.fill(repeats, 1);
        Tensor chosen = repeatedRows(masks, active, even ? repeats : sizes).to(device, type)
                .mul_(new Scalar(1.0 / (1.0 - p)));
        return chosen.view(readyShape(even, tau, n, dims, featuresLast ? dims - 1 : 1, c));
    }

    /**
     * Rows {@code rows[i]} of the 2-D {@code source}, row {@code i} repeated {@code repeats[i]} times: views
     * and one {@code cat}, so no index travels to the source's device (a {@code repeat_interleave} by a
     * tensor of repeats would copy it there, and wait).
     */
    private static Tensor repeatedRows(Tensor source, long[] rows, long[] repeats) {
        long c = source.size(1);
        TensorVector parts = new TensorVector();
        for (int i = 0; i < rows.length; i++) {
            Tensor row = source.narrow(0, rows[i], 1);
            parts.push_back(repeats[i] == 1 ? row : row.expand(new long[] {repeats[i], c}));
        }
        return torch.cat(parts, 0);
    }

    private static long[] identity(int n) {
        long[] out = new long[n];
        Arrays.setAll(out, i -> i);
        return out;
    }

    /**
     * The shape of a ready mask of {@code c} features on dimension {@code axis} of a rank-{@code dims} batch of
     * {@code n}: {@code [tau, 1, C, 1...]} for even groups (the batch seen as {@code [tau, n/tau, C, *]}),
     * else {@code [n, C, 1...]}.
     */
    private static long[] readyShape(boolean even, int tau, long n, int dims, int axis, long c) {
        long[] shape = new long[even ? dims + 1 : dims];
        Arrays.fill(shape, 1);
        shape[0] = even ? tau : n;
        shape[even ? axis + 1 : axis] = c;
        return shape;
    }

    /**
     * Gyro Dropout as one multiply: {@code input} times a mask from {@link #readyMask} built for its batch
     * size and rank. Forward and backward are one kernel each; nothing synchronizes.
     *
     * @param tau the number of groups the mask was built for
     */
    public static Tensor applyReadyMask(Tensor input, Tensor ready, int tau) {
        long n = input.size(0);
        if (ready.dim() == input.dim()) {
            return input.mul(ready);
        }
        long[] shape = Tensors.shape(input);
        long[] grouped = new long[shape.length + 1];
        grouped[0] = tau;
        grouped[1] = n / tau;
        System.arraycopy(shape, 1, grouped, 2, shape.length - 1);
        return input.reshape(grouped).mul(ready).view(shape);
    }
}
