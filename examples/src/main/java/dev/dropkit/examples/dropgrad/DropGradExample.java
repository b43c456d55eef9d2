package dev.dropkit.examples.dropgrad;

import dev.dropkit.core.AtomicFiles;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.data.Batches;
import dev.dropkit.data.DataSource;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.dropgrad.DropGrad;
import dev.dropkit.dropgrad.DropGradCallback;
import dev.dropkit.examples.models.Mlp;
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
import java.io.IOException;
import java.nio.file.Files;
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
 * DropGrad on Fashion-MNIST: the notebook's MLP (three hidden layers, no dropout) trained with SGD and
 * with Adam, each with and without DropGrad (gradient hooks, one rate for every parameter), from the
 * same initial weights and batch order per seed. Prints a table of test accuracy and writes the
 * learning curves (PNG), per-run metrics (CSV/JSON) and the table (CSV) to {@code --out}.
 */
@Command(name = "dropgrad", mixinStandardHelpOptions = true,
        description = "Fashion-MNIST MLP with and without DropGrad, with SGD and Adam: test accuracy table and PNG.")
public final class DropGradExample implements Callable<Integer> {
    @Option(names = "--epochs", description = "Epochs per run (default: ${DEFAULT-VALUE}).")
    int epochs = 10;

    @Option(names = "--hidden", description = "Width of the MLP's three hidden layers (default: ${DEFAULT-VALUE}).")
    int hidden = 256;

    @Option(names = "--batch", description = "Mini-batch size (default: ${DEFAULT-VALUE}).")
    int batch = 64;

    @Option(names = "--lr-sgd", description = "SGD learning rate (default: ${DEFAULT-VALUE}).")
    double lrSgd = 0.1;

