package dev.dropkit.examples.depth;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.data.Batch;
import dev.dropkit.data.Batches;
import dev.dropkit.data.DataSource;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.depth.DepthMethod;
import dev.dropkit.depth.DropDistribution;
import dev.dropkit.depth.StochasticDepthCallback;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.depth.StochasticDepthSurgery;
import dev.dropkit.models.ResNet;
import dev.dropkit.surgery.SurgeryReport;
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
 * A small-width ResNet with Bottleneck blocks on Fashion-MNIST, trained without stochastic depth and
 * with it (sample-wise, block-wise, and the fast kept-only sample-wise mode), from the same initial
 * weights and batch order: a table of accuracy and time per epoch, and a PNG of the test-accuracy curves.
 */
@Command(name = "stochastic-depth", mixinStandardHelpOptions = true,
        description = "Stochastic depth on a small Bottleneck ResNet, Fashion-MNIST: accuracy and time per epoch.")
public final class StochasticDepthExample implements Callable<Integer> {
    @Option(names = "--runs", split = ",", description = "Runs as none or METHOD:RATE with METHOD sample, block or"
            + " sample_fast (default: ${DEFAULT-VALUE}).")
    List<String> runs = List.of("none", "sample:0.1", "block:0.2", "sample_fast:0.1");

    @Option(names = "--distribution", description = "drop_distribution: uniform or linear (default: ${DEFAULT-VALUE}).")
    String distribution = "linear";

    @Option(names = "--warmup", description = "drop_warmup: fraction of training to ramp rates up (default: ${DEFAULT-VALUE}).")
    double warmup = 0.0;

    @Option(names = "--epochs", description = "Epochs per run (default: ${DEFAULT-VALUE}).")
    int epochs = 4;

