package dev.dropkit.examples.notebook;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.data.Batches;
import dev.dropkit.data.DataSource;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.examples.models.Mlp;
import dev.dropkit.gyro.GyroDropout;
import dev.dropkit.gyro.GyroDropoutCallback;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.Optimizers;
import dev.dropkit.examples.Plots;
import dev.dropkit.cli.Progress;
import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.cli.options.OutputDirOption;
import dev.dropkit.cli.options.ProgressOption;
import dev.dropkit.examples.DataDirOption;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.nio.file.Path;
import java.util.Optional;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The seed notebook ("Dropout from scratch") reproduced on Fashion-MNIST: an MLP 784 -> H -> H -> H -> 10
 * trained with plain SGD twice, with classic dropout after each hidden layer (keep 0.9, 0.8, 0.8) and
 * without, printed as the notebook prints it, plus one PNG with both test-accuracy curves.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "The Dropout notebook reproduced: an MLP on Fashion-MNIST trained with and without classic"
                + " dropout (keep 0.9 / 0.8 / 0.8); per-epoch table, CSV/JSON metrics and a PNG of test accuracy.")
public final class DropoutNotebookDemo implements Callable<Integer> {
    @Option(names = {"-H", "--hidden"}, description = "Hidden width H (default: ${DEFAULT-VALUE}; the notebook used 8192 on a GPU).")
    int hidden = 256;

    @Option(names = "--epochs", description = "Epochs per run (default: ${DEFAULT-VALUE}).")
    int epochs = 10;

    @Option(names = "--lr", description = "SGD learning rate (default: ${DEFAULT-VALUE}).")
    double lr = 0.1;

    /** The notebook's 60,000 images in batches of 1000: 60 SGD steps an epoch. */
    static final int NOTEBOOK_STEPS_PER_EPOCH = 60;

    @Option(names = "--batch-size", description = "Mini-batch size (default: the notebook's 1000 on the full 60,000"
            + " images; on fewer, scaled to keep its 60 steps an epoch, e.g. 100 on the bundled 6,000).")
    Integer batchSize;

    @Mixin
    DataDirOption dataDir = new DataDirOption();

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Option(names = "--seed", description = "Seed of everything random (default: ${DEFAULT-VALUE}).")
    long seed = 42;

    @Mixin
    OutputDirOption output = OutputDirOption.withDefault(Path.of("out", "demo"));

    @Option(names = "--train-limit", description = "Use only the first N training images (0 = all; default: ${DEFAULT-VALUE}).")
    int trainLimit = 0;

    @Option(names = "--test-limit", description = "Use only the first N test images (0 = all; default: ${DEFAULT-VALUE}).")
    int testLimit = 0;

    @Mixin
    ProgressOption progress = new ProgressOption();

    @Option(names = "--shared-mask", description = "Draw each dropout mask once per feature and share it across the"
            + " batch, exactly as the notebook's Dropout1D does (default: a mask per element).")
    boolean sharedMask;

    @Option(names = "--gyro", arity = "0..1", fallbackValue = "256,16", paramLabel = "SIGMA,TAU",
            description = "Also train a third run whose dropouts are swapped for Gyro Dropout by surgery, each"
                    + " keeping its p (SIGMA,TAU default 256,16; needs at least SIGMA steps in all).")
    String gyro;

