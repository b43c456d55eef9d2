package dev.dropkit.examples.bench;

import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.depth.DepthMethod;
import dev.dropkit.depth.DropDistribution;
import dev.dropkit.depth.ResNet;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.depth.StochasticDepthSurgery;
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
import org.bytedeco.pytorch.global.torch_cuda;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Training-step time (forward + backward + SGD step) of a small ResNet with stochastic depth, relative
 * to the same network without it, measured in one run, interleaved, as the median of paired ratios.
 */
@Command(name = "stochastic-depth", mixinStandardHelpOptions = true,
        description = "Stochastic depth vs none: training-step time of a small ResNet, as ratios measured in one run.")
public final class StochasticDepthBenchmark implements Callable<Integer> {
    @Option(names = "--reps", description = "Timed repetitions per configuration (default: ${DEFAULT-VALUE}).")
    int reps = 15;

    @Option(names = "--warmup", description = "Untimed repetitions first (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Option(names = "--steps", description = "Training steps per repetition (default: ${DEFAULT-VALUE}).")
    int steps = 3;

    @Option(names = "--batch", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch = 32;

    @Option(names = "--size", description = "Image side in pixels (default: ${DEFAULT-VALUE}).")
    int size = 32;

    @Option(names = "--width", description = "Width of the first stage (default: ${DEFAULT-VALUE}).")
    int width = 8;

    @Option(names = "--layout", description = "resnet18, resnet34 or resnet50 (default: ${DEFAULT-VALUE}).")
    String layout = "resnet50";

    @Option(names = "--distribution", description = "Drop distribution over blocks (default: ${DEFAULT-VALUE}).")
    String distribution = "linear";

    @Option(names = "--device", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device = "auto";

    /** One network being timed. */
    private record Config(String method, double rate, ResNet net, Optimizer optimizer) {}

    @Override
    public Integer call() {
        Device dev = Devices.parse(device);
        ResNet.Layout lay = ResNet.Layout.valueOf(layout.trim().toUpperCase(Locale.ROOT));
        DropDistribution dist = DropDistribution.parse(distribution);
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev));
        System.out.printf(Locale.ROOT, "%s, width %d, %dx%dx3 inputs, batch %d; training step = forward + backward +"
                + " SGD step; median of %d reps x %d steps after %d warm-up;%n"
                + "ratio = median of paired per-rep ratios against the same network without stochastic depth,"
                + " order rotated every rep%n", lay.name().toLowerCase(Locale.ROOT), width, size, size, batch, reps,
                steps, warmup);

        List<Config> configs = new ArrayList<>();
        configs.add(config("none", 0, null, lay, dist, dev));
        configs.add(config("sample", 0.1, DepthMethod.SAMPLE, lay, dist, dev));
        for (DepthMethod m : new DepthMethod[] {DepthMethod.BLOCK, DepthMethod.SAMPLE_FAST}) {
            for (double rate : new double[] {0.2, 0.5}) {
                configs.add(config(m.id(), rate, m, lay, dist, dev));
            }
        }
        Tensor x = torch.randn(new long[] {batch, 3, size, size}, Tensors.options(torch.ScalarType.Float, dev));
        Tensor y = torch.randint(10, new long[] {batch}, Tensors.options(torch.ScalarType.Long, dev));

        double[][] times = new double[configs.size()][reps];
        for (int r = -warmup; r < reps; r++) {
            for (int k = 0; k < configs.size(); k++) {
                int which = Math.floorMod(k + r, configs.size());
                double ms = timeSteps(configs.get(which), x, y, dev);
                if (r >= 0) {
                    times[which][r] = ms;
                }
            }
        }
        System.out.printf(Locale.ROOT, "%-12s %6s %-8s %10s %8s %8s%n", "method", "rate", "dist", "step ms", "ratio",
                "target");
        for (int k = 0; k < configs.size(); k++) {
            Config c = configs.get(k);
            String target = k == 0 ? "" : c.method().equals("sample") ? "<= 1.03" : "< 1.0";
            System.out.printf(Locale.ROOT, "%-12s %6s %-8s %10.2f %8.3f %8s%n", c.method(),
                    k == 0 ? "-" : String.format(Locale.ROOT, "%.2f", c.rate()), k == 0 ? "-" : dist.id(),
                    median(times[k]) / steps, pairedRatio(times[k], times[0]), target);
        }
        return 0;
    }

    private Config config(String name, double rate, DepthMethod method, ResNet.Layout lay, DropDistribution dist,
            Device dev) {
        Seeds.seed(7); // every network starts from the same weights
        ResNet net = ResNet.small(lay, width, 3, 10);
        if (method != null) {
            StochasticDepthSurgery.apply(net, StochasticDepthOptions.builder().method(method).dropRate(rate)
                    .distribution(dist).build());
        }
        net.to(dev, false);
        net.train(true);
        return new Config(name, rate, net, Optimizers.sgd(0.01, 0.9).create(net.parameters()));
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

    /** Runs the benchmark alone. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new StochasticDepthBenchmark()).execute(args));
    }
}
