package dev.dropkit.examples.bench;

import static dev.dropkit.examples.bench.BenchSupport.median;
import static dev.dropkit.examples.bench.BenchSupport.pairedRatio;
import static dev.dropkit.examples.bench.BenchSupport.sync;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.dropgrad.DropGrad;
import dev.dropkit.dropgrad.DropGradHooks;
import dev.dropkit.dropgrad.DropGradOptimizer;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.examples.models.Mlp;
import dev.dropkit.models.ResNet;
import dev.dropkit.train.Optimizers;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What DropGrad adds to a training step (forward, cross-entropy, backward, optimizer step), through
 * gradient hooks and through the optimizer wrapper, as a ratio to the same step without it, beside a
 * native floor: libtorch multiplying every gradient in place once, which is the least any per-element
 * gradient transform costs. The variants run interleaved in one process, on one model, on synthetic
 * data; each ratio is the median of per-repetition ratios, so drift in machine load cancels.
 */
@Command(name = "dropgrad", mixinStandardHelpOptions = true,
        description = "Per-step overhead of DropGrad (hooks and optimizer wrapper) against the same step without it,"
                + " as a ratio measured in one run.")
public final class DropGradBenchmark implements Callable<Integer> {
    @Option(names = "--models", split = ",", description = "Any of mlp, conv, resnet (ResNet-18 layout, width 8)"
            + " (default: ${DEFAULT-VALUE}).")
    String[] models = {"mlp", "conv", "resnet"};

    @Option(names = "--rates", split = ",", description = "Drop rates to measure (default: ${DEFAULT-VALUE}).")
    double[] rates = {0.1, 0.0};

    @Option(names = "--batch", description = "Samples per step (default: ${DEFAULT-VALUE}).")
    int batch = 128;

    @Option(names = "--hidden", description = "MLP hidden width (default: ${DEFAULT-VALUE}).")
    int hidden = 256;

    @Option(names = "--optimizer", description = "sgd or adam (default: ${DEFAULT-VALUE}).")
    String optimizer = "sgd";

    @Option(names = "--steps", description = "Training steps per timing (default: ${DEFAULT-VALUE}).")
    int steps = 5;

    @Mixin
    BenchmarkRepetitions reps = BenchmarkRepetitions.withDefaults(15, 3);

    @Option(names = "--warmup-seconds", description = "Keep warming up until this much time has passed"
            + " (default: ${DEFAULT-VALUE}). DropGrad's CPU masks are Java code that the JIT compiles after a few"
            + " hundred calls; its SIMD form runs about a thousand times slower before (native-notes/"
            + "vector-api-before-the-jit.md), which a short warm-up would count as DropGrad's cost.")
    double warmupSeconds = 3.0;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Option(names = "--threads", description = "libtorch intra-op threads; 0 keeps libtorch's default"
            + " (default: ${DEFAULT-VALUE}). One thread gives steadier CPU timings on a shared machine.")
    int threads = 0;

    @Option(names = "--clock", description = "wall, or cpu: the benchmark thread's CPU time, which machine"
            + " contention does not inflate; needs --threads 1, so that libtorch computes on that thread"
            + " (default: ${DEFAULT-VALUE}).")
    String clock = "wall";

    /** The ratios this run measured, for {@code bench all}. */
    final BenchRows results = new BenchRows("dropgrad");

    private final ThreadMXBean cpuClock = ManagementFactory.getThreadMXBean();
    private boolean cpuTime;

    /** Runs the benchmark from a plain {@code java} command line. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new DropGradBenchmark()).execute(args));
    }

    /** A small convolutional net for 28x28 images: two 3x3 convolutions with max-pooling, then a linear layer. */
    static final class SmallConv extends Module {
        final Conv2dImpl conv1;
        final Conv2dImpl conv2;
        final LinearImpl fc;

        SmallConv() {
            super("SmallConv");
            conv1 = register_module("conv1", new Conv2dImpl(1, 16, new LongPointer(3L, 3L)));
            conv2 = register_module("conv2", new Conv2dImpl(16, 32, new LongPointer(3L, 3L)));
            fc = register_module("fc", new LinearImpl(32 * 5 * 5, 10));
        }