    @Option(names = "--batch", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch = 64;

    @Option(names = "--lr", description = "SGD learning rate, momentum 0.9 (default: ${DEFAULT-VALUE}).")
    double lr = 0.05;

    @Option(names = "--depths", split = ",", description = "Bottlenecks per stage (default: ${DEFAULT-VALUE}).")
    int[] depths = {2, 2, 2};

    @Option(names = "--width", description = "Width of the first stage; doubles per stage (default: ${DEFAULT-VALUE}).")
    int width = 8;

    @Option(names = "--train-limit", description = "Training samples used, 0 for all (default: ${DEFAULT-VALUE}).")
    int trainLimit = 12_000;

    @Option(names = "--test-limit", description = "Test samples used, 0 for all (default: ${DEFAULT-VALUE}).")
    int testLimit = 0;

    @Mixin
    DataDirOption dataDir = new DataDirOption();

    @Option(names = "--seed", description = "Seed of weights, batch order and drops (default: ${DEFAULT-VALUE}).")
    long seed = 42;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Mixin
    OutputDirOption output = OutputDirOption.withDefault(Path.of("target", "stochastic-depth"));

    @Mixin
    ProgressOption progress = new ProgressOption();

    /** One configuration: no stochastic depth ({@code method == null}) or a method and a drop rate. */
    record Run(String label, DepthMethod method, double rate) {
        static Run parse(String spec) {
            String s = spec.trim();
            if (s.equalsIgnoreCase("none")) {
                return new Run("none", null, 0);
            }
            int colon = s.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("a run must be none or METHOD:RATE (e.g. sample:0.1), got '" + spec + "'");
            }
            DepthMethod m = DepthMethod.parse(s.substring(0, colon));
            double rate;
            try {
                rate = Double.parseDouble(s.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("the rate of run '" + spec + "' is not a number");
            }
            return new Run(m.id() + "-" + rate, m, rate);
        }
    }

    @Override
    public Integer call() throws IOException {
        Device dev = device.resolve();
        Path out = output.dir();
        DropDistribution dist = DropDistribution.parse(distribution);
        List<Run> plan = runs.stream().map(Run::parse).toList();
        DataSource data = dataDir.source();
        System.out.println(TorchInfo.describe().replace("\n", "; ") + "; device " + Devices.describe(dev));
        System.out.println("data: " + data.description());

        List<TrainingHistory> histories = new ArrayList<>();
        List<String> surgery = new ArrayList<>();
        try (IdxDataset train = IdxDataset.load(data.dir(), Split.TRAIN);
                IdxDataset test = IdxDataset.load(data.dir(), Split.TEST)) {
            Batches trainBatches = Batches.builder(train).batchSize(batch).shuffle(true).seed(seed).device(dev)
                    .normalization(Normalization.FASHION_MNIST).flatten(false)
                    .limit(Math.min(trainLimit, train.size())).build();
            Batches testBatches = Batches.builder(test).batchSize(256).shuffle(false).device(dev)
                    .normalization(Normalization.FASHION_MNIST).flatten(false)
                    .limit(Math.min(testLimit, test.size())).build();
            System.out.printf(Locale.ROOT, "%d training and %d test images, batch %d, %d epochs, SGD lr %s momentum 0.9%n",
                    trainBatches.samples(), testBatches.samples(), batch, epochs, lr);
            for (Run run : plan) {
                Seeds.seed(seed); // same initial weights for every run
                ResNet net = ResNet.builder().blockType(ResNet.BlockType.BOTTLENECK).depths(depths).baseWidth(width)
                        .inputChannels(1).classes(10).stem(ResNet.Stem.SMALL).build();
                Trainer.Builder trainer = Trainer.builder(TrainableModel.of(net, net::forward))
                        .optimizer(Optimizers.sgd(lr, 0.9)).epochs(epochs).seed(seed).device(dev)
                        .callback(Progress.training(progress.mode(), run.label(), System.out)).outputDir(out).name(run.label());
                if (run.method() != null) {
                    StochasticDepthOptions options = StochasticDepthOptions.builder().targetLayerName("ResNetBottleneck")
                            .method(run.method()).dropRate(run.rate()).distribution(dist).warmup(warmup).build();
                    SurgeryReport report = StochasticDepthSurgery.apply(net, options);
                    surgery.add(run.label() + ": " + report.count() + " blocks, " + options);
                    trainer.callback(StochasticDepthCallback.forModel(net, options));
                }
                System.out.println("== " + run.label() + ": " + net);
                histories.add(trainer.build().fit(trainBatches, testBatches));
            }
        }
        surgery.forEach(System.out::println);
        printTable(histories);
        Optional<Path> png = Plots.epochCurves(out.resolve("stochastic-depth-test-accuracy.png"),
                "Stochastic depth, Bottleneck ResNet on Fashion-MNIST", "test accuracy", histories,
                EpochMetrics::testAccuracy);
        System.out.println(png.map(p -> "curves: " + p + "; ").orElse("") + "metrics: " + out.resolve("metrics-<run>.csv"));
        return 0;
    }

    private static void printTable(List<TrainingHistory> histories) {
        double base = secondsPerEpoch(histories.get(0));
        System.out.printf(Locale.ROOT, "%-18s %10s %10s %10s %12s %8s%n", "run", "test acc", "best acc", "train acc",
                "s / epoch", "time");
        for (TrainingHistory h : histories) {
            EpochMetrics last = h.last();
            double best = h.epochs().stream().mapToDouble(EpochMetrics::testAccuracy).max().orElse(Double.NaN);
            double sec = secondsPerEpoch(h);
            System.out.printf(Locale.ROOT, "%-18s %10.4f %10.4f %10.4f %12.2f %8.3f%n", h.name(), last.testAccuracy(),
                    best, last.trainAccuracy(), sec, sec / base);
        }
    }

    private static double secondsPerEpoch(TrainingHistory h) {
        return h.epochs().stream().mapToDouble(EpochMetrics::seconds).average().orElse(Double.NaN);
    }

    /** Runs the example alone. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new StochasticDepthExample()).execute(args));
    }
}
