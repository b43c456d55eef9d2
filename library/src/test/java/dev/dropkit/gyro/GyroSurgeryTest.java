package dev.dropkit.gyro;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Modules;
import dev.dropkit.core.Seeds;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.surgery.SurgeryReport;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class GyroSurgeryTest {

    /** A model with both kinds of dropout, in a field typed DropoutImpl, one typed Dropout and a list. */
    static final class Net extends Module {
        final LinearImpl fc1 = register_module("fc1", new LinearImpl(8, 32));
        DropoutImpl drop1 = register_module("drop1", new DropoutImpl(0.3));
        final LinearImpl fc2 = register_module("fc2", new LinearImpl(32, 32));
        Dropout drop2;
        final List<Module> tail = new ArrayList<>(List.of(register_module("drop3", new DropoutImpl(0.1))));
        final LinearImpl out = register_module("out", new LinearImpl(32, 4));


        Net() {
            this(DropoutMode.CLASSIC);
        }

        Net(DropoutMode drop2Mode) {
            super("Net");
            drop2 = register_module("drop2", new Dropout(0.2, drop2Mode));
        }

        Tensor forward(Tensor x) {
            x = drop1.forward(torch.relu(fc1.forward(x)));
            x = drop2.forward(torch.relu(fc2.forward(x)));
            return out.forward(((DropoutImpl) tail.get(0)).forward(x));
        }
    }

    static GyroDropoutOptions options() {
        return GyroDropoutOptions.builder().p(0.5).sigma(8).tau(2).build();
    }

    @Test
    void replacesNativeAndDropkitDropoutsKeepingNamesAndTheModelTrains() {
        Seeds.seed(5);
        Net net = new Net();
        List<String> params = Modules.namedParameterNames(net);
        SurgeryReport report = GyroDropout.apply(net, options());
        assertEquals(List.of("drop1", "drop3", "drop2"), report.paths(), report.toString()); // registration order
        assertTrue(report.warnings().isEmpty(), report.toString());
        assertTrue(net.drop1 instanceof GyroDropout && net.drop2 instanceof GyroDropout
                && net.tail.get(0) instanceof GyroDropout, "Java references swapped");
        assertEquals(3, GyroDropout.findIn(net).size(), "libtorch holds the new modules");
        assertEquals(params, Modules.namedParameterNames(net), "parameter names unchanged");
        assertEquals(0.5, ((GyroDropout) net.drop1).p());

        Tensor x = torch.randn(256, 8);
        Tensor y = x.narrow(1, 0, 4).argmax(new org.bytedeco.pytorch.LongOptional(1), false);
        TensorBatches batches = new TensorBatches(x, y, 32, true, 1, Devices.cpu());
        Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(3)
                .device(Devices.cpu()).callback(GyroDropoutCallback.forModel(net)).build();
        TrainingHistory h = trainer.fit(batches, batches);
        assertTrue(h.last().trainLoss() < h.epochs().get(0).trainLoss(), "it trains: " + h.epochs());
        GyroDropout g = (GyroDropout) net.drop1;
        assertEquals(8, g.itersPerEpoch(), "run length taken from the loop");
        assertEquals(3, g.maxEpoch());
        assertEquals(24, g.step(), "one step per optimizer step");
    }

    @Test
    void applyingTwiceChangesNothingTheSecondTime() {
        Net net = new Net();
        GyroDropout.apply(net, options());
        Module before = net.drop1;
        SurgeryReport again = GyroDropout.apply(net, options());
        assertEquals(0, again.count());
        assertTrue(again.warnings().get(0).contains("nothing was changed"), again.toString());
        assertTrue(before == net.drop1);
    }

    @Test
    void canKeepEachDropoutsOwnP() {
        Net net = new Net();
        GyroDropout.apply(net, options(), true);
        assertEquals(0.3, ((GyroDropout) net.drop1).p(), 1e-12);
        assertEquals(0.2, ((GyroDropout) net.drop2).p(), 1e-12);
        assertEquals(0.1, ((GyroDropout) net.tail.get(0)).p(), 1e-12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GyroDropout.apply(new Holder(new Dropout(1.0)), options(), true));
        assertTrue(e.getMessage().contains("all has p = 1.0"), e.getMessage());
    }

    /** A p = 1 dropout after two good ones: the surgery fails before it swaps anything. */
    @Test
    void aFailingReplacementLeavesTheWholeModelAsItWas() {
        Three net = new Three();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GyroDropout.apply(net, options(), true));
        assertTrue(e.getMessage().contains("last has p = 1.0"), e.getMessage());
        assertTrue(net.first instanceof DropoutImpl && net.second instanceof DropoutImpl, "Java references unchanged");
        assertEquals(0, GyroDropout.findIn(net).size(), "no GyroDropout registered");
    }

    static final class Three extends Module {
        Module first = register_module("first", new DropoutImpl(0.3));
        Module second = register_module("second", new DropoutImpl(0.5));
        Module last = register_module("last", new Dropout(1.0));

        Three() {
            super("Three");
        }
    }

    static final class Holder extends Module {
        final Dropout d;

        Holder(Dropout d) {
            super("Holder");
            this.d = register_module("all", d);
        }
    }

    @Test
    void aModelWithoutDropoutGetsAWarning() {
        Module plain = new Module("Plain");
        LinearImpl fc = plain.register_module("fc", new LinearImpl(2, 2));
        SurgeryReport r = GyroDropout.apply(plain, options());
        assertEquals(0, r.count());
        assertTrue(r.toString().contains("no module matched"), r.toString());
        assertTrue(fc.weight().defined());
    }

    @Test
    void evalOfTheRewrittenModelIsUnchanged() {
        Seeds.seed(8);
        Net net = new Net(DropoutMode.INVERTED); // inverted everywhere: eval is the identity before and after
        net.eval();
        Tensor x = torch.randn(16, 8);
        Tensor before = net.forward(x);
        GyroDropout.apply(net, options());
        assertFalse(net.drop1.is_training(), "a model in eval mode stays there: the new modules too");
        assertTrue(net.forward(x).equal(before), "eval output identical after surgery");
        assertTrue(before.abs().sum().item_double() > 0);
    }
}