    @Option(names = "--lr-adam", description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    double lrAdam = 1e-3;

    @Option(names = "--rate", description = "DropGrad drop rate in [0, 1) (default: ${DEFAULT-VALUE}).")
    double rate = 0.1;

    @Option(names = "--seeds", split = ",", description = "Seeds; each runs all four variants (default: ${DEFAULT-VALUE}).")
    long[] seeds = {42};

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Mixin
    OutputDirOption output = OutputDirOption.withDefault(Path.of("out", "dropgrad"));

    @Option(names = "--train-limit", description = "Train on the first N samples only; 0 for all (default: ${DEFAULT-VALUE}).")
    int trainLimit = 0;

    @Mixin
    DataDirOption dataDir = new DataDirOption();

    @Mixin
    ProgressOption progress = new ProgressOption();

    /** Runs the example from a plain {@code java} command line. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new DropGradExample()).execute(args));
    }

    /** One finished run. */
    record Run(String optimizer, boolean dropGrad, long seed, TrainingHistory history) {}

    @Override
    public Integer call() throws IOException {
        DropGrad.builder().rate(rate); // validates the rate before any data is read
        Device dev = device.resolve();
        Path out = output.dir();
        DataSource data = dataDir.source();
        System.out.println(TorchInfo.describe());
        System.out.println("device:  " + Devices.describe(dev));
        System.out.println("data:    " + data.description());
        List<Run> runs = new ArrayList<>();
        try (IdxDataset train = data.load(Split.TRAIN); IdxDataset test = data.load(Split.TEST)) {
            for (long seed : seeds) {
                for (String optimizer : List.of("sgd", "adam")) {
                    for (boolean withDropGrad : new boolean[] {false, true}) {
                        runs.add(run(train, test, dev, optimizer, withDropGrad, seed, progress.mode()));
                    }
                }
            }
        }
        Files.createDirectories(out);
        String table = table(runs);
        System.out.print(table);
        AtomicFiles.writeString(out.resolve("dropgrad-summary.csv"), csv(runs));
        Optional<Path> png = Plots.epochCurves(out.resolve("dropgrad-test-accuracy.png"),
                "Fashion-MNIST MLP: test accuracy with and without DropGrad (rate " + rate + ")", "test accuracy",
                runs.stream().map(Run::history).toList(), EpochMetrics::testAccuracy);
        System.out.println("wrote " + png.map(p -> p + ", ").orElse("") + out.resolve("dropgrad-summary.csv")
                + " and metrics-*.csv/json");
        return 0;
    }

    private Run run(IdxDataset train, IdxDataset test, Device dev, String optimizer, boolean withDropGrad,
            long seed, Progress.Mode progressMode) {
        Seeds.seed(seed); // the same initial weights with and without DropGrad
        Mlp mlp = Mlp.notebook(hidden, false);
        String name = optimizer + (withDropGrad ? "+dropgrad" : "") + (seeds.length > 1 ? "-s" + seed : "");
        double lr = optimizer.equals("sgd") ? lrSgd : lrAdam;
        Trainer.Builder builder = Trainer.builder(TrainableModel.of(mlp, mlp::forward))
                .optimizer(Optimizers.named(optimizer, lr)).epochs(epochs).seed(seed).device(dev)
                .callback(Progress.training(progressMode, name, System.out)).outputDir(output.dir()).name(name);
        DropGradCallback callback = null;
        if (withDropGrad) {
            callback = DropGradCallback.hooks(DropGrad.builder().rate(rate).build(mlp));
            builder.callback(callback);
        }
        System.out.println("== " + name + " (" + optimizer + " lr " + lr + (withDropGrad ? ", DropGrad rate " + rate
                : ", no DropGrad") + ")");
        try {
            Batches trainBatches = Batches.builder(train).batchSize(batch).shuffle(true).seed(seed).device(dev)
                    .normalization(Normalization.UNIT).flatten(true).limit(trainLimit).build();
            Batches testBatches = Batches.builder(test).batchSize(1000).shuffle(false).device(dev)
                    .normalization(Normalization.UNIT).flatten(true).build();
            return new Run(optimizer, withDropGrad, seed, builder.build().fit(trainBatches, testBatches));
        } finally {
            if (callback != null) {
                callback.close(); // also when training failed
            }
        }
    }

    /** Final and best test accuracy, final training loss and time per epoch, one row per run. */
    String table(List<Run> runs) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%n%-8s %-9s %6s %10s %10s %11s %9s%n",
                "optimizer", "DropGrad", "seed", "final acc", "best acc", "train loss", "s/epoch"));
        for (Run r : runs) {
            List<EpochMetrics> e = r.history().epochs();
            EpochMetrics last = r.history().last();
            double best = e.stream().mapToDouble(EpochMetrics::testAccuracy).max().orElse(Double.NaN);
            double seconds = e.stream().mapToDouble(EpochMetrics::seconds).average().orElse(Double.NaN);
            sb.append(String.format(Locale.ROOT, "%-8s %-9s %6d %10.4f %10.4f %11.4f %9.2f%n", r.optimizer(),
                    r.dropGrad() ? "rate " + rate : "off", r.seed(), last.testAccuracy(), best, last.trainLoss(),
                    seconds));
        }
        return sb.toString();
    }

    private String csv(List<Run> runs) {
        StringBuilder sb = new StringBuilder("optimizer,dropgrad_rate,seed,epochs,final_test_acc,best_test_acc,"
                + "final_train_loss\n");
        for (Run r : runs) {
            EpochMetrics last = r.history().last();
            double best = r.history().epochs().stream().mapToDouble(EpochMetrics::testAccuracy).max().orElse(Double.NaN);
            sb.append(String.format(Locale.ROOT, "%s,%s,%d,%d,%.6f,%.6f,%.6f%n", r.optimizer(),
                    r.dropGrad() ? Double.toString(rate) : "", r.seed(), last.epoch(), last.testAccuracy(), best,
                    last.trainLoss()));
        }
        return sb.toString();
    }
}
