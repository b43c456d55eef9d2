package dev.dropkit.examples.jit;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.data.Batch;
import dev.dropkit.data.Batches;
import dev.dropkit.data.DataSource;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.dropgrad.DropGrad;
import dev.dropkit.dropgrad.DropGradCallback;
import dev.dropkit.examples.ExampleData;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.jit.JitModels;
import dev.dropkit.jit.JitRewriteReport;
import dev.dropkit.jit.JitRewrites;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.Plots;
import dev.dropkit.train.Progress;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
import picocli.CommandLine.Option;

/**
 * A model written and exported in Python, regularized and trained from Java: the Fashion-MNIST MLP
 * 784-512-512-10 with {@code nn.Dropout}, scripted by Debian's PyTorch, trained as exported, rewritten
 * to Gyro Dropout at the graph level, and (optionally) with DropGrad on its loaded parameters. The
 * trained Gyro archive is saved and, where Python PyTorch is installed, reloaded there to check that
 * it computes the same test logits.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a TorchScript MLP exported from Python on Fashion-MNIST: as exported vs rewritten to Gyro "
                + "Dropout (vs DropGrad), then reload the trained archive in Python.")
public final class JitTrainExample implements Callable<Integer> {
    @Option(names = "--model", description = "A TorchScript archive taking [N, 784] inputs and returning 10 logits"
            + " (default: export the MLP with /usr/bin/python3).")
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

    @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: ${DEFAULT-VALUE}).")
    double lr = 0.01;

    @Option(names = "--seed", description = "Seed of weights order and masks (default: ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--data-dir", description = "Directory with the IDX files (default: as the demo).")
    Path dataDir;

    @Option(names = "--train-limit", description = "Use only the first N training images (0 = all).")
    int trainLimit = 0;

    @Option(names = "--test-limit", description = "Use only the first N test images (0 = all).")
    int testLimit = 0;

    @Option(names = "--device", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device = "auto";

    @Option(names = "--out", description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("out", "jit");

    @Option(names = "--progress", description = "auto, bar, plain or none (default: ${DEFAULT-VALUE}).")
    Progress.Mode progress = Progress.Mode.AUTO;

    static final Path PYTHON = Path.of("/usr/bin/python3");

    static final String EXPORT = """
            import sys, torch, torch.nn as nn, torch.nn.functional as F
            class FashionMlp(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 512)
                    self.drop1 = nn.Dropout(0.5)
                    self.fc2 = nn.Linear(512, 512)
                    self.drop2 = nn.Dropout(0.5)
                    self.out = nn.Linear(512, 10)
                def forward(self, x):
                    x = self.drop1(F.relu(self.fc1(x)))
                    return self.out(self.drop2(F.relu(self.fc2(x))))
            torch.manual_seed(int(sys.argv[2]))
            torch.jit.script(FashionMlp()).save(sys.argv[1])
            """;

    @Override
    public Integer call() throws Exception {
        Device dev = Devices.parse(device);
        Files.createDirectories(out);
        System.out.println(TorchInfo.describe() + "\ndevice:  " + Devices.describe(dev));
        Path archive = model != null ? model : export();
        if (archive == null) {
            return 1;
        }
        System.out.println("model:   " + archive);
        DataSource source = ExampleData.locate(dataDir);
        System.out.println("\nDATA: " + source.description() + "\n");
        List<TrainingHistory> runs = new ArrayList<>();
        List<String> names = new ArrayList<>();
        JitModule trainedGyro = null;
        Batches testBatches;
        try (IdxDataset train = IdxDataset.load(source.dir(), Split.TRAIN);
                IdxDataset test = IdxDataset.load(source.dir(), Split.TEST)) {
            Batches trainBatches = Batches.builder(train).batchSize(batchSize).seed(seed).device(dev)
                    .normalization(Normalization.FASHION_MNIST).flatten(true).limit(trainLimit).build();
            testBatches = Batches.builder(test).batchSize(1000).shuffle(false).device(dev)
                    .normalization(Normalization.FASHION_MNIST).flatten(true).limit(testLimit).build();
            GyroDropoutOptions gyro = GyroDropoutOptions.builder().p(0.5).sigma(sigma).tau(tau)
                    .itersPerEpoch(trainBatches.batchesPerEpoch()).maxEpoch(epochs).build();
            List<String> arms = new ArrayList<>(List.of("as exported (nn.Dropout)", "rewritten: Gyro Dropout"));
            if (dropGrad > 0) {
                arms.add("as exported + DropGrad " + dropGrad);
            }
            for (String arm : arms) {
                JitModule m = JitModels.load(archive, dev); // every arm starts from the exported weights
                Trainer.Builder b = Trainer.builder(JitModels.trainable(m)).name(slug(arm))
                        .optimizer(Optimizers.sgd(lr, 0.9)).epochs(epochs).seed(seed).device(dev)
                        .progress(progress).outputDir(out);
                if (arm.startsWith("rewritten")) {
                    JitRewriteReport r = JitRewrites.gyroDropout(m, gyro);
                    System.out.println("\nrewrite: " + r.count() + " dropout call(s) -> Gyro Dropout, " + r.settings());
                    trainedGyro = m;
                }
                if (arm.contains("DropGrad")) {
                    b.callback(DropGradCallback.masking(DropGrad.builder().rate(dropGrad).build(m)));
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
            Path png = Plots.epochCurves(out.resolve("test-accuracy.png"), "Fashion-MNIST, a TorchScript MLP trained from Java",
                    "test accuracy", runs, EpochMetrics::testAccuracy);
            System.out.println("wrote " + png);
            Path saved = out.resolve("mlp-gyro-trained.pt");
            trainedGyro.eval();
            trainedGyro.save(saved.toString());
            System.out.println("wrote " + saved + " (Gyro Dropout and its state inside; loads in PyTorch)");
            checkInPython(saved, trainedGyro, testBatches.epoch(0).next());
        }
        return 0;
    }

    private Path export() throws Exception {
        if (!Files.isExecutable(PYTHON)) {
            System.err.println("dropkit jit demo: no /usr/bin/python3 to export the model with; install python3-torch or"
                    + " pass --model");
            return null;
        }
        Path script = Files.writeString(out.resolve("export_mlp.py"), EXPORT);
        Path archive = out.resolve("mlp-exported.pt");
        Process p = new ProcessBuilder(PYTHON.toString(), script.toString(), archive.toString(), Long.toString(seed))
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            System.err.println("dropkit jit demo: exporting with " + PYTHON + " failed:\n" + log);
            return null;
        }
        return archive;
    }

    /** Reloads the trained archive in Python and compares its test logits with Java's. */
    private static void checkInPython(Path saved, JitModule java, Batch batch) throws Exception {
        if (!Files.isExecutable(PYTHON)) {
            return;
        }
        Tensor onDevice = batch.inputs().narrow(0, 0, 256);
        Tensor logits;
        try (NoGradGuard g = new NoGradGuard()) {
            logits = java.forward(new IValueVector(new IValue(onDevice))).toTensor().cpu();
        }
        Tensor x = onDevice.cpu();
        Path in = saved.resolveSibling("check-input.f32");
        Path expected = saved.resolveSibling("check-logits.f32");
        writeRaw(x, in);
        writeRaw(logits, expected);
        Process p = new ProcessBuilder(PYTHON.toString(), "-c", """
                import sys, torch
                m = torch.jit.load(sys.argv[1], map_location='cpu').eval()
                import numpy as np
                x = torch.from_numpy(np.fromfile(sys.argv[2], dtype='<f4').reshape(256, 784))
                y = torch.from_numpy(np.fromfile(sys.argv[3], dtype='<f4').reshape(256, 10))
                with torch.no_grad():
                    d = (m(x) - y).abs().max().item()
                print('Python PyTorch %s reloads the trained Gyro archive: max |logit difference| on 256 test images = %.2e'
                      % (torch.__version__, d))
                """, saved.toString(), in.toString(), expected.toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        p.waitFor();
        System.out.println(log.isEmpty() ? "(python printed nothing)" : log.lines().reduce((a, b) -> b).orElse(log));
    }

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
