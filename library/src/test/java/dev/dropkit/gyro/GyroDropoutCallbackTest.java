package dev.dropkit.gyro;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.testing.Blobs;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GyroDropoutCallbackTest {
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

    /** A model whose Gyro Dropout leaves the run's length to the loop. */
    static final class Net extends Module {
        final LinearImpl fc1 = register_module("fc1", new LinearImpl(8, 32));
        final GyroDropout drop = register_module("drop",
                new GyroDropout(GyroDropoutOptions.builder().p(0.3).sigma(16).tau(4).build()));
        final LinearImpl fc2 = register_module("fc2", new LinearImpl(32, 4));

        Tensor forward(Tensor x) {
            return fc2.forward(drop.forward(torch.relu(fc1.forward(x))));
        }
    }

    static Trainer trainer(Net net, int epochs, Path checkpoint) {
        return Trainer.builder(TrainableModel.of(net, net::forward)).optimizer(Optimizers.adam(0.01)).epochs(epochs)
                .seed(11).device(Devices.cpu()).checkpoint(checkpoint)
                .callback(GyroDropoutCallback.forModel(net)).build();
    }

    static TensorBatches train() {
        return new TensorBatches(xTrain, yTrain, 64, true, 3, Devices.cpu()); // 8 batches per epoch
    }

    static TensorBatches test() {
        return new TensorBatches(xTest, yTest, 100, false, 0, Devices.cpu());
    }

    @Test
    void takesTheRunLengthFromTheLoopAndFollowsItsSteps() {
        Seeds.seed(1);
        Net net = new Net();
        TrainingHistory h = trainer(net, 3, null).fit(train(), test());
        assertEquals(8, net.drop.itersPerEpoch());
        assertEquals(3, net.drop.maxEpoch());
        assertEquals(4, net.drop.iterNum()); // floor(24 / 16) * 4
        assertEquals(24, net.drop.step());
        assertTrue(h.last().testAccuracy() > 0.7, "it still learns: " + h.last());

        GyroDropout fixed = new GyroDropout(GyroDropoutOptions.builder().sigma(16).tau(4).itersPerEpoch(100)
                .maxEpoch(2).build());
        GyroDropoutCallback callback = GyroDropoutCallback.of(fixed);
        Net other = new Net();
        Trainer.builder(TrainableModel.of(other, other::forward)).epochs(2).device(Devices.cpu())
                .callback(callback).callback(GyroDropoutCallback.of(other.drop)).build().fit(train(), null);
        assertEquals(100, fixed.itersPerEpoch(), "a length given in the options is kept");
        assertEquals(List.of(fixed), callback.modules());
        assertEquals(16, other.drop.step());
    }

    @Test
    void aTrainerCheckpointResumesGyroDropoutExactly(@TempDir Path dir) throws IOException {
        Seeds.seed(3);
        Net full = new Net();
        TrainingHistory uninterrupted = trainer(full, 3, null).fit(train(), test());

        Path ckpt = dir.resolve("gyro.ckpt");
        Seeds.seed(3);
        trainer(new Net(), 2, ckpt).fit(train(), test());

        Seeds.seed(999);
        Net resumedNet = new Net();
        Trainer resumed = trainer(resumedNet, 3, null);
        resumed.resume(ckpt);
        TrainingHistory h = resumed.fit(train(), test());

        EpochMetrics want = uninterrupted.epochs().get(2);
        EpochMetrics got = h.epochs().get(2);
        assertEquals(want.trainLoss(), got.trainLoss(), 0.0, "epoch 3 train loss");
        assertEquals(want.testLoss(), got.testLoss(), 0.0, "epoch 3 test loss");
        assertTrue(full.drop.masks().equal(resumedNet.drop.masks()), "same masks");
        assertArrayEquals(full.drop.activeSet(), resumedNet.drop.activeSet());
        assertEquals(full.drop.step(), resumedNet.drop.step());
        assertTrue(full.fc1.weight().equal(resumedNet.fc1.weight()), "identical parameters");
    }

    @Test
    void aLoopTooShortForSigmaOrAModelWithoutGyroDropoutIsAnError() {
        Net net = new Net();
        Trainer shortRun = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(1)
                .device(Devices.cpu()).callback(GyroDropoutCallback.forModel(net)).build();
        TensorBatches tiny = new TensorBatches(xTrain.narrow(0, 0, 40), yTrain.narrow(0, 0, 40), 8, false, 0,
                Devices.cpu()); // 5 steps < sigma 16
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> shortRun.fit(tiny, null));
        assertTrue(e.getMessage().contains("5 steps per epoch for 1 epochs")
                && e.getMessage().contains("fewer than sigma = 16"), e.getMessage());

        LinearImpl plain = new LinearImpl(8, 4);
        Trainer none = Trainer.builder(TrainableModel.of(plain, plain::forward)).epochs(1)
                .device(Devices.cpu()).callback(GyroDropoutCallback.forModel(plain)).build();
        IllegalStateException s = assertThrows(IllegalStateException.class, () -> none.fit(train(), null));
        assertTrue(s.getMessage().contains("found no GyroDropout"), s.getMessage());
        assertThrows(IllegalArgumentException.class, GyroDropoutCallback::of);
    }
}