        Tensor forward(Tensor x) {
            Tensor h = pool(torch.relu(conv1.forward(x.view(-1, 1, 28, 28))));
            h = pool(torch.relu(conv2.forward(h)));
            return fc.forward(h.flatten(1, -1));
        }

        private static Tensor pool(Tensor x) {
            return torch.max_pool2d(x, new long[] {2, 2}, new long[] {2, 2}, new long[] {0, 0}, new long[] {1, 1}, false);
        }
    }

    /** A model, its forward function and its optimizer. */
    private record Trained(Module module, UnaryOperator<Tensor> forward, Optimizer optimizer) {}

    private Trained build(String model, Device dev, long seed) {
        Seeds.seed(seed);
        Module module;
        UnaryOperator<Tensor> forward;
        switch (model) {
            case "mlp" -> {
                Mlp mlp = new Mlp(784, hidden, 2, 10, null, DropoutMode.INVERTED);
                module = mlp;
                forward = mlp::forward;
            }
            case "conv" -> {
                SmallConv conv = new SmallConv();
                module = conv;
                forward = conv::forward;
            }
            case "resnet" -> {
                ResNet net = ResNet.small(ResNet.Layout.RESNET18, 8, 1, 10); // the "small ResNet"
                module = net;
                forward = t -> net.forward(t.view(-1, 1, 28, 28));
            }
            default -> throw new IllegalArgumentException("model must be 'mlp', 'conv' or 'resnet', got '" + model + "'");
        }
        module.to(dev, false);
        double lr = optimizer.equalsIgnoreCase("adam") ? 1e-4 : 1e-3;
        return new Trained(module, forward, Optimizers.named(optimizer, lr).create(module.parameters()));
    }

