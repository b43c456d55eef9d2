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
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.depth.StochasticDepthSurgery;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.examples.jit.PythonModels;
import dev.dropkit.examples.jit.PythonScripts;
import dev.dropkit.examples.models.Mlp;
import dev.dropkit.gyro.GyroDropout;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.jit.JitModels;
import dev.dropkit.jit.JitRewrites;
import dev.dropkit.models.ResNet;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.TrainableModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Function;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What a TorchScript rewrite costs: the training step of a rewritten TorchScript model against the
 * same model unrewritten, and against the same architecture built and rewritten as a Java module
 * tree, interleaved in one run. The TorchScript models are exported by Debian's PyTorch
 * ({@code /usr/bin/python3}) at start-up, so the benchmark needs it.
 */
@Command(name = "jit", mixinStandardHelpOptions = true,
        description = "Rewritten TorchScript vs unrewritten TorchScript vs the Java module tree: training-step ratios.")
public final class JitBenchmark implements Callable<Integer> {
    @Mixin
    BenchmarkRepetitions reps = BenchmarkRepetitions.withDefaults(11, 1);

    @Option(names = "--steps", description = "Training steps per measurement (default: ${DEFAULT-VALUE}).")
    int steps = 5;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Option(names = "--python", description = "Python with torch and torchvision (default: ${DEFAULT-VALUE}).")
    Path python = PythonScripts.PYTHON;

    /** The ratios this run measured, for {@code bench all}. */
    final BenchRows results = new BenchRows("jit");

    /** The Python side: the same architectures as dropkit's Mlp(784, 512, 2, 10) and ResNet.small(RESNET50, 8, 3, 10). */
    static final String EXPORT = PythonModels.SOURCE + """
            torch.manual_seed(7)
            torch.jit.script(Mlp()).save(sys.argv[1] + '/mlp.pt')
            torch.jit.script(SmallResNet((3, 4, 6, 3), 8, 3, 10)).save(sys.argv[1] + '/resnet.pt')
            """;

    /** One model being timed. */
    private record Config(String name, TrainableModel model, Optimizer optimizer, Tensor x, Tensor y) {}

