package dev.dropkit.examples.jit;

import static dev.dropkit.examples.jit.PythonScripts.PYTHON;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.data.Batch;
import dev.dropkit.data.Batches;
import dev.dropkit.data.DataSource;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.dropgrad.DropGrad;
import dev.dropkit.dropgrad.DropGradCallback;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.jit.JitModels;
import dev.dropkit.jit.JitRewriteReport;
import dev.dropkit.jit.JitRewrites;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.Optimizers;
import dev.dropkit.examples.Plots;
import dev.dropkit.cli.Progress;
import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.cli.options.OutputDirOption;
import dev.dropkit.cli.options.ProgressOption;
import dev.dropkit.examples.DataDirOption;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * A model written and exported in Python, regularized and trained from Java: the Fashion-MNIST MLP
 * 784-512-512-10 with {@code nn.Dropout}, scripted by Debian's PyTorch, trained as exported, rewritten
 * to Gyro Dropout at the graph level, and (optionally) with DropGrad on its loaded parameters. The
 * trained Gyro archive is saved and, where Python PyTorch is installed, reloaded there to check that
 * it computes the same test logits.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a TorchScript model exported from Python on Fashion-MNIST from Java: an MLP as exported vs"
                + " rewritten to Gyro Dropout vs with DropGrad, or (--arch resnet) a ResNet as exported vs rewritten to"
                + " stochastic depth; then reload the trained archive in Python.")
public final class JitTrainExample implements Callable<Integer> {
    @Option(names = "--arch", description = "mlp (Gyro Dropout and DropGrad arms) or resnet (stochastic depth arms)"
            + " (default: ${DEFAULT-VALUE}).")
    String arch = "mlp";

    @Option(names = "--model", description = "A TorchScript archive for --arch, taking [N, 784] (mlp) or [N, 1, 28, 28]"
            + " (resnet) inputs and returning 10 logits (default: export one with /usr/bin/python3).")
    Path model;

    @Option(names = "--sigma", description = "Gyro: pre-selected sub-networks (default: ${DEFAULT-VALUE}).")
    int sigma = 256;

    @Option(names = "--tau", description = "Gyro: sub-networks active per step (default: ${DEFAULT-VALUE}).")
    int tau = 16;

    @Option(names = "--dropgrad", description = "Also train with DropGrad at this rate (0 = skip; default: ${DEFAULT-VALUE}).")
    double dropGrad = 0.1;

    @Option(names = "--epochs", description = "Epochs per run (default: ${DEFAULT-VALUE}).")
    int epochs = 5;

    @Option(names = "--batch-size", description = "Mini-batch size (default: ${DEFAULT-VALUE}).")
    int batchSize = 64;