    @Override
    public Integer call() {
        Device dev = device.resolve();
        if (threads < 0) {
            throw new IllegalArgumentException("threads must not be negative, got " + threads);
        }
        if (threads > 0) {
            torch.set_num_threads(threads);
        }
        if (!(warmupSeconds >= 0)) {
            throw new IllegalArgumentException("warmup-seconds must be >= 0, got " + warmupSeconds);
        }
        cpuTime = switch (clock.trim().toLowerCase(Locale.ROOT)) {
            case "wall" -> false;
            case "cpu" -> true;
            default -> throw new IllegalArgumentException("clock must be 'wall' or 'cpu', got '" + clock + "'");
        };
        if (cpuTime && (dev.is_cuda() || torch.get_num_threads() != 1)) {
            throw new IllegalArgumentException("--clock cpu measures the calling thread only: it needs --threads 1"
                    + " and the CPU device");
        }
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev)
                + "; OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + ", OPENBLAS_NUM_THREADS="
                + System.getenv("OPENBLAS_NUM_THREADS")
                + " (on a busy machine set one of them to 1: native-notes/openmp-threads-under-load.md)");
        System.out.printf(Locale.ROOT, "one training step (forward, cross-entropy, backward, %s step), batch %d;"
                + " %s time, %d steps per timing, median of %d reps after >= %d warm-up reps and >= %.1f s; ratio = median of paired"
                + " per-rep ratios (DropGrad / none)%n", optimizer, batch, cpuTime ? "thread CPU" : "wall", steps,
                reps.timed(), reps.warmup(), warmupSeconds);
        System.out.println("floor: libtorch multiplies every gradient by 1/(1-rate) in place before the step (no mask):"
                + " what touching each gradient once costs natively, the least any per-element gradient transform adds");
        System.out.printf(Locale.ROOT, "%-6s %9s %6s %9s %9s %7s %9s %7s %9s %7s%n",
                "model", "params", "rate", "none ms", "hooks ms", "ratio", "wrap ms", "ratio", "floor ms", "ratio");
        for (String model : models) {
            for (double rate : rates) {
                NativeMemory.run(() -> measure(model, rate, dev));
            }
        }
        return 0;
    }

    private void measure(String model, double rate, Device dev) {
        // One model for every variant: separate instances differ by a few percent on their own (memory
        // placement), which would read as DropGrad's cost. Hooks are attached only around their own timings.
        Trained net = build(model, dev, 1);
        DropGrad dropGrad = DropGrad.builder().rate(rate).build(net.module());
        DropGradOptimizer wrapper = dropGrad.wrap(net.optimizer());
        TensorVector params = net.module().parameters();
        Scalar scale = new Scalar(1.0 / (1.0 - rate));
        Tensor x = torch.randn(new long[] {batch, 784}, Tensors.options(torch.ScalarType.Float, dev));
        Tensor y = torch.randint(10, new long[] {batch}).to(dev, torch.ScalarType.Long);
        Runnable plainStep = () -> step(net, x, y, net.optimizer()::zero_grad, net.optimizer()::step);
        Runnable[] variants = {
            plainStep,
            plainStep, // with hooks attached (below)
            // zeroed through the wrapper, as a user of it does: on CUDA that keeps the flat gradient buffers
            () -> step(net, x, y, wrapper::zero_grad, wrapper::step),
            () -> step(net, x, y, net.optimizer()::zero_grad, () -> { // the native floor: libtorch touches every gradient once, in place
                for (long i = 0; i < params.size(); i++) {
                    params.get(i).grad().mul_(scale);
                }
                net.optimizer().step();
            }),
        };
        long warmEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
        for (int r = 0; r < reps.warmup() || System.nanoTime() < warmEnd; r++) {
            round(r, variants, dropGrad, dev, null);
        }
        double[][] times = new double[variants.length][reps.timed()];
        for (int r = 0; r < reps.timed(); r++) {
            round(r, variants, dropGrad, dev, times);
        }
        long count = 0;
        for (long i = 0; i < params.size(); i++) {
            count += params.get(i).numel();
        }
        System.out.printf(Locale.ROOT, "%-6s %9d %6.2f %9.3f %9.3f %7.3f %9.3f %7.3f %9.3f %7.3f%n", model, count,
                rate, median(times[0]), median(times[1]), pairedRatio(times[1], times[0]), median(times[2]),
                pairedRatio(times[2], times[0]), median(times[3]), pairedRatio(times[3], times[0]));
        boolean held = rate > 0; // rate 0 shows what the machinery costs by itself: informational
        boolean mlp = model.equals("mlp");
        String what = String.format(Locale.ROOT, "%s rate %.2f: ", model, rate);
        results.add(what + "hooks / none", pairedRatio(times[1], times[0]), dev, held ? "<= 1.08" : "",
                held ? (mlp ? "<= 1.14" : "<= 1.10") : "");
        results.add(what + "wrapper / none", pairedRatio(times[2], times[0]), dev, held ? "<= 1.08" : "",
                held ? (mlp ? "<= 1.09" : "<= 1.02") : "");
        results.add(what + "native floor / none", pairedRatio(times[3], times[0]), dev, "", "");
    }

    /** Times every variant once, rotating who goes first; hooks are attached around variant 1 only. */
    private void round(int r, Runnable[] variants, DropGrad dropGrad, Device dev, double[][] times) {
        for (int k = 0; k < variants.length; k++) {
            int which = Math.floorMod(k + r, variants.length);
            DropGradHooks hooks = which == 1 ? dropGrad.attach() : null;
            double ms;
            try {
                ms = time(variants[which], dev);
            } finally {
                if (hooks != null) {
                    hooks.close();
                }
            }
            if (times != null) {
                times[which][r] = ms;
            }
        }
    }

    private double time(Runnable variant, Device dev) {
        sync(dev);
        long t0 = now();
        for (int s = 0; s < steps; s++) {
            NativeMemory.run(variant);
        }
        sync(dev);
        return (now() - t0) / 1e6 / steps;
    }

    private long now() {
        return cpuTime ? cpuClock.getCurrentThreadCpuTime() : System.nanoTime();
    }

    private static void step(Trained t, Tensor x, Tensor y, Runnable zeroGrad, Runnable optimizerStep) {
        zeroGrad.run();
        torch.cross_entropy(t.forward().apply(x), y).backward();
        optimizerStep.run();
    }
}
