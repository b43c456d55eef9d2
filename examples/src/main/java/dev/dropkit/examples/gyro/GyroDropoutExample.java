package dev.dropkit.examples.gyro;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.data.Batches;
import dev.dropkit.data.DataSource;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.examples.models.Mlp;
import dev.dropkit.gyro.GyroDropout;
import dev.dropkit.gyro.GyroDropoutCallback;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.gyro.GyroSelection;
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
 * Dropout vs Gyro Dropout on Fashion-MNIST: the MLP 784-512-512-10 with dropout after each hidden layer,
 * trained with plain dropout and, after {@link GyroDropout#apply} surgery, with Gyro Dropout, over
 * several seeds; prints mean ± std test accuracy and writes a PNG of the mean curves.
 */
@Command(name = "gyro", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Dropout vs Gyro Dropout on a Fashion-MNIST MLP (784-512-512-10), several seeds, mean ± std.")
public final class GyroDropoutExample implements Callable<Integer> {
    @Option(names = "-p", description = "Drop probability of both methods (default: ${DEFAULT-VALUE}).")
    double p = 0.5;

    @Option(names = "--sigma", description = "Gyro: number of pre-selected sub-networks (default: ${DEFAULT-VALUE}).")
    int sigma = 256;

    @Option(names = "--tau", description = "Gyro: sub-networks active per step (default: ${DEFAULT-VALUE}).")
    int tau = 16;

    @Option(names = "--selection", description = "Gyro: permutation or iid (default: ${DEFAULT-VALUE}).")
    String selection = "permutation";

    @Option(names = "--seeds", split = ",", description = "Seeds, one run per method each (default: 1,2,3).")
    long[] seeds = {1, 2, 3};

    @Option(names = "--epochs", description = "Epochs per run (default: ${DEFAULT-VALUE}).")
    int epochs = 5;

    @Option(names = "--batch-size", description = "Mini-batch size, at least tau (default: ${DEFAULT-VALUE}).")
    int batchSize = 64;

    @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: ${DEFAULT-VALUE}).")
    double lr = 0.01;

    @Option(names = "--hidden", description = "Hidden width (default: ${DEFAULT-VALUE}).")
    int hidden = 512;

    @Mixin
    DataDirOption dataDir = new DataDirOption();

    @Option(names = "--train-limit", description = "Use only the first N training images (0 = all).")
    int trainLimit = 0;

    @Option(names = "--test-limit", description = "Use only the first N test images (0 = all).")
    int testLimit = 0;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Mixin
    OutputDirOption output = OutputDirOption.withDefault(Path.of("out", "gyro"));

    @Mixin
    ProgressOption progress = new ProgressOption();

    @Override
    public Integer call() throws Exception {
        Device dev = device.resolve();
        Path out = output.dir();
        GyroDropoutOptions gyro = GyroDropoutOptions.builder().p(p).sigma(sigma).tau(tau)
                .selection(GyroSelection.parse(selection)).build();
        System.out.println(TorchInfo.describe() + "\ndevice:  " + Devices.describe(dev));
        DataSource source = dataDir.source();
        System.out.println("\nDATA: " + source.description() + "\n");
        List<TrainingHistory> dropoutRuns = new ArrayList<>();
        List<TrainingHistory> gyroRuns = new ArrayList<>();
        try (IdxDataset train = IdxDataset.load(source.dir(), Split.TRAIN);
                IdxDataset test = IdxDataset.load(source.dir(), Split.TEST)) {
            for (long seed : seeds) {
                Batches trainBatches = Batches.builder(train).batchSize(batchSize).seed(seed).device(dev)
                        .normalization(Normalization.FASHION_MNIST).flatten(true).limit(trainLimit).build();
                Batches testBatches = Batches.builder(test).batchSize(1000).shuffle(false).device(dev)
                        .normalization(Normalization.FASHION_MNIST).flatten(true).limit(testLimit).build();
                for (boolean useGyro : new boolean[] {false, true}) {
                    String name = (useGyro ? "gyro" : "dropout") + "-seed" + seed;
                    Seeds.seed(seed); // both methods start from the same weights for a seed
                    Mlp net = new Mlp(784, hidden, 2, 10, new double[] {p, p}, DropoutMode.INVERTED);
                    Trainer.Builder builder = Trainer.builder(TrainableModel.of(net, net::forward)).name(name)
                            .optimizer(Optimizers.sgd(lr, 0.9)).epochs(epochs).seed(seed).device(dev)
                            .callback(Progress.training(progress.mode(), name, System.out)).outputDir(out);
                    if (useGyro) {
                        System.out.print("\n" + GyroDropout.apply(net, gyro));
                        builder.callback(GyroDropoutCallback.forModel(net));
                    }
                    System.out.println("\n== " + name + ": " + net);
                    TrainingHistory h = builder.build().fit(trainBatches, testBatches);
                    (useGyro ? gyroRuns : dropoutRuns).add(h);
                }
            }
        }
        TrainingHistory dropoutMean = mean("dropout (mean)", dropoutRuns);
        TrainingHistory gyroMean = mean("gyro dropout (mean)", gyroRuns);
        System.out.printf(Locale.ROOT, "%n%-14s %28s %16s%n", "method", "final test acc, mean ± std",
                "s/epoch (mean)");
        for (List<TrainingHistory> runs : List.of(dropoutRuns, gyroRuns)) {
            double[] acc = runs.stream().mapToDouble(h -> h.last().testAccuracy()).toArray();
            double secs = runs.stream().flatMap(h -> h.epochs().stream()).mapToDouble(EpochMetrics::seconds)
                    .average().orElse(Double.NaN);
            System.out.printf(Locale.ROOT, "%-14s %21.4f ± %.4f %16.2f%n", runs == gyroRuns ? "gyro dropout"
                    : "dropout", mean(acc), std(acc), secs);
        }
        Optional<Path> png = Plots.epochCurves(out.resolve("test-accuracy.png"), "Fashion-MNIST MLP: dropout vs Gyro Dropout ("
                + seeds.length + " seeds)", "test accuracy (mean over seeds)", List.of(dropoutMean, gyroMean),
                EpochMetrics::testAccuracy);
        System.out.println("wrote " + png.map(p -> p + " and ").orElse("") + "per-run metrics in " + out);
        return 0;
    }

    /** The per-epoch mean of several runs, for plotting. */
    static TrainingHistory mean(String name, List<TrainingHistory> runs) {
        TrainingHistory m = new TrainingHistory(name);
        int n = runs.get(0).epochs().size();
        for (int e = 0; e < n; e++) {
            int epoch = e;
            double[] cols = new double[5];
            for (TrainingHistory h : runs) {
                EpochMetrics x = h.epochs().get(epoch);
                double[] v = {x.trainLoss(), x.trainAccuracy(), x.testLoss(), x.testAccuracy(), x.seconds()};
                for (int i = 0; i < 5; i++) {
                    cols[i] += v[i] / runs.size();
                }
            }
            m.add(new EpochMetrics(e + 1, cols[0], cols[1], cols[2], cols[3], cols[4]));
        }
        return m;
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    /** Sample standard deviation (n - 1); 0 for a single run. */
    static double std(double[] v) {
        if (v.length < 2) {
            return 0;
        }
        double m = mean(v);
        double s = 0;
        for (double x : v) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    /** Runs the example alone. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new GyroDropoutExample()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }
}