    @Override
    public Integer call() throws Exception {
        Checks.positive("hidden width (-H)", hidden);
        GyroDropoutOptions gyroOptions = gyro == null ? null : gyroOptions(); // a bad --gyro fails before training
        Device dev = device.resolve();
        Path out = output.dir();
        System.out.println(TorchInfo.describe());
        System.out.println("device:  " + Devices.describe(dev));
        DataSource source = dataDir.source();
        System.out.println();
        System.out.println("DATA: " + source.description());
        System.out.println();
        List<TrainingHistory> runs = new ArrayList<>();
        try (IdxDataset train = IdxDataset.load(source.dir(), Split.TRAIN);
                IdxDataset test = IdxDataset.load(source.dir(), Split.TEST)) {
            int samples = trainLimit > 0 ? Math.min(trainLimit, train.size()) : train.size();
            int batchSize = this.batchSize != null ? (int) Checks.positive("--batch-size", this.batchSize)
                    : Math.max(1, Math.round(samples / (float) NOTEBOOK_STEPS_PER_EPOCH));
            if (source.kind() == DataSource.Kind.BUNDLED_SUBSET || samples < 60_000 && this.batchSize == null) {
                System.out.printf(Locale.ROOT, "%d training images: batch %d keeps the notebook's %d steps an epoch."
                        + " The full 60,000: apt-get install dataset-fashion-mnist, or --data-dir DIR%n", samples,
                        batchSize, NOTEBOOK_STEPS_PER_EPOCH);
            }
            Batches trainBatches = Batches.builder(train).batchSize(batchSize).shuffle(true).seed(seed)
                    .device(dev).normalization(Normalization.UNIT).flatten(true).limit(trainLimit).build();
            Batches testBatches = Batches.builder(test).batchSize(Math.max(batchSize, 1000)).shuffle(false)
                    .device(dev).normalization(Normalization.UNIT).flatten(true).limit(testLimit).build();
            System.out.printf(Locale.ROOT, "%d training / %d test images, batch %d, SGD lr %s, %d epochs, H = %d%n",
                    trainBatches.samples(), testBatches.samples(), batchSize, lr, epochs, hidden);
            List<String> names = new ArrayList<>(List.of("dropout", "no-dropout"));
            if (gyro != null) {
                names.add("gyro");
            }
            for (String name : names) {
                Seeds.seed(seed); // every run starts from the same initial weights
                Mlp net = Mlp.notebook(hidden, !name.equals("no-dropout"), sharedMask);
                Trainer.Builder builder = Trainer.builder(TrainableModel.of(net, net::forward)).name(name)
                        .optimizer(Optimizers.sgd(lr)).epochs(epochs).seed(seed).device(dev).callback(Progress.training(progress.mode(), name, System.out))
                        .outputDir(out);
                if (name.equals("gyro")) {
                    System.out.print("\n" + GyroDropout.apply(net, gyroOptions, true));
                    builder.callback(GyroDropoutCallback.forModel(net));
                }
                System.out.println();
                System.out.println("== " + name + ": " + net);
                runs.add(builder.build().fit(trainBatches, testBatches));
            }
        }
        System.out.println();
        EpochMetrics d = runs.get(0).last();
        EpochMetrics n = runs.get(1).last();
        System.out.printf(Locale.ROOT,
                "final (epoch %d): dropout test/acc=%.3f test/loss=%.3f | no-dropout test/acc=%.3f test/loss=%.3f"
                        + " | difference %+.3f%n",
                d.epoch(), d.testAccuracy(), d.testLoss(), n.testAccuracy(), n.testLoss(),
                d.testAccuracy() - n.testAccuracy());
        if (gyro != null) {
            EpochMetrics g = runs.get(2).last();
            System.out.printf(Locale.ROOT, "gyro dropout test/acc=%.3f test/loss=%.3f%n", g.testAccuracy(), g.testLoss());
        }
        Optional<Path> png = Plots.epochCurves(out.resolve("test-accuracy.png"),
                "Fashion-MNIST MLP (H=" + hidden + "): test accuracy", "test accuracy", runs,
                EpochMetrics::testAccuracy);
        System.out.println("wrote " + png.map(p -> p + ", ").orElse("") + out.resolve("metrics-dropout.csv") + ", "
                + out.resolve("metrics-no-dropout.csv") + " (and .json)");
        return 0;
    }

    private GyroDropoutOptions gyroOptions() {
        String[] parts = gyro.split(",");
        if (parts.length != 2) {
            throw new IllegalArgumentException("--gyro takes SIGMA,TAU (e.g. 256,16), got '" + gyro + "'");
        }
        try {
            return GyroDropoutOptions.builder().sigma(Integer.parseInt(parts[0].trim()))
                    .tau(Integer.parseInt(parts[1].trim())).build();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--gyro takes two integers SIGMA,TAU, got '" + gyro + "'");
        }
    }

    /** Runs the demo alone. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new DropoutNotebookDemo()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }
}
