package dev.dropkit.examples.bench;

import dev.dropkit.core.NativeMemory;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * What every benchmark main shares: interleaved timing against a baseline measured in the same run,
 * medians, and the median of paired per-repetition ratios (each pair ran back to back, so slow drift
 * of a shared machine cancels).
 */
public final class BenchSupport {
    private BenchSupport() {}

    /**
     * Times {@code op(x).sum().backward()} for each op, {@code reps} times after {@code warmup} untimed
     * rounds, rotating which op goes first in each round. Returns milliseconds, {@code [op][rep]}.
     */
    @SafeVarargs
    public static double[][] forwardBackward(Tensor x, Device dev, int warmup, int reps, UnaryOperator<Tensor>... ops) {
        double[][] times = new double[ops.length][reps];
        for (int r = -warmup; r < reps; r++) {
            for (int k = 0; k < ops.length; k++) {
                int which = Math.floorMod(k + r, ops.length);
                double ms = timeForwardBackward(x, dev, ops[which]);
                if (r >= 0) {
                    times[which][r] = ms;
                }
            }
        }
        return times;
    }

    private static double timeForwardBackward(Tensor x, Device dev, UnaryOperator<Tensor> op) {
        return NativeMemory.get(() -> {
            Tensor leaf = x.detach().requires_grad_(true);
            sync(dev);
            long t0 = System.nanoTime();
            op.apply(leaf).sum().backward();
            sync(dev);
            return (System.nanoTime() - t0) / 1e6;
        });
    }

    /** Waits for queued CUDA work, so wall-clock times cover it; nothing on the CPU. */
    public static void sync(Device dev) {
        if (dev.is_cuda()) {
            torch_cuda.device_synchronize();
        }
    }

    /** Median of {@code ours[i] / base[i]}. */
    public static double pairedRatio(double[] ours, double[] base) {
        double[] r = new double[ours.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = ours[i] / base[i];
        }
        return median(r);
    }

    /** Median of the values. */
    public static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
