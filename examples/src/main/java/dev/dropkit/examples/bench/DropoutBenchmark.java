package dev.dropkit.examples.bench;

import static dev.dropkit.examples.bench.BenchSupport.forwardBackward;
import static dev.dropkit.examples.bench.BenchSupport.median;
import static dev.dropkit.examples.bench.BenchSupport.pairedRatio;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.core.Tensors;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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

    @Mixin
    BenchmarkRepetitions reps = BenchmarkRepetitions.withDefaults(9, 3);

    @Option(names = "-p", description = "Drop probability (default: ${DEFAULT-VALUE}).")
    double p = 0.5;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    /** The ratios this run measured, for {@code bench all}. */
    final BenchRows results = new BenchRows("dropout");

    @Override
    public Integer call() {
        for (int m : sizesMillions) {
            dev.dropkit.core.Checks.positive("--sizes", m);
        }
        Device dev = device.resolve();
        Seeds.seed(0);
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev));
        System.out.printf(Locale.ROOT, "dropout p=%.2f, forward+backward (y.sum().backward()), median of %d reps after %d warm-up;"
                + " ratio = median of paired per-rep ratios%n",
                p, reps.timed(), reps.warmup());
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
                double[][] t = forwardBackward(x, dev, reps.warmup(), reps.timed(),
                        in -> torch.dropout(in, p, true), inverted::forward, classic::forward);
                System.out.printf(Locale.ROOT, "%9dM %14.3f %14.3f %8.3f %14.3f %8.3f%n",
                        m, median(t[0]), median(t[1]), pairedRatio(t[1], t[0]), median(t[2]), pairedRatio(t[2], t[0]));
                results.add("inverted / libtorch dropout, " + m + "M", pairedRatio(t[1], t[0]), dev, "<= 1.02", "<= 1.05");
                results.add("classic / libtorch dropout, " + m + "M", pairedRatio(t[2], t[0]), dev, "<= 1.08", "<= 1.05");
            }
        }
        return 0;
    }
}
