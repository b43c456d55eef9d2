package com.example.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.gyro.GyroDropout;
import dev.dropkit.gyro.GyroDropoutCallback;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.util.Arrays;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * What a user's project does with only {@code dev.dropkit:dropkit} and {@code dropkit-natives-cpu} on its
 * classpath: write a model, put Gyro Dropout in it by surgery, and train it.
 */
class ConsumerTrainsWithGyroDropoutTest {

    /** A user's model: two linear layers with a libtorch dropout between them. */
    static final class TwoLayers extends Module {
        final LinearImpl hidden = register_module("hidden", new LinearImpl(8, 32));
        DropoutImpl dropout = register_module("dropout", new DropoutImpl(0.3));
        final LinearImpl out = register_module("out", new LinearImpl(32, 2));

        Tensor forward(Tensor x) {
            return out.forward(dropout.forward(torch.relu(hidden.forward(x))));
        }
    }

    @Test
    void aModelWithGyroDropoutTrainsAndItsLossFalls() {
        assertTrue(Arrays.stream(System.getProperty("java.class.path").split(":"))
                .noneMatch(p -> p.contains("linux-x86_64-gpu")), "the consumer runs on the CPU natives alone");
        torch.manual_seed(7);
        // two classes that a linear boundary separates: the sign of the first feature
        Tensor x = torch.randn(512, 8);
        Tensor y = x.select(1, 0).gt(new org.bytedeco.pytorch.Scalar(0)).to(torch.ScalarType.Long);
        TwoLayers model = new TwoLayers();
        String report = GyroDropout.apply(model, GyroDropoutOptions.builder().sigma(8).tau(2).build()).toString();
        assertTrue(report.contains("1 change"), report);
        Trainer trainer = Trainer.builder(TrainableModel.of(model, model::forward))
                .optimizer(Optimizers.sgd(0.1, 0.9)).epochs(3).seed(7).device(Devices.cpu())
                .callback(GyroDropoutCallback.forModel(model)).build();
        TrainingHistory history = trainer.fit(new TensorBatches(x, y, 32, true, 7, Devices.cpu()), null);
        assertEquals(3, history.epochs().size());
        double first = history.epochs().get(0).trainLoss();
        double last = history.last().trainLoss();
        assertTrue(last < 0.5 * first, "loss " + first + " -> " + last);
    }
}
