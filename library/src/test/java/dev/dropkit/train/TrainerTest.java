package dev.dropkit.train;

import static dev.dropkit.testing.ParsedJson.fieldNames;
import static dev.dropkit.testing.ParsedJson.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.testing.Blobs;
import dev.dropkit.testing.TestDevices;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class TrainerTest {
    static Tensor xTrain;
    static Tensor yTrain;
    static Tensor xTest;
    static Tensor yTest;

    /** The shared four-blob data set. */
    @BeforeAll
    static void data() {
        Blobs blobs = Blobs.fourInEightD();
        xTrain = blobs.xTrain();
        yTrain = blobs.yTrain();
        xTest = blobs.xTest();
        yTest = blobs.yTest();
    }

    static final class Net extends Module {
        final LinearImpl fc1 = register_module("fc1", new LinearImpl(8, 32));
        final Dropout drop = register_module("drop", new Dropout(0.3));
        final LinearImpl fc2 = register_module("fc2", new LinearImpl(32, 4));

        Tensor forward(Tensor x) {
            return fc2.forward(drop.forward(torch.relu(fc1.forward(x))));
        }
    }

    static Trainer trainer(Net net, int epochs, Optimizers.Factory opt, Path checkpoint) {
        return Trainer.builder(TrainableModel.of(net, net::forward)).optimizer(opt).epochs(epochs).seed(11)
                .device(Devices.cpu()).checkpoint(checkpoint).build();
    }

    static TensorBatches train() {
        return new TensorBatches(xTrain, yTrain, 64, true, 3, Devices.cpu());
    }

    static TensorBatches test() {
        return new TensorBatches(xTest, yTest, 100, false, 0, Devices.cpu());
    }

    @Test
    void lossGoesDownAndAccuracyRises() {
        Seeds.seed(1);
        Net net = new Net();
        TrainingHistory h = trainer(net, 4, Optimizers.sgd(0.1), null).fit(train(), test());
        assertEquals(4, h.epochs().size());
        EpochMetrics first = h.epochs().get(0);
        EpochMetrics last = h.last();
        assertTrue(last.trainLoss() < 0.7 * first.trainLoss(), first + " -> " + last);
        assertTrue(last.testAccuracy() > 0.8, "test accuracy " + last.testAccuracy());
    }

    @Test
    void aFixedSeedReproducesTheRunExactly() {
        Seeds.seed(2);
        TrainingHistory a = trainer(new Net(), 2, Optimizers.adam(0.01), null).fit(train(), test());
        Seeds.seed(2);
        TrainingHistory b = trainer(new Net(), 2, Optimizers.adam(0.01), null).fit(train(), test());
        for (int i = 0; i < 2; i++) {
            assertEquals(a.epochs().get(i).trainLoss(), b.epochs().get(i).trainLoss(), 0.0);
            assertEquals(a.epochs().get(i).testLoss(), b.epochs().get(i).testLoss(), 0.0);
        }
    }

    @Test
    void resumingFromACheckpointEqualsTheUninterruptedRun(@TempDir Path dir) throws IOException {
        for (Optimizers.Factory opt : List.of(Optimizers.sgd(0.05, 0.9), Optimizers.adam(0.01))) {
            Seeds.seed(3);
            Net full = new Net();
            TrainingHistory uninterrupted = trainer(full, 3, opt, null).fit(train(), test());

            Path ckpt = dir.resolve("run.ckpt");
            Seeds.seed(3);
            trainer(new Net(), 2, opt, ckpt).fit(train(), test());

            Seeds.seed(999); // a different process state: resume must not depend on it
            Net resumedNet = new Net();
            Trainer resumed = trainer(resumedNet, 3, opt, null);
            resumed.resume(ckpt);
            assertEquals(2, resumed.history().epochs().size());
            TrainingHistory h = resumed.fit(train(), test());

            EpochMetrics want = uninterrupted.epochs().get(2);
            EpochMetrics got = h.epochs().get(2);
            assertEquals(want.trainLoss(), got.trainLoss(), 0.0, "epoch 3 train loss");
            assertEquals(want.testLoss(), got.testLoss(), 0.0, "epoch 3 test loss");
            assertEquals(want.testAccuracy(), got.testAccuracy(), 0.0);
            assertEquals(uninterrupted.epochs().get(0).trainLoss(), h.epochs().get(0).trainLoss(), 0.0,
                    "restored history");
            assertTrue(full.fc1.weight().equal(resumedNet.fc1.weight()), "identical parameters");
        }
    }

    @Test
    void resumeRejectsAMissingFileAndAnotherSeed(@TempDir Path dir) throws IOException {
        Trainer t = trainer(new Net(), 1, Optimizers.sgd(0.1), dir.resolve("a.ckpt"));
        assertThrows(IOException.class, () -> t.resume(dir.resolve("missing.ckpt")));
        t.fit(train(), null);
        Trainer other = Trainer.builder(TrainableModel.of(new Net(), x -> x)).seed(12)
                .device(Devices.cpu()).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> other.resume(dir.resolve("a.ckpt")));
        assertTrue(e.getMessage().contains("seed 11"), e.getMessage());
        Files.writeString(dir.resolve("junk.ckpt"), "not an archive");
        IOException junk = assertThrows(IOException.class, () -> t.resume(dir.resolve("junk.ckpt")));
        assertTrue(junk.getMessage().contains("junk.ckpt cannot be read"), junk.getMessage());
        Path foreign = dir.resolve("foreign.ckpt"); // a libtorch archive without dropkit's entries
        OutputArchive archive = new OutputArchive();
        archive.write("x", torch.ones(1));
        archive.save_to(foreign.toString());
        IOException notOurs = assertThrows(IOException.class, () -> t.resume(foreign));
        assertTrue(notOurs.getMessage().contains("not a dropkit checkpoint"), notOurs.getMessage());
    }

    /** What a callback creates in any per-step hook, onBatchEnd included, is freed with the step. */
    @Test
    void tensorsCallbacksCreateInAStepAreFreedWithIt() {
        List<Tensor> made = new ArrayList<>();
        TrainingCallback maker = new TrainingCallback() {
            @Override
            public void onBatchBegin(TrainingContext c) {
                made.add(torch.ones(4));
            }

            @Override
            public void beforeOptimizerStep(TrainingContext c) {
                made.add(torch.ones(4));
            }

            @Override
            public void onBatchEnd(TrainingContext c, double loss) {
                made.add(torch.ones(4));
            }
        };
        Net net = new Net();
        Trainer.builder(TrainableModel.of(net, net::forward)).epochs(1).device(Devices.cpu()).callback(maker)
                .build().fit(new TensorBatches(xTrain.narrow(0, 0, 20), yTrain.narrow(0, 0, 20), 10, false, 0,
                        Devices.cpu()), null);
        assertEquals(6, made.size());
        for (int i = 0; i < made.size(); i++) {
            assertTrue(made.get(i).isNull(), "tensor " + i + " (hook " + i % 3 + " of its step) outlived the step");
        }
    }

    @Test
    void callbacksSeeEveryHookInOrderWithTheRightCounters() {
        List<String> calls = new ArrayList<>();
        TrainingCallback spy = new TrainingCallback() {
            @Override
            public void onTrainBegin(TrainingContext c) {
                calls.add("train-begin " + c.totalSteps());
            }

            @Override
            public void onEpochBegin(TrainingContext c) {
                calls.add("epoch-begin " + c.epoch());
            }

            @Override
            public void onBatchBegin(TrainingContext c) {
                calls.add("batch " + c.epoch() + "." + c.step() + " g" + c.globalStep());
            }

            @Override
            public void beforeOptimizerStep(TrainingContext c) {
                assertTrue(c.model().parameters().get(0).grad().defined(), "gradients exist before the step");
                calls.add("pre-step");
            }

            @Override
            public void onEpochEnd(TrainingContext c, EpochMetrics m) {
                calls.add("epoch-end " + m.epoch());
            }

            @Override
            public void onTrainEnd(TrainingContext c, TrainingHistory h) {
                calls.add("train-end " + h.epochs().size());
            }
        };
        Net net = new Net();
        Trainer.builder(TrainableModel.of(net, net::forward)).epochs(2).device(Devices.cpu()).callback(spy)
                .build().fit(new TensorBatches(xTrain.narrow(0, 0, 20), yTrain.narrow(0, 0, 20), 10, false, 0,
                        Devices.cpu()), null);
        assertEquals(List.of("train-begin 4", "epoch-begin 0", "batch 0.0 g0", "pre-step", "batch 0.1 g1",
                "pre-step", "epoch-end 1", "epoch-begin 1", "batch 1.0 g2", "pre-step", "batch 1.1 g3", "pre-step",
                "epoch-end 2", "train-end 2"), calls);
    }

    @Test
    void metricsGoToCsvAndJson(@TempDir Path dir) throws IOException {
        Net net = new Net();
        TrainingHistory h = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(2).name("tiny")
                .device(Devices.cpu()).outputDir(dir).build().fit(train(), test());
        List<String> csv = Files.readAllLines(dir.resolve("metrics-tiny.csv"));
        assertEquals("epoch,train_loss,train_acc,test_loss,test_acc,seconds", csv.get(0));
        assertEquals(3, csv.size());
        assertTrue(csv.get(2).startsWith("2,"));
        String text = Files.readString(dir.resolve("metrics-tiny.json"));
        JsonNode json = parse(text);
        assertEquals(List.of("name", "epochs"), fieldNames(json), text);
        assertEquals("tiny", json.get("name").textValue(), text);
        assertEquals(2, json.get("epochs").size(), text);
        assertEquals(2, h.epochs().size());
        for (int i = 0; i < 2; i++) {
            JsonNode row = json.get("epochs").get(i);
            EpochMetrics m = h.epochs().get(i);
            assertEquals(List.of("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"), fieldNames(row));
            assertEquals(i + 1, row.get("epoch").intValue(), text);
            assertEquals(m.trainLoss(), row.get("train_loss").doubleValue(), 1e-6, text);
            assertEquals(m.trainAccuracy(), row.get("train_acc").doubleValue(), 1e-6, text);
            assertEquals(m.testLoss(), row.get("test_loss").doubleValue(), 1e-6, text);
            assertEquals(m.testAccuracy(), row.get("test_acc").doubleValue(), 1e-6, text);
            assertEquals(m.seconds(), row.get("seconds").doubleValue(), 1e-3, text);
        }
    }

    /** Without a test set the test metrics were never measured: null, not NaN (which is not JSON) or 0. */
    @Test
    void metricsWithoutATestSetAreValidJsonWithNulls(@TempDir Path dir) throws IOException {
        Net net = new Net();
        Trainer.builder(TrainableModel.of(net, net::forward)).epochs(1).name("no-eval").device(Devices.cpu())
                .outputDir(dir).build().fit(train(), null);
        String text = Files.readString(dir.resolve("metrics-no-eval.json"));
        JsonNode row = parse(text).get("epochs").get(0);
        assertTrue(row.get("test_loss").isNull() && row.get("test_acc").isNull(), text);
        assertTrue(row.get("train_loss").isNumber() && row.get("train_acc").isNumber(), text);
    }

    /** Trainer names are plain, but a history's name is any string (a plot label): it is escaped. */
    @Test
    void historyJsonEscapesAnyName() {
        String name = "run \"1\"\\C:\\tmp\n\t\u0001\u001f\u2028 é";
        TrainingHistory h = new TrainingHistory(name);
        h.add(new EpochMetrics(1, 0.5, 0.25, Double.NaN, Double.POSITIVE_INFINITY, 1.5));
        JsonNode json = parse(h.toJson());
        assertEquals(name, json.get("name").textValue(), h.toJson());
        JsonNode row = json.get("epochs").get(0);
        assertEquals(0.5, row.get("train_loss").doubleValue());
        assertTrue(row.get("test_loss").isNull() && row.get("test_acc").isNull(), h.toJson());
        assertEquals(0, parse(new TrainingHistory("empty").toJson()).get("epochs").size());
    }

    @Test
    void optionsAreValidated() {
        Trainer.Builder b = Trainer.builder(TrainableModel.of(new Net(), x -> x));
        assertThrows(IllegalArgumentException.class, () -> b.epochs(0));
        assertThrows(IllegalArgumentException.class, () -> b.name("a b"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Optimizers.sgd(-1));
        assertTrue(e.getMessage().contains("-1"));
        assertThrows(IllegalArgumentException.class, () -> Optimizers.sgd(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Optimizers.named("rmsprop", 0.1));
    }

    @Test
    void aDivergingLossStopsWithAClearMessage() {
        Net net = new Net();
        Trainer t = Trainer.builder(TrainableModel.of(net, x -> net.forward(x).mul(new Scalar(Double.NaN))))
                .epochs(1).device(Devices.cpu()).build();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.fit(train(), null));
        assertTrue(e.getMessage().contains("loss became NaN at epoch 1, step 1"), e.getMessage());
    }
    @Test
    void accumulationStepsCountsAndTheTrailingGroupIsSteppedAtTheEpochsEnd() {
        List<String> calls = new ArrayList<>();
        TrainingCallback spy = new TrainingCallback() {
            @Override
            public void onTrainBegin(TrainingContext c) {
                calls.add("train-begin " + c.totalSteps() + " " + c.optimizerStepsPerEpoch());
            }

            @Override
            public void onBatchBegin(TrainingContext c) {
                calls.add("batch " + c.epoch() + "." + c.step() + " m" + c.microBatch() + " g" + c.globalStep());
            }

            @Override
            public void beforeOptimizerStep(TrainingContext c) {
                calls.add("pre-step");
            }
        };
        Net net = new Net();
        Trainer.builder(TrainableModel.of(net, net::forward)).epochs(2).device(Devices.cpu()).callback(spy)
                .accumulationSteps(2).build().fit(new TensorBatches(xTrain.narrow(0, 0, 30),
                        yTrain.narrow(0, 0, 30), 10, false, 0, Devices.cpu()), null);
        assertEquals(List.of("train-begin 4 2",
                "batch 0.0 m0 g0", "batch 0.1 m1 g0", "pre-step", "batch 0.2 m0 g1", "pre-step",
                "batch 1.0 m0 g2", "batch 1.1 m1 g2", "pre-step", "batch 1.2 m0 g3", "pre-step"), calls);
    }

    /** Two micro-batches of 8 with the loss divided by 2 step like one batch of 16 (no dropout, plain SGD). */
    @Test
    void accumulatingTwoHalfBatchesStepsLikeOneFullBatch() {
        TensorBatches full = new TensorBatches(xTrain.narrow(0, 0, 64), yTrain.narrow(0, 0, 64), 16, false, 0,
                Devices.cpu());
        TensorBatches halves = new TensorBatches(xTrain.narrow(0, 0, 64), yTrain.narrow(0, 0, 64), 8, false, 0,
                Devices.cpu());
        List<Tensor> after = new ArrayList<>();
        for (int steps : new int[] {1, 2}) {
            Seeds.seed(31);
            Net net = new Net();
            Trainer.builder(TrainableModel.of(net, x -> net.fc2.forward(torch.relu(net.fc1.forward(x))))) // no dropout
                    .optimizer(Optimizers.sgd(0.5)).epochs(2).seed(5).device(Devices.cpu())
                    .accumulationSteps(steps).build().fit(steps == 1 ? full : halves, null);
            after.add(net.fc1.weight().clone());
        }
        assertTrue(after.get(0).allclose(after.get(1), 1e-5, 1e-6, false), "same parameters after 8 SGD steps");
        assertTrue(after.get(0).sub(after.get(1)).abs().max().item_double() < 1e-5);
    }

    @Test
    void accumulationStepsBelowOneAreRejectedWithTheValue() {
        Trainer.Builder b = Trainer.builder(TrainableModel.of(new Net(), x -> x));
        for (int bad : new int[] {0, -3}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.accumulationSteps(bad));
            assertEquals("accumulationSteps must be at least 1, got " + bad, e.getMessage());
        }
    }

    /**
     * The loss and the correct count a step reports are the batch's, on every device (off the CPU they come
     * back in one copy instead of two item() calls): checked against the loss computed on the CPU and a count
     * made in Java from the logits.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void lossAndCorrectAreTheBatchsOnEveryDevice(String name) {
        Device device = TestDevices.device(name);
        Seeds.seed(5);
        Tensor logitsCpu = torch.randn(64, 10);
        Tensor targetsCpu = torch.randint(10, new long[] {64});
        double[] logits = dev.dropkit.core.Tensors.toDoubleArray(logitsCpu);
        double[] targets = dev.dropkit.core.Tensors.toDoubleArray(targetsCpu);
        long expectedCorrect = 0;
        for (int row = 0; row < 64; row++) {
            int best = 0;
            for (int c = 1; c < 10; c++) {
                best = logits[row * 10 + c] > logits[row * 10 + best] ? c : best;
            }
            expectedCorrect += best == (int) targets[row] ? 1 : 0;
        }
        double expectedLoss = torch.cross_entropy(logitsCpu, targetsCpu).item_double();
        Tensor onDevice = logitsCpu.to(device, torch.ScalarType.Float);
        Tensor targetsOnDevice = targetsCpu.to(device, torch.ScalarType.Long);
        double[] read = Trainer.lossAndCorrect(torch.cross_entropy(onDevice, targetsOnDevice), onDevice,
                targetsOnDevice);
        assertEquals(expectedCorrect, (long) read[1], "correct predictions");
        assertTrue(expectedCorrect > 0 && expectedCorrect < 64, "the batch has right and wrong predictions");
        // float32 cross-entropy on another device may sum in another order: a few ulps of the loss
        assertEquals(expectedLoss, read[0], 64 * Math.ulp((float) expectedLoss), "loss");
    }
}
