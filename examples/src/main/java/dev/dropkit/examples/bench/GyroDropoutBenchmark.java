package dev.dropkit.examples.bench;

import static dev.dropkit.examples.bench.BenchSupport.forwardBackward;
import static dev.dropkit.examples.bench.BenchSupport.median;
import static dev.dropkit.examples.bench.BenchSupport.pairedRatio;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.gyro.GyroDropout;
import dev.dropkit.gyro.GyroDropoutOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Gyro Dropout forward+backward against libtorch's own {@code dropout} and dropkit's {@link Dropout} on
 * the same tensors, measured in one run, interleaved, reported as medians and ratios. Gyro Dropout
 * draws no random numbers in a step (its masks are fixed), so it should cost at most what dropout does.
 */
@Command(name = "gyro", mixinStandardHelpOptions = true,
        description = "Gyro Dropout vs libtorch dropout and dropkit Dropout, forward+backward, as ratios measured in one run.")
public final class GyroDropoutBenchmark implements Callable<Integer> {
    @Option(names = "--batch", description = "Batch size of the [batch, features] cases (default: ${DEFAULT-VALUE}).")
    int batch = 1024;

    @Option(names = "--features", split = ",", description = "Feature counts in K (default: ${DEFAULT-VALUE}).")
    int[] featuresK = {1, 4, 16};

    @Option(names = "--conv", split = ",", description = "A convolution-shaped case N,C,H,W, or 0 for none"
            + " (default: ${DEFAULT-VALUE}).")
    long[] conv = {256, 64, 32, 32};

    @Mixin
    BenchmarkRepetitions reps = BenchmarkRepetitions.withDefaults(15, 3);

    @Option(names = "-p", description = "Drop probability (default: ${DEFAULT-VALUE}).")
    double p = 0.5;

    @Option(names = "--sigma", description = "Pre-selected sub-networks (default: ${DEFAULT-VALUE}).")
    int sigma = 256;

    @Option(names = "--tau", description = "Sub-networks active at once (default: ${DEFAULT-VALUE}).")
    int tau = 16;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    /** The ratios this run measured, for {@code bench all}. */
    final BenchRows results = new BenchRows("gyro");

    /** Runs the benchmark on its own (the CLI wires it as {@code bench gyro}). */
    public static void main(String[] args) {
        System.exit(new CommandLine(new GyroDropoutBenchmark()).execute(args));
    }

    @Override
    public Integer call() {
        Device dev = device.resolve();
        Seeds.seed(0);
        // A CIFAR-like run (196 steps x 100 epochs): the active set changes every iterNum steps, far
        // apart, so the timed steps measure masking, as almost every training step does.
        GyroDropoutOptions options = GyroDropoutOptions.builder().p(p).sigma(sigma).tau(tau).itersPerEpoch(196)
                .maxEpoch(100).build();
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev));
        System.out.printf(Locale.ROOT, "%s, forward+backward (y.sum().backward()), median of %d reps after %d"
                + " warm-up; ratio = median of paired per-rep ratios%n", new GyroDropout(options), reps.timed(), reps.warmup());
        System.out.printf(Locale.ROOT, "%-18s %12s %12s %12s %10s %10s%n",
                "shape", "libtorch ms", "dropkit ms", "gyro ms", "gyro/lt", "gyro/dk");
        List<long[]> shapes = new ArrayList<>();
        for (int k : featuresK) {
            shapes.add(new long[] {batch, k * 1024L});
        }
        if (conv != null && conv.length == 4) {
            shapes.add(conv);
        }
        Dropout dropout = new Dropout(p);
        dropout.train(true);
        for (long[] shape : shapes) {
            try (PointerScope scope = new PointerScope()) {
                GyroDropout gyro = new GyroDropout(options);
                gyro.to(dev, false);
                gyro.train(true);
                Tensor x = torch.randn(shape, Tensors.options(torch.ScalarType.Float, dev));
                double[][] t = forwardBackward(x, dev, reps.warmup(), reps.timed(), in -> torch.dropout(in, p, true), dropout::forward, gyro::forward);
                System.out.printf(Locale.ROOT, "%-18s %12.3f %12.3f %12.3f %10.3f %10.3f%n",
                        label(shape), median(t[0]), median(t[1]), median(t[2]), pairedRatio(t[2], t[0]),
                        pairedRatio(t[2], t[1]));
                results.add("gyro / libtorch dropout, " + label(shape), pairedRatio(t[2], t[0]), dev, "<= 0.95",
                        "<= 0.15");
            }
        }
        return 0;
    }

    private static String label(long[] shape) {
        StringBuilder sb = new StringBuilder();
        for (long d : shape) {
            sb.append(sb.isEmpty() ? "" : "x").append(d % 1024 == 0 && d >= 1024 ? d / 1024 + "K" : Long.toString(d));
        }
        return sb.toString();
    }
}
