package dev.dropkit.examples.bench;

import static dev.dropkit.examples.bench.BenchSupport.median;
import static dev.dropkit.examples.bench.BenchSupport.sync;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.depth.DepthMethod;
import dev.dropkit.depth.DropDistribution;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.depth.StochasticDepthSurgery;
import dev.dropkit.models.ResNet;
import dev.dropkit.train.Optimizers;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Training-step time (forward + backward + SGD step) of a small ResNet with stochastic depth, relative
 * to the same network without it, measured in one run, interleaved, as the median of paired ratios.
 *
 * <p>On the CPU, run the fast mode with {@code ONEDNN_PRIMITIVE_CACHE_CAPACITY=16384}: its branches see a
 * new batch size at almost every step, and oneDNN's default cache of 1024 convolution primitives thrashes
 * (see native-notes/onednn-primitive-cache-and-varying-batch-sizes.md).
 */
@Command(name = "stochastic-depth", mixinStandardHelpOptions = true,
        description = "Stochastic depth vs none: training-step time of a small ResNet, as ratios measured in one run.")
public final class StochasticDepthBenchmark implements Callable<Integer> {
    @Mixin
    BenchmarkRepetitions reps = BenchmarkRepetitions.withDefaults(11, 1);

    @Option(names = "--steps", description = "Training steps per measurement (default: ${DEFAULT-VALUE}).")
    int steps = 2;

    @Option(names = "--batch", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch = 32;

    @Option(names = "--size", description = "Image side in pixels (default: ${DEFAULT-VALUE}).")
    int size = 32;

    @Option(names = "--width", description = "Width of the first stage (default: ${DEFAULT-VALUE}).")
    int width = 8;

    @Option(names = "--layout", description = "resnet18, resnet34 or resnet50 (default: ${DEFAULT-VALUE}).")
    String layout = "resnet50";

    @Option(names = "--distributions", split = ",",
            description = "Drop distributions for the block-wise and fast rows (default: ${DEFAULT-VALUE}).")
    List<String> distributions = List.of("linear", "uniform");

    @Option(names = "--methods", split = ",", description = "Which rows to time besides the baseline: any of sample"
            + " (0.1 linear), block and sample_fast (0.2 and 0.5 per distribution) (default: ${DEFAULT-VALUE}).")
    List<String> methods = List.of("sample", "block", "sample_fast");

    @Option(names = "--rates", split = ",", description = "Rates for the block and sample_fast rows"
            + " (default: ${DEFAULT-VALUE}).")
    List<Double> rates = List.of(0.2, 0.5);

    @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: ${DEFAULT-VALUE}).")
    double lr = 0.01;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    /** The ratios this run measured, for {@code bench all}. */
    final BenchRows results = new BenchRows("stochastic-depth");

    /** One network being timed. */
    private record Config(String method, double rate, String distribution, ResNet net, Optimizer optimizer) {}