    @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: 0.01 for mlp, 0.05 for resnet).")
    double lr = -1;

    @Option(names = "--seed", description = "Seed of weights order and masks (default: ${DEFAULT-VALUE}).")
    long seed = 1;

    @Mixin
    DataDirOption dataDir = new DataDirOption();

    @Option(names = "--train-limit", description = "Use only the first N training images, 0 for all (default:"
            + " all for mlp, 12000 for resnet).")
    int trainLimit = -1;

    @Option(names = "--test-limit", description = "Use only the first N test images (0 = all).")
    int testLimit = 0;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Mixin
    OutputDirOption output = OutputDirOption.withDefault(Path.of("out", "jit"));

    @Mixin
    ProgressOption progress = new ProgressOption();

    /** Exports {@code PythonModels}' MLP or a 3-stage, width-8 SmallResNet for 28x28 grey images. */
    static final String EXPORT = PythonModels.SOURCE + """
            torch.manual_seed(int(sys.argv[2]))
            net = Mlp() if sys.argv[3] == 'mlp' else SmallResNet((2, 2, 2), 8, 1, 10)
            torch.jit.script(net).save(sys.argv[1])
            """;

    @Override
    public Integer call() throws Exception {
        Device dev = device.resolve();
        Path out = output.dir();
        boolean resnet = switch (arch.trim().toLowerCase(Locale.ROOT)) {
            case "mlp" -> false;
            case "resnet" -> true;
            default -> throw new IllegalArgumentException("--arch must be mlp or resnet, got '" + arch + "'");
        };
        double rate = lr > 0 ? lr : resnet ? 0.05 : 0.01;
        int limit = trainLimit >= 0 ? trainLimit : resnet ? 12_000 : 0;
        Files.createDirectories(out);
        System.out.println(TorchInfo.describe() + "\ndevice:  " + Devices.describe(dev));
        Path archive = model != null ? model : export(resnet, out);
        if (archive == null) {
            return 1;
        }
        System.out.println("model:   " + archive);
        DataSource source = dataDir.source();
        System.out.println("\nDATA: " + source.description() + "\n");
        List<TrainingHistory> runs = new ArrayList<>();
        List<String> names = new ArrayList<>();
        JitModule trainedRewritten = null;
        Batches testBatches;
        try (IdxDataset train = IdxDataset.load(source.dir(), Split.TRAIN);
                IdxDataset test = IdxDataset.load(source.dir(), Split.TEST)) {
            Batches trainBatches = Batches.builder(train).batchSize(batchSize).seed(seed).device(dev)
                    .normalization(Normalization.FASHION_MNIST).flatten(!resnet).limit(limit).build();
            testBatches = Batches.builder(test).batchSize(1000).shuffle(false).device(dev)
                    .normalization(Normalization.FASHION_MNIST).flatten(!resnet).limit(testLimit).build();
            GyroDropoutOptions gyro = resnet ? null : GyroDropoutOptions.builder().p(0.5).sigma(sigma).tau(tau)
                    .itersPerEpoch(trainBatches.batchesPerEpoch()).maxEpoch(epochs).build();
            List<String> arms = new ArrayList<>(resnet
                    ? List.of("as exported", "rewritten: SD sample 0.1 linear", "rewritten: SD block 0.2 linear")
                    : List.of("as exported (nn.Dropout)", "rewritten: Gyro Dropout"));
            if (dropGrad > 0) {
                arms.add("as exported + DropGrad " + dropGrad);
            }
            for (String arm : arms) {
                JitModule m = JitModels.load(archive, dev); // every arm starts from the exported weights
                Trainer.Builder b = Trainer.builder(JitModels.trainable(m)).name(slug(arm))
                        .optimizer(Optimizers.sgd(rate, 0.9)).epochs(epochs).seed(seed).device(dev)
                        .callback(Progress.training(progress.mode(), slug(arm), System.out)).outputDir(out);
                if (arm.startsWith("rewritten: Gyro")) {
                    JitRewriteReport r = JitRewrites.gyroDropout(m, gyro);
                    System.out.println("\nrewrite: " + r.count() + " dropout call(s) -> Gyro Dropout, " + r.settings());
                    trainedRewritten = m;
                } else if (arm.startsWith("rewritten: SD")) {
                    boolean block = arm.contains("block");
                    JitRewriteReport r = JitRewrites.stochasticDepth(m, StochasticDepthOptions.builder()
                            .method(block ? "block" : "sample").dropRate(block ? 0.2 : 0.1).distribution("linear").build());
                    System.out.println("\nrewrite: " + r.count() + " residual blocks -> stochastic depth, " + r.settings());
                    if (trainedRewritten == null) {
                        trainedRewritten = m;
                    }
                }
                if (arm.contains("DropGrad")) {
                    DropGrad onLoaded = DropGrad.builder().rate(dropGrad).build(JitModels.namedParameters(m));
                    b.callback(DropGradCallback.masking(onLoaded));
                }
                System.out.println("\n== " + arm);
                Seeds.seed(seed);
                runs.add(b.build().fit(trainBatches, testBatches));
                names.add(arm);
            }
            System.out.printf(Locale.ROOT, "%n%-32s %14s %14s %10s%n", "model", "test accuracy", "test loss", "s/epoch");
            for (int i = 0; i < runs.size(); i++) {
                TrainingHistory h = runs.get(i);
                double secs = h.epochs().stream().mapToDouble(EpochMetrics::seconds).average().orElse(Double.NaN);
                System.out.printf(Locale.ROOT, "%-32s %14.4f %14.4f %10.2f%n", names.get(i), h.last().testAccuracy(),
                        h.last().testLoss(), secs);
            }
            Optional<Path> png = Plots.epochCurves(out.resolve("test-accuracy.png"), "Fashion-MNIST, a TorchScript "
                    + (resnet ? "ResNet" : "MLP") + " trained from Java",
                    "test accuracy", runs, EpochMetrics::testAccuracy);
            png.ifPresent(p -> System.out.println("wrote " + p));
            Path saved = out.resolve(resnet ? "resnet-sd-trained.pt" : "mlp-gyro-trained.pt");
            trainedRewritten.eval();
            JitModels.save(trainedRewritten, saved);
            System.out.println("wrote " + saved + " (" + (resnet ? "stochastic depth" : "Gyro Dropout")
                    + " and its state inside; loads in PyTorch)");
            checkInPython(saved, trainedRewritten, testBatches.epoch(0).next());
        }
        return 0;
    }

    private Path export(boolean resnet, Path out) throws Exception {
        if (!Files.isExecutable(PYTHON)) {
            System.err.println("dropkit jit demo: no /usr/bin/python3 to export the model with; install python3-torch or"
                    + " pass --model");
            return null;
        }
        Path archive = out.resolve(resnet ? "resnet-exported.pt" : "mlp-exported.pt");
        PythonScripts.Result r = PythonScripts.run(PYTHON, out, "export_model.py", EXPORT, archive.toString(),
                Long.toString(seed), resnet ? "resnet" : "mlp");
        if (!r.ok()) {
            System.err.println("dropkit jit demo: exporting with " + PYTHON + " failed:\n" + r.output());
            return null;
        }
        return archive;
    }

    /** Reloads the trained archive in Python and compares its test logits with Java's. */
    private static void checkInPython(Path saved, JitModule java, Batch batch) throws Exception {
        if (!Files.isExecutable(PYTHON)) {
            return;
        }
        Tensor onDevice = batch.inputs().narrow(0, 0, Math.min(256, batch.inputs().size(0)));
        Tensor logits;
        try (NoGradGuard g = new NoGradGuard()) {
            logits = java.forward(new IValueVector(new IValue(onDevice))).toTensor().cpu();
        }
        Tensor x = onDevice.cpu();
        Path in = saved.resolveSibling("check-input.f32");
        Path expected = saved.resolveSibling("check-logits.f32");
        writeRaw(x, in);
        writeRaw(logits, expected);
        List<String> args = new ArrayList<>(List.of(saved.toString(), in.toString(), expected.toString()));
        for (long i = 1; i < x.dim(); i++) {
            args.add(Long.toString(x.size(i)));
        }
        String log = PythonScripts.run(PYTHON, saved.getParent(), "check_archive.py", CHECK, args.toArray(String[]::new))
                .output().trim();
        System.out.println(log.isEmpty() ? "(python printed nothing)" : log.lines().reduce((a, b) -> b).orElse(log));
    }

    /** Reloads the trained archive and compares its logits with Java's: argv = archive, inputs, logits, input shape. */
    static final String CHECK = """
            import sys, torch
            import numpy as np
            m = torch.jit.load(sys.argv[1], map_location='cpu').eval()
            y = torch.from_numpy(np.fromfile(sys.argv[3], dtype='<f4').reshape(-1, 10))
            x = torch.from_numpy(np.fromfile(sys.argv[2], dtype='<f4')).reshape([y.shape[0]] + [int(a) for a in sys.argv[4:]])
            with torch.no_grad():
                d = (m(x) - y).abs().max().item()
            print('Python PyTorch %s reloads the trained archive: max |logit difference| on %d test images = %.2e'
                  % (torch.__version__, y.shape[0], d))
            """;

    /** Little-endian float32, what numpy's {@code fromfile} reads. */
    private static void writeRaw(Tensor t, Path file) throws java.io.IOException {
        float[] v = dev.dropkit.ffm.TensorSegments.view(t.contiguous())
                .toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(v.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(v);
        Files.write(file, buf.array());
    }

    private static String slug(String arm) {
        return arm.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("(^-|-$)", "");
    }
}