    @Override
    public Integer call() throws IOException, InterruptedException {
        Device dev = device.resolve();
        Path dir = Files.createTempDirectory("dropkit-jit-bench");
        PythonScripts.Result export = PythonScripts.run(python, dir, "export.py", EXPORT, dir.toString());
        if (!export.ok()) {
            System.err.println("dropkit bench jit: exporting the models with " + python + " failed (it needs torch and"
                    + " torchvision):\n" + export.output());
            return 1;
        }
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev));
        System.out.printf(Locale.ROOT, "training step = forward + cross-entropy + backward + SGD step; %d steps per"
                + " measurement, %d reps after %d warm-up; ratio = median over reps of paired times%n", steps, reps.timed(),
                reps.warmup());

        GyroDropoutOptions gyro = GyroDropoutOptions.builder().p(0.5).sigma(256).tau(16).itersPerEpoch(938)
                .maxEpoch(5).build();
        Tensor mx = torch.randn(new long[] {64, 784}, Tensors.options(torch.ScalarType.Float, dev));
        Tensor my = torch.randint(10, new long[] {64}, Tensors.options(torch.ScalarType.Long, dev));
        Config tsDropout = jit("TorchScript MLP, nn.Dropout", dir.resolve("mlp.pt"), dev, m -> null, mx, my);
        Config tsGyro = jit("TorchScript MLP, rewritten to Gyro", dir.resolve("mlp.pt"), dev,
                m -> JitRewrites.gyroDropout(m, gyro), mx, my);
        Seeds.seed(7);
        Mlp javaMlp = new Mlp(784, 512, 2, 10, new double[] {0.5, 0.5}, DropoutMode.INVERTED);
        GyroDropout.apply(javaMlp, gyro);
        Config javaGyro = java("Java MLP, Gyro by surgery", javaMlp, javaMlp::forward, dev, mx, my);

        StochasticDepthOptions sd = StochasticDepthOptions.builder().dropRate(0.1).distribution("linear")
                .method(DepthMethod.SAMPLE).build();
        Tensor rx = torch.randn(new long[] {32, 3, 32, 32}, Tensors.options(torch.ScalarType.Float, dev));
        Tensor ry = torch.randint(10, new long[] {32}, Tensors.options(torch.ScalarType.Long, dev));
        Config tsPlain = jit("TorchScript ResNet-50 w8", dir.resolve("resnet.pt"), dev, m -> null, rx, ry);
        Config tsDepth = jit("TorchScript ResNet-50 w8, rewritten to SD", dir.resolve("resnet.pt"), dev,
                m -> JitRewrites.stochasticDepth(m, sd), rx, ry);
        Seeds.seed(7);
        ResNet javaNet = ResNet.small(ResNet.Layout.RESNET50, 8, 3, 10);
        StochasticDepthSurgery.apply(javaNet, sd);
        Config javaDepth = java("Java ResNet-50 w8, SD by surgery", javaNet, javaNet::forward, dev, rx, ry);
        Seeds.seed(7);
        ResNet javaPlainNet = ResNet.small(ResNet.Layout.RESNET50, 8, 3, 10);
        Config javaPlain = java("Java ResNet-50 w8", javaPlainNet, javaPlainNet::forward, dev, rx, ry);

        List<Config> all = List.of(tsDropout, tsGyro, javaGyro, tsPlain, tsDepth, javaDepth, javaPlain);
        double[][] times = new double[all.size()][reps.timed()];
        for (int r = -reps.warmup(); r < reps.timed(); r++) {
            for (int j = 0; j < all.size(); j++) {
                int k = Math.floorMod(j + r, all.size()); // rotate the order: drift hits every model alike
                double ms = time(all.get(k), dev);
                if (r >= 0) {
                    times[k][r] = ms;
                }
            }
        }
        System.out.printf(Locale.ROOT, "%-42s %10s%n", "model", "step ms");
        for (int k = 0; k < all.size(); k++) {
            System.out.printf(Locale.ROOT, "%-42s %10.2f%n", all.get(k).name(), median(times[k]) / steps);
        }
        System.out.printf(Locale.ROOT, "%n%-58s %8s %8s%n", "ratio", "value", "target");
        row("TS Gyro / TS nn.Dropout (what the rewrite adds)", times[1], times[0], dev.is_cuda() ? "<= 1.0" : "<= 0.85");
        row("TS Gyro / Java Gyro (TorchScript vs Java module tree)", times[1], times[2], "");
        row("TS SD / TS plain (what the rewrite adds)", times[4], times[3], dev.is_cuda() ? "<= 1.03" : "<= 1.05");
        row("TS SD / Java SD (TorchScript vs Java module tree)", times[4], times[5], "");
        row("Java SD / Java plain (the Java module's own cost)", times[5], times[6], "<= 1.05");
        return 0;
    }

    private void row(String name, double[] a, double[] b, String target) {
        double ratio = BenchSupport.pairedRatio(a, b);
        System.out.printf(Locale.ROOT, "%-58s %8.3f %8s%n", name, ratio, target);
        results.add(name, ratio, target);
    }

    private Config jit(String name, Path file, Device dev, Function<JitModule, Object> rewrite, Tensor x, Tensor y)
            throws IOException {
        JitModule m = JitModels.load(file, dev);
        rewrite.apply(m);
        m.train(true);
        TrainableModel t = JitModels.trainable(m);
        return new Config(name, t, Optimizers.sgd(0.01, 0.9).create(t.parameters()), x, y);
    }

    private Config java(String name, Module m, Function<Tensor, Tensor> forward, Device dev, Tensor x, Tensor y) {
        m.to(dev, false);
        m.train(true);
        TrainableModel t = TrainableModel.of(m, forward::apply);
        return new Config(name, t, Optimizers.sgd(0.01, 0.9).create(m.parameters()), x, y);
    }

    private double time(Config c, Device dev) {
        sync(dev);
        long t0 = System.nanoTime();
        for (int s = 0; s < steps; s++) {
            NativeMemory.run(() -> {
                c.optimizer().zero_grad();
                torch.cross_entropy(c.model().forward(c.x()), c.y()).backward();
                c.optimizer().step();
            });
        }
        sync(dev);
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Runs the benchmark alone. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new JitBenchmark()).execute(args));
    }
}