    @Override
    @SuppressWarnings("deprecation") // times SAMPLE_FAST, which runs as SAMPLE on CUDA
    public Integer call() {
        Device dev = device.resolve();
        ResNet.Layout lay = ResNet.Layout.valueOf(layout.trim().toUpperCase(Locale.ROOT));
        List<DropDistribution> dists = distributions.stream().map(DropDistribution::parse).toList();
        List<DepthMethod> chosen = methods.stream().map(DepthMethod::parse).toList();
        String cache = System.getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY");
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev)
                + "; ONEDNN_PRIMITIVE_CACHE_CAPACITY " + (cache == null ? "unset (1024)" : cache));
        System.out.printf(Locale.ROOT, "%s, width %d, %dx%dx3 inputs, batch %d; training step = forward + backward +"
                + " SGD step; median of %d reps x %d steps after %d warm-up rep;%n"
                + "ratio = median over reps of (time / time of the same network without stochastic depth, measured"
                + " right before or after it)%n", lay.name().toLowerCase(Locale.ROOT), width, size, size, batch,
                reps.timed(), steps, reps.warmup());

        List<Config> configs = new ArrayList<>();
        configs.add(config(0, null, lay, DropDistribution.LINEAR, dev));
        if (chosen.contains(DepthMethod.SAMPLE)) {
            configs.add(config(0.1, DepthMethod.SAMPLE, lay, DropDistribution.LINEAR, dev));
        }
        for (DropDistribution dist : dists) {
            for (DepthMethod m : new DepthMethod[] {DepthMethod.BLOCK, DepthMethod.SAMPLE_FAST}) {
                if (!chosen.contains(m)) {
                    continue;
                }
                for (double rate : rates) {
                    configs.add(config(rate, m, lay, dist, dev));
                }
            }
        }
        if (configs.size() == 1) {
            throw new IllegalArgumentException("--methods " + String.join(",", methods) + " selects no configuration");
        }
        Tensor x = torch.randn(new long[] {batch, 3, size, size}, Tensors.options(torch.ScalarType.Float, dev));
        Tensor y = torch.randint(10, new long[] {batch}, Tensors.options(torch.ScalarType.Long, dev));

        // Each configuration is timed right next to a baseline measurement (which goes first alternates), and
        // the configurations take turns in a rotating order: drift and other processes hit both sides of a pair.
        int n = configs.size() - 1;
        double[][] times = new double[configs.size()][reps.timed()];
        double[][] ratios = new double[configs.size()][reps.timed()];
        double[] baseline = new double[n * reps.timed()];
        for (int r = -reps.warmup(); r < reps.timed(); r++) {
            for (int j = 0; j < n; j++) {
                int k = 1 + Math.floorMod(j + r, n);
                boolean baseFirst = Math.floorMod(r + j, 2) == 0;
                double base = baseFirst ? timeSteps(configs.get(0), x, y, dev) : 0;
                double ms = timeSteps(configs.get(k), x, y, dev);
                if (!baseFirst) {
                    base = timeSteps(configs.get(0), x, y, dev);
                }
                if (r >= 0) {
                    times[k][r] = ms;
                    ratios[k][r] = ms / base;
                    baseline[r * n + j] = base;
                }
            }
        }
        times[0] = baseline;
        Arrays.fill(ratios[0], 1.0);
        System.out.printf(Locale.ROOT, "%-12s %6s %-8s %10s %8s %8s%n", "method", "rate", "dist", "step ms", "ratio",
                "target");
        for (int k = 0; k < configs.size(); k++) {
            Config c = configs.get(k);
            String target = k == 0 ? "" : c.method().equals("sample") ? "<= 1.03"
                    : c.method().equals("sample_fast") && dev.is_cuda() ? "(runs as sample)" : "< 1.0";
            System.out.printf(Locale.ROOT, "%-12s %6s %-8s %10.2f %8.3f %8s%n", c.method(),
                    k == 0 ? "-" : String.format(Locale.ROOT, "%.2f", c.rate()), k == 0 ? "-" : c.distribution(),
                    median(times[k]) / steps, median(ratios[k]), target);
            if (k > 0) {
                results.add(String.format(Locale.ROOT, "%s %s w%d b%d: %s %.2f %s / none%s", lay.name().toLowerCase(Locale.ROOT),
                        size + "px", width, batch, c.method(), c.rate(), c.distribution(),
                        c.method().equals("sample_fast") && dev.is_cuda() ? " (runs as sample on CUDA)" : ""),
                        median(ratios[k]), dev,
                        cudaTarget(c), cpuTarget(c));
            }
        }
        return 0;
    }

    /**
     * Issue 16's targets: sample-wise at most 3% over none, block-wise cheaper than none. The fast mode is
     * retired on CUDA (it runs as sample there: gathering kept rows needs their count on the host, a sync), so
     * its row has no target of its own.
     */
    private static String cudaTarget(Config c) {
        return switch (c.method()) {
            case "sample" -> "<= 1.03";
            case "block" -> "< 1.0";
            default -> "";
        };
    }

    /** The CPU's figures before the CUDA redesign, plus noise. */
    private static String cpuTarget(Config c) {
        return switch (c.method()) {
            case "sample" -> "<= 1.08";
            case "block" -> "< 1.0";
            default -> "<= 1.2";
        };
    }

    private Config config(double rate, DepthMethod method, ResNet.Layout lay, DropDistribution dist, Device dev) {
        Seeds.seed(7); // every network starts from the same weights
        ResNet net = ResNet.small(lay, width, 3, 10);
        if (method != null) {
            StochasticDepthSurgery.apply(net, StochasticDepthOptions.builder().method(method).dropRate(rate)
                    .distribution(dist).build());
        }
        net.to(dev, false);
        net.train(true);
        return new Config(method == null ? "none" : method.id(), rate, dist.id(), net,
                Optimizers.sgd(lr, 0.9).create(net.parameters()));
    }

    private double timeSteps(Config c, Tensor x, Tensor y, Device dev) {
        sync(dev);
        long t0 = System.nanoTime();
        for (int s = 0; s < steps; s++) {
            NativeMemory.run(() -> {
                c.optimizer().zero_grad();
                torch.cross_entropy(c.net().forward(x), y).backward();
                c.optimizer().step();
            });
        }
        sync(dev);
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Runs the benchmark alone. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new StochasticDepthBenchmark()).execute(args));
    }
}
