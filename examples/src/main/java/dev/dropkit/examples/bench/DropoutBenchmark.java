package dev.dropkit.examples.bench;

import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.core.Tensors;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * dropkit's Dropout forward+backward against libtorch's own {@code dropout} on the same tensors,
 * measured in one run, interleaved, reported as medians and their ratio.
 */
@Command(name = "dropout", mixinStandardHelpOptions = true,
        description = "dropkit Dropout vs libtorch dropout, forward+backward, as a ratio measured in one run.")
public final class DropoutBenchmark implements Callable<Integer> {
    @Option(names = "--sizes", split = ",", description = "Element counts in millions (default: ${DEFAULT-VALUE}).")
    int[] sizesMillions = {1, 4, 16, 64};

    @Option(names = "--reps", description = "Timed repetitions per size and method (default: ${DEFAULT-VALUE}).")
    int reps = 9;

    @Option(names = "--warmup", description = "Untimed repetitions first (default: ${DEFAULT-VALUE}).")
    int warmup = 3;

    @Option(names = "-p", description = "Drop probability (default: ${DEFAULT-VALUE}).")
    double p = 0.5;

    @Option(names = "--device", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device = "auto";

    @Override
    public Integer call() {
        Device dev = Devices.parse(device);
        Seeds.seed(0);
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev));
        System.out.printf(Locale.ROOT, "dropout p=%.2f, forward+backward (y.sum().backward()), median of %d reps after %d warm-up;"
                + " ratio = median of paired per-rep ratios%n",
                p, reps, warmup);
        System.out.printf(Locale.ROOT, "%10s %14s %14s %8s %14s %8s%n",
                "elements", "libtorch ms", "dropkit ms", "ratio", "classic ms", "ratio");
        Dropout inverted = new Dropout(p);
        Dropout classic = new Dropout(p, DropoutMode.CLASSIC);
        inverted.train(true);
        classic.train(true);
        for (int m : sizesMillions) {
            long n = m * 1_000_000L;
            try (PointerScope scope = new PointerScope()) {
                Tensor x = torch.randn(new long[] {n}, Tensors.options(torch.ScalarType.Float, dev));
                double[][] t = measure(x, dev,
                        in -> torch.dropout(in, p, true), inverted::forward, classic::forward);
                System.out.printf(Locale.ROOT, "%9dM %14.3f %14.3f %8.3f %14.3f %8.3f%n",
                        m, median(t[0]), median(t[1]), pairedRatio(t[1], t[0]), median(t[2]), pairedRatio(t[2], t[0]));
            }
        }
        return 0;
    }

    /** Times each op {@code reps} times, rotating which goes first so drift hits all alike. */
    @SafeVarargs
    private double[][] measure(Tensor x, Device dev, UnaryOperator<Tensor>... ops) {
        double[][] times = new double[ops.length][reps];
        for (int r = -warmup; r < reps; r++) {
            for (int k = 0; k < ops.length; k++) {
                int which = Math.floorMod(k + r, ops.length);
                double ms = timeOnce(x, dev, ops[which]);
                if (r >= 0) {
                    times[which][r] = ms;
                }
            }
        }
        return times;
    }

    private static double timeOnce(Tensor x, Device dev, UnaryOperator<Tensor> op) {
        return NativeMemory.get(() -> {
            Tensor leaf = x.detach().requires_grad_(true);
            sync(dev);
            long t0 = System.nanoTime();
            op.apply(leaf).sum().backward();
            sync(dev);
            return (System.nanoTime() - t0) / 1e6;
        });
    }

    private static void sync(Device dev) {
        if (dev.is_cuda()) {
            torch_cuda.device_synchronize();
        }
    }

    /** Median of the per-repetition ratios: each pair ran back to back, so slow drift cancels. */
    private static double pairedRatio(double[] ours, double[] base) {
        double[] r = new double[ours.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = ours[i] / base[i];
        }
        return median(r);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
