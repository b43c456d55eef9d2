package dev.dropkit.dropgrad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.schedule.Schedule;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingCallback;
import dev.dropkit.train.TrainingContext;
import dev.dropkit.train.TrainingHistory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BinaryOperator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.EmbeddingOptions;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.StepLR;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

@ExtendWith(NativeScopePerTest.class)
class DropGradTest {


    /**
     * Two linear layers with tanh (no ReLU, so no gradient element is exactly zero: a zero after DropGrad
     * means "dropped") and a parameter of its own, {@code scale}, that is neither a weight nor a bias.
     */
    static final class Net extends Module {
        final LinearImpl fc1;
        final LinearImpl fc2;
        final Tensor scale;

        Net(int in, int hidden, int out) {
            super("Net");
            fc1 = register_module("fc1", new LinearImpl(in, hidden));
            fc2 = register_module("fc2", new LinearImpl(hidden, out));
            scale = register_parameter("scale", torch.rand(out).add_(new Scalar(0.5)));
        }

        Tensor forward(Tensor x) {
            return fc2.forward(torch.tanh(fc1.forward(x))).mul(scale);
        }

        void backward(Tensor x, Tensor y) {
            torch.cross_entropy(forward(x), y).backward();
        }

        void zeroGrad() {
            var params = parameters();
            for (long i = 0; i < params.size(); i++) {
                params.get(i).mutable_grad().reset();
            }
        }
    }

    static Net net(Device dev, long seed) {
        Seeds.seed(seed);
        Net net = new Net(32, 256, 10);
        net.to(dev, false);
        return net;
    }

    static Tensor inputs(Device dev, int batch, int features) {
        return torch.randn(new long[] {batch, features}, Tensors.options(torch.ScalarType.Float, dev));
    }

    static Tensor targets(Device dev, int batch, int classes) {
        return torch.randint(classes, new long[] {batch}).to(dev, torch.ScalarType.Long);
    }

    /** A copy of every parameter's gradient, by name. */
    static Map<String, Tensor> grads(Module m) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        var named = m.named_parameters(true);
        for (long i = 0; i < named.size(); i++) {
            Tensor g = named.get(i).value().grad();
            out.put(named.get(i).key().getString(), g.defined() ? g.clone() : new Tensor());
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void hookedSurvivorsAreTheUnhookedGradientOfTheSameBatchTimesExactlyOneOverOneMinusRate(String name) {
        Device dev = TestDevices.device(name);
        Net net = net(dev, 1);
        Tensor x = inputs(dev, 16, 32);
        Tensor y = targets(dev, 16, 10);
        net.backward(x, y);
        Map<String, Tensor> raw = grads(net);
        net.zeroGrad();
        double rate = 0.3;
        DropGrad dropGrad = DropGrad.builder().rate(rate).build(net);
        try (DropGradHooks hooks = dropGrad.attach()) {
            assertEquals(5, hooks.size());
            net.backward(x, y);
        }
        Map<String, Tensor> hooked = grads(net);
        assertMaskedAtRate(raw, hooked, rate);
    }

    /**
     * Every survivor of {@code masked} is exactly its {@code raw} value times 1/(1-rate) (the raw gradients
     * have no zeros, so a zero is a drop), and the fraction dropped is within 5 sigma of a Bernoulli(rate) count.
     */
    static void assertMaskedAtRate(Map<String, Tensor> raw, Map<String, Tensor> masked, double rate) {
        long elements = 0;
        long dropped = 0;
        for (String p : raw.keySet()) {
            Tensor r = raw.get(p);
            Tensor h = masked.get(p);
            assertEquals(0, Tensors.countZeros(r), p + ": the raw gradient has no zeros");
            Tensor kept = h.ne(new Scalar(0.0));
            assertTrue(h.masked_select(kept).equal(r.mul(new Scalar(1.0 / (1.0 - rate))).masked_select(kept)),
                    p + ": survivors are exactly raw * 1/(1-p)");
            elements += r.numel();
            dropped += Tensors.countZeros(h);
        }
        assertEquals(rate, (double) dropped / elements, 5 * TestDevices.bernoulliSigma(rate, elements));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void hooksAndWrapperGiveIdenticalGradientsForTheSameSeed(String name) {
        Device dev = TestDevices.device(name);
        Net net = net(dev, 2);
        Tensor x = inputs(dev, 16, 32);
        Tensor y = targets(dev, 16, 10);
        // fc1.bias above the CPU hash's range: its mask is drawn in the round like a CUDA parameter's.
        DropGrad dropGrad = DropGrad.builder().rate(0.2).rate("fc2.*", 0.6).rate("fc1.bias", 0.99).build(net);

        Seeds.seed(77);
        try (DropGradHooks hooks = dropGrad.attach()) {
            net.backward(x, y);
        }
        Map<String, Tensor> viaHooks = grads(net);
        net.zeroGrad();

        SGD sgd = new SGD(net.parameters(), new SGDOptions(0.0));
        Seeds.seed(77);
        net.backward(x, y);
        dropGrad.wrap(sgd).step(); // lr 0: masks the gradients, moves nothing
        Map<String, Tensor> viaWrapper = grads(net);
        for (String p : viaHooks.keySet()) {
            assertTrue(viaHooks.get(p).equal(viaWrapper.get(p)), p + ": hooks and wrapper agree bit for bit");
        }
        assertTrue(Tensors.countZeros(viaHooks.get("fc2.weight")) > 0);
    }

    @Test
    void theOriginalsExampleWeightsAtOneTenthBiasesAtOneHundredthOthersUntouched() {
        Device dev = Devices.cpu();
        Seeds.seed(3);
        Net net = new Net(64, 2048, 16);
        Tensor x = inputs(dev, 8, 64);
        Tensor y = targets(dev, 8, 16);
        net.backward(x, y);
        Map<String, Tensor> raw = grads(net);
        net.zeroGrad();

        DropGrad byPattern = DropGrad.builder().rate("*.weight", 0.1).rate("*.bias", 0.01).build(net);
        Map<Tensor, Double> dictionary = new LinkedHashMap<>(); // the original's {param: rate} form
        dictionary.put(net.fc1.weight(), 0.1);
        dictionary.put(net.fc2.weight(), 0.1);
        dictionary.put(net.fc1.bias(), 0.01);
        dictionary.put(net.fc2.bias(), 0.01);
        DropGrad byTensor = DropGrad.builder().rates(dictionary).build(net);
        Map<String, Double> expected = Map.of("fc1.weight", 0.1, "fc1.bias", 0.01, "fc2.weight", 0.1, "fc2.bias", 0.01);
        assertEquals(expected, byPattern.rates());
        assertEquals(expected, byTensor.rates());
        assertEquals(List.of("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"), byPattern.parameterNames());

        long[] weight = new long[2]; // {elements, dropped}
        long[] bias = new long[2];
        int passes = 10; // 20,640 bias and 1.6M weight elements in all
        try (DropGradHooks hooks = byPattern.attach()) {
            assertEquals(4, hooks.size(), "no hook on the parameter without a rate");
            for (int pass = 0; pass < passes; pass++) {
                try (PointerScope step = new PointerScope()) {
                    net.backward(x, y);
                    Map<String, Tensor> g = grads(net);
                    assertTrue(g.get("scale").equal(raw.get("scale")), "unlisted: bit-exact");
                    for (String p : List.of("fc1.weight", "fc2.weight", "fc1.bias", "fc2.bias")) {
                        long[] tally = p.endsWith("weight") ? weight : bias;
                        tally[0] += g.get(p).numel();
                        tally[1] += Tensors.countZeros(g.get(p));
                    }
                    net.zeroGrad();
                }
            }
        }
        assertEquals(0.1, (double) weight[1] / weight[0], 5 * TestDevices.bernoulliSigma(0.1, weight[0]));
        assertEquals(0.01, (double) bias[1] / bias[0], 5 * TestDevices.bernoulliSigma(0.01, bias[0]));
    }

    @Test
    void laterRulesWinAndExcludeLeavesParametersAlone() {
        Net net = net(Devices.cpu(), 4);
        DropGrad d = DropGrad.builder().rate(0.2).rate("fc*", 0.3).rate("*.bias", 0.05).exclude("fc2.bias")
                .rate(net.fc1.weight(), 0.4).build(net);
        assertEquals(Map.of("fc1.weight", 0.4, "fc1.bias", 0.05, "fc2.weight", 0.3, "scale", 0.2), d.rates());
        assertEquals(0.05, d.rate("fc1.bias"));
        assertMessage(() -> d.rate("fc2.bias"), "DropGrad has no rate for parameter 'fc2.bias'");
    }

    @Test
    void hooksMaskEveryMicroBatchOfAnAccumulatedGradientIndependently() {
        Device dev = Devices.cpu();
        Net net = net(dev, 5);
        Tensor x = inputs(dev, 16, 32);
        Tensor y = targets(dev, 16, 10);
        net.backward(x, y);
        Tensor raw = net.fc1.weight().grad().clone();
        net.zeroGrad();
        double p = 0.5;
        try (DropGradHooks hooks = DropGrad.builder().rate(p).build(net).attach()) {
            net.backward(x, y); // two micro-batches, one accumulated gradient
            net.backward(x, y);
        }
        Tensor g = net.fc1.weight().grad();
        Tensor once = raw.mul(new Scalar(1.0 / (1.0 - p)));
        Tensor twice = once.add(once);
        long n = g.numel();
        long none = Tensors.countZeros(g);
        long one = g.eq(once).sum().item_long();
        long two = g.eq(twice).sum().item_long();
        assertEquals(n, none + one + two, "every element is 0, once or twice the scaled gradient");
        assertEquals(0.25, (double) none / n, 5 * TestDevices.bernoulliSigma(0.25, n));
        assertEquals(0.5, (double) one / n, 5 * TestDevices.bernoulliSigma(0.5, n));
        assertEquals(0.25, (double) two / n, 5 * TestDevices.bernoulliSigma(0.25, n));
    }

    /**
     * The trainer accumulates two identical micro-batches (loss / 2 each) per optimizer step, then steps a
     * trailing group of one, with SGD at lr 0 so the raw gradient g of a micro-batch stays fixed. With
     * s = 1/(1-p): the masking callback (the wrapper's form) masks the accumulated g once, so every element
     * is 0 or g*s; hooks mask each micro-batch's g/2 on its own, so elements are 0, g*s/2 or g*s with
     * probabilities p^2, 2p(1-p), (1-p)^2. The trailing group (zeroed first, one micro-batch) is 0 or g*s/2.
     */
    @Test
    void withGradientAccumulationTheWrapperMasksTheSumOnceAndHooksMaskEveryMicroBatch() {
        Device dev = Devices.cpu();
        double p = 0.5;
        Net reference = net(dev, 30);
        Tensor x = inputs(dev, 16, 32);
        Tensor y = targets(dev, 16, 10);
        reference.backward(x, y);
        Map<String, Tensor> raw = grads(reference);
        TensorBatches data = new TensorBatches(torch.cat(new TensorVector(x, x, x)),
                torch.cat(new TensorVector(y, y, y)), 16, false, 0, dev);
        for (boolean hooks : new boolean[] {false, true}) {
            Net net = net(dev, 30); // the reference's weights
            DropGrad dropGrad = DropGrad.builder().rate(p).build(net);
            List<Map<String, float[]>> atStep = new ArrayList<>(); // plain arrays: the step's tensors die with it
            TrainingCallback recorder = new TrainingCallback() {
                @Override
                public void beforeOptimizerStep(TrainingContext c) {
                    Map<String, float[]> values = new LinkedHashMap<>();
                    grads(net).forEach((name, g) -> values.put(name, Tensors.toFloatArray(g)));
                    atStep.add(values);
                }
            };
            Trainer.builder(TrainableModel.of(net, net::forward))
                    .optimizer(params -> new SGD(params, new SGDOptions(0.0))).epochs(1).seed(8).device(dev)
                    .accumulationSteps(2)
                    .callback(hooks ? DropGradCallback.hooks(dropGrad) : DropGradCallback.masking(dropGrad))
                    .callback(recorder).build().fit(data, null);
            assertEquals(2, atStep.size(), "one step per group of two, one for the trailing group");
            long n = 0;
            long[] group = new long[3]; // zero, half, full in the first group
            long[] trailing = new long[2]; // zero, half in the trailing group
            for (String name : raw.keySet()) {
                Tensor full = raw.get(name).mul(new Scalar(1.0 / (1.0 - p)));
                Tensor half = full.mul(new Scalar(0.5));
                Tensor g = Tensors.fromFloats(atStep.get(0).get(name), Tensors.shape(full));
                Tensor t = Tensors.fromFloats(atStep.get(1).get(name), Tensors.shape(full));
                n += g.numel();
                group[0] += Tensors.countZeros(g);
                group[1] += g.eq(half).sum().item_long();
                group[2] += g.eq(full).sum().item_long();
                trailing[0] += Tensors.countZeros(t);
                trailing[1] += t.eq(half).sum().item_long();
            }
            String form = hooks ? "hooks" : "masking callback";
            assertEquals(n, group[0] + group[1] + group[2], form + ": every element is 0, g*s/2 or g*s");
            assertEquals(n, trailing[0] + trailing[1], form + ": the trailing group is zeroed first and scaled by 1/2");
            assertEquals(p, (double) trailing[0] / n, 5 * TestDevices.bernoulliSigma(p, n), form + ": trailing");
            if (hooks) {
                double[] expected = {p * p, 2 * p * (1 - p), (1 - p) * (1 - p)}; // dropped twice, once, never
                for (int k = 0; k < 3; k++) {
                    assertEquals(expected[k], (double) group[k] / n, 5 * TestDevices.bernoulliSigma(expected[k], n),
                            "hooks: share of elements kept in " + k + " of 2 micro-batches");
                }
            } else {
                assertEquals(0, group[1], "the accumulated sum is masked once: no half-kept element");
                assertEquals(p, (double) group[0] / n, 5 * TestDevices.bernoulliSigma(p, n));
            }
        }
    }

    @Test
    void closingRemovesEveryHookAndIsIdempotent() {
        Device dev = Devices.cpu();
        Net net = net(dev, 6);
        Tensor x = inputs(dev, 8, 32);
        Tensor y = targets(dev, 8, 10);
        net.backward(x, y);
        Map<String, Tensor> raw = grads(net);
        net.zeroGrad();
        DropGradHooks hooks = DropGrad.builder().rate(0.5).build(net).attach();
        assertTrue(hooks.isOpen());
        hooks.close();
        hooks.close();
        assertFalse(hooks.isOpen());
        net.backward(x, y);
        Map<String, Tensor> after = grads(net);
        raw.forEach((p, g) -> assertTrue(g.equal(after.get(p)), p));
    }

    @Test
    void hooksSurviveGarbageCollectionAndAClosedScope() throws InterruptedException {
        Device dev = Devices.cpu();
        Net net = net(dev, 7);
        Tensor x = inputs(dev, 8, 32);
        Tensor y = targets(dev, 8, 10);
        DropGradHooks hooks;
        try (PointerScope attachScope = new PointerScope()) {
            hooks = DropGrad.builder().rate(0.5).build(net).attach(); // DropGrad itself becomes garbage
        }
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(20);
        }
        net.backward(x, y); // a freed callback would crash the JVM here
        assertTrue(Tensors.countZeros(net.fc1.weight().grad()) > 0);
        hooks.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void rateZeroIsTheIdentityBitForBitAndDrawsNothing(String name) {
        Device dev = TestDevices.device(name);
        Net net = net(dev, 8);
        Tensor x = inputs(dev, 8, 32);
        Tensor y = targets(dev, 8, 10);
        net.backward(x, y);
        Map<String, Tensor> raw = grads(net);
        net.zeroGrad();
        DropGrad zero = DropGrad.builder().rate(Schedule.linearWarmup(0.0, 0.5, 100)).build(net); // 0 at step 0

        Seeds.seed(9);
        try (DropGradHooks hooks = zero.attach()) {
            net.backward(x, y);
        }
        double next = torch.rand(1).item_double();
        Map<String, Tensor> viaHooks = grads(net);
        net.zeroGrad();
        Seeds.seed(9);
        net.backward(x, y);
        zero.apply();
        assertEquals(next, torch.rand(1).item_double(), "no random draw");
        Seeds.seed(9);
        assertEquals(next, torch.rand(1).item_double(), "no random draw in hooks either");
        Map<String, Tensor> viaApply = grads(net);
        raw.forEach((p, g) -> {
            assertTrue(g.equal(viaHooks.get(p)), "hooks " + p);
            assertTrue(g.equal(viaApply.get(p)), "apply " + p);
        });
    }

    /** One parameter's Adam state, read back from a saved optimizer (libtorch exposes no getter). */
    record AdamSlot(long step, Tensor expAvg, Tensor expAvgSq) {}

    static AdamSlot adamState(Optimizer adam, Tensor param, Path file) {
        OutputArchive out = new OutputArchive();
        adam.save(out);
        out.save_to(file.toString());
        InputArchive in = new InputArchive();
        in.load_from(file.toString());
        InputArchive state = new InputArchive();
        in.read("state", state);
        InputArchive slot = new InputArchive();
        if (!state.try_read(Long.toString(param.unsafeGetTensorImpl().address()), slot)) {
            return null;
        }
        IValue step = new IValue();
        slot.read("step", step);
        Tensor m = new Tensor();
        Tensor v = new Tensor();
        slot.read("exp_avg", m);
        slot.read("exp_avg_sq", v);
        return new AdamSlot(step.toInt(), m, v);
    }

    @Test
    void fullUpdateDropLeavesDroppedParametersAndTheirAdamMomentsBitExactlyUnchanged(@TempDir Path tmp) {
        Device dev = Devices.cpu();
        Net net = net(dev, 10);
        Adam adam = new Adam(net.parameters(), new AdamOptions(0.01));
        double rate = 0.4; // not 0.5, where a coin dropping with probability 1 - rate would pass too
        DropGrad dropGrad = DropGrad.builder().rate(rate).mode(DropGradMode.FULL_UPDATE).build(net);
        DropGradOptimizer opt = dropGrad.wrap(adam);
        Path file = tmp.resolve("adam.pt");
        List<Tensor> params = dropGrad.parameters();
        long[] steps = new long[params.size()];
        int drops = 0;
        int decisions = 0;
        for (int t = 0; t < 12; t++) {
            try (PointerScope step = new PointerScope()) {
                List<Tensor> before = new ArrayList<>();
                List<AdamSlot> stateBefore = new ArrayList<>();
                for (Tensor p : params) {
                    before.add(p.detach().clone());
                    stateBefore.add(adamState(adam, p, file));
                }
                opt.zero_grad();
                net.backward(inputs(dev, 8, 32), targets(dev, 8, 10));
                opt.step();
                for (int i = 0; i < params.size(); i++) {
                    AdamSlot now = adamState(adam, params.get(i), file);
                    AdamSlot was = stateBefore.get(i);
                    boolean dropped = now == null || now.step() == steps[i];
                    decisions++;
                    if (dropped) {
                        drops++;
                        assertTrue(params.get(i).equal(before.get(i)), "dropped parameter unchanged, step " + t);
                        if (was != null) {
                            assertEquals(was.step(), now.step());
                            assertTrue(was.expAvg().equal(now.expAvg()), "first moment unchanged");
                            assertTrue(was.expAvgSq().equal(now.expAvgSq()), "second moment unchanged");
                        }
                    } else {
                        assertEquals(steps[i] + 1, now.step());
                        assertFalse(params.get(i).equal(before.get(i)), "kept parameter moved, step " + t);
                        steps[i] = now.step();
                    }
                }
            }
        }
        assertEquals(rate, (double) drops / decisions, 5 * TestDevices.bernoulliSigma(rate, decisions));
    }

    @Test
    void fullUpdateScalesKeptGradientsAndUndefinesDroppedOnes() {
        Device dev = Devices.cpu();
        Net net = net(dev, 11);
        Tensor x = inputs(dev, 8, 32);
        Tensor y = targets(dev, 8, 10);
        net.backward(x, y);
        Map<String, Tensor> raw = grads(net);
        double rate = 0.4; // not 0.5, where a coin dropping with probability 1 - rate would pass too
        DropGrad dropGrad = DropGrad.builder().rate(rate).mode(DropGradMode.FULL_UPDATE).build(net);
        int dropped = 0;
        int decisions = 0;
        for (int trial = 0; trial < 100; trial++) {
            net.zeroGrad();
            net.backward(x, y);
            dropGrad.apply();
            Map<String, Tensor> g = grads(net);
            for (String p : raw.keySet()) {
                decisions++;
                if (!g.get(p).defined()) {
                    dropped++;
                } else {
                    assertTrue(g.get(p).equal(raw.get(p).mul(new Scalar(1.0 / (1.0 - rate)))), p);
                }
            }
        }
        assertEquals(rate, dropped / (double) decisions, 5 * TestDevices.bernoulliSigma(rate, decisions),
                "dropped " + dropped + " of " + decisions);
    }

    @Test
    void theWrapperWorksBesideALearningRateScheduleOnTheInnerOptimizer() {
        Device dev = Devices.cpu();
        Net net = net(dev, 12);
        Adam adam = new Adam(net.parameters(), new AdamOptions(0.1));
        StepLR schedule = new StepLR(adam, 1, 0.5);
        DropGradOptimizer opt = DropGradOptimizer.wrap(adam, 0.3);
        assertEquals(5, opt.dropGrad().parameterNames().size());
        for (int epoch = 0; epoch < 3; epoch++) {
            opt.zero_grad();
            assertFalse(net.fc1.weight().grad().defined(), "zero_grad passes through (to undefined)");
            net.backward(inputs(dev, 8, 32), targets(dev, 8, 10));
            opt.step();
            assertTrue(Tensors.countZeros(net.fc1.weight().grad()) > 0, "step dropped gradient elements");
            schedule.step(); // libtorch's StepLR, unlike PyTorch's, changes nothing on its first call
            assertEquals(0.1 * Math.pow(0.5, epoch), adam.param_groups().get(0).options().get_lr(), 1e-15);
        }
        assertTrue(opt.inner() == adam);
    }

    @Test
    void theWrapperRejectsParametersItsOptimizerDoesNotOptimize() {
        Net net = net(Devices.cpu(), 13);
        SGD onlyFc1 = new SGD(net.fc1.parameters(), new SGDOptions(0.1));
        DropGrad dropGrad = DropGrad.builder().rate(0.1).build(net);
        assertMessage(() -> new DropGradOptimizer(onlyFc1, dropGrad),
                "parameter 'scale' has a drop rate but is not optimized by the wrapped optimizer");
    }

    /** Gradients of {@code loss(p, q)} with DropGrad hooks at rate 0.5 on {@code p} only, and without any. */
    private static Tensor[] hookOnlyP(BinaryOperator<Tensor> loss, Tensor p, Tensor q) {
        loss.apply(p, q).backward();
        Tensor rawP = p.grad().clone();
        Tensor rawQ = q.grad().clone();
        p.mutable_grad().reset();
        q.mutable_grad().reset();
        DropGrad dropGrad = DropGrad.builder().rate(0.5).build(Map.of("p", p));
        try (DropGradHooks hooks = dropGrad.attach()) {
            loss.apply(p, q).backward();
        }
        return new Tensor[] {rawP, rawQ, p.grad(), q.grad()};
    }

    @Test
    void hooksDropInPlaceOnlyWhatNobodyElseReads() {
        // A hook drops a gradient in place when only autograd holds it (GradientOwnership). Where the same
        // gradient memory also flows to another parameter, that one must see it untouched.
        Tensor p = torch.rand(64, 32).add_(new Scalar(1.0)).set_requires_grad(true);
        Tensor q = torch.rand(64, 32).add_(new Scalar(1.0)).set_requires_grad(true);
        Tensor w = torch.rand(64, 32).add_(new Scalar(1.0));
        List<BinaryOperator<Tensor>> losses = List.of(
                (a, b) -> a.add(b).mul(w).sum(),                  // one tensor handed to both operands
                (a, b) -> a.view(-1).add(b.view(-1)).mul(w.view(-1)).sum(), // p's is a view of q's
                (a, b) -> torch.cat(new TensorVector(a, b)).mul(w.repeat(2, 1)).sum(), // slices of one tensor
                (a, b) -> a.mul(w).sum().add(b.mul(w).sum()));    // nothing shared: in place
        for (int i = 0; i < losses.size(); i++) {
            Tensor[] g = hookOnlyP(losses.get(i), p, q);
            assertTrue(g[3].equal(g[1]), "case " + i + ": q's gradient is untouched");
            Tensor kept = g[2].ne(new Scalar(0.0));
            assertTrue(g[2].masked_select(kept).equal(g[0].mul(new Scalar(2.0)).masked_select(kept)), "case " + i);
            double dropped = Tensors.countZeros(g[2]) / (double) g[2].numel();
            assertEquals(0.5, dropped, 5 * TestDevices.bernoulliSigma(0.5, g[2].numel()), "case " + i);
            p.mutable_grad().reset();
            q.mutable_grad().reset();
        }
    }

    @Test
    void anExceptionInAHookAbortsBackwardWithoutCrashingTheJvm() {
        final class Bag extends Module {
            final EmbeddingImpl emb;

            Bag() {
                EmbeddingOptions options = new EmbeddingOptions(100, 8);
                options.sparse().put(true);
                emb = register_module("emb", new EmbeddingImpl(options));
            }
        }
        Bag bag = new Bag();
        Tensor ids = torch.randint(100, new long[] {20});
        try (DropGradHooks hooks = DropGrad.builder().rate(0.1).build(bag).attach()) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> bag.emb.forward(ids).sum().backward());
            assertTrue(e.getMessage().contains("DropGrad hook for parameter 'emb.weight' failed"), e.getMessage());
            assertTrue(e.getMessage().contains("sparse"), e.getMessage());
            assertTrue(hooks.failure() instanceof IllegalArgumentException);
        }
        Net net = net(Devices.cpu(), 14);
        net.backward(inputs(Devices.cpu(), 4, 32), targets(Devices.cpu(), 4, 10)); // the JVM carries on
        assertTrue(net.fc1.weight().grad().defined());
    }

    /** Four Gaussian blobs in 32-D, as the trainer's tests use. */
    static TensorBatches blobs(int n, long seed) {
        Seeds.seed(seed);
        Tensor centers = torch.randn(10, 32).mul(new Scalar(2));
        Tensor y = torch.randint(10, new long[] {n});
        Tensor x = centers.index_select(0, y).add(torch.randn(n, 32));
        return new TensorBatches(x, y, 32, true, seed, Devices.cpu());
    }

    static Trainer trainer(Net net, DropGradCallback callback, TrainingCallback recorder) {
        return Trainer.builder(TrainableModel.of(net, net::forward)).optimizer(Optimizers.sgd(0.05)).epochs(2)
                .seed(21).device(Devices.cpu()).callback(callback).callback(recorder).build();
    }

    @Test
    void theCallbackUpdatesScheduledRatesEveryStepAndRemovesItsHooksAtTheEnd() {
        Schedule warmup = Schedule.linearWarmup(0.0, 0.2, 10);
        Net net = net(Devices.cpu(), 15);
        DropGrad dropGrad = DropGrad.builder().rate(warmup).rate("*.bias", 0.01).build(net);
        DropGradCallback callback = DropGradCallback.hooks(dropGrad);
        List<double[]> seen = new ArrayList<>();
        TrainingCallback recorder = new TrainingCallback() {
            @Override
            public void beforeOptimizerStep(TrainingContext c) {
                seen.add(new double[] {c.globalStep(), dropGrad.rate("fc1.weight"), dropGrad.rate("fc1.bias"),
                        Tensors.countZeros(net.fc1.weight().grad())});
            }
        };
        TensorBatches data = blobs(256, 16);
        TrainingHistory h = trainer(net, callback, recorder).fit(data, null);
        assertEquals(2, h.epochs().size());
        assertEquals(2L * data.batchesPerEpoch(), seen.size());
        for (double[] s : seen) {
            assertEquals(warmup.valueAt((long) s[0], 0, 0), s[1], "scheduled rate at step " + (long) s[0]);
            assertEquals(0.01, s[2]);
            assertEquals(s[0] == 0, s[3] == 0, "gradients are masked from step 1 on, step " + (long) s[0]);
        }
        Tensor x = inputs(Devices.cpu(), 8, 32);
        Tensor y = targets(Devices.cpu(), 8, 10);
        net.zeroGrad();
        net.backward(x, y);
        Tensor first = net.fc1.weight().grad().clone();
        net.zeroGrad();
        net.backward(x, y);
        assertEquals(0, Tensors.countZeros(first), "no hook left after training");
        assertTrue(first.equal(net.fc1.weight().grad()));
    }

    @Test
    void theMaskingCallbackRunsFullUpdateDropInTheTrainerReproducibly() {
        List<TrainingHistory> runs = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            Net net = net(Devices.cpu(), 17);
            DropGrad dropGrad = DropGrad.builder().rate(Schedule.cosine(0.3, 0.0)).mode(DropGradMode.FULL_UPDATE)
                    .build(net);
            runs.add(trainer(net, DropGradCallback.masking(dropGrad), new TrainingCallback() {}).fit(blobs(256, 18),
                    blobs(128, 19)));
        }
        List<EpochMetrics> a = runs.get(0).epochs();
        List<EpochMetrics> b = runs.get(1).epochs();
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).trainLoss(), b.get(i).trainLoss(), "same seed, same run");
            assertEquals(a.get(i).testAccuracy(), b.get(i).testAccuracy());
        }
        assertTrue(a.get(1).trainLoss() < a.get(0).trainLoss(), "it still learns");
    }

    @Test
    void fullUpdateModeRefusesHooks() {
        Net net = net(Devices.cpu(), 20);
        DropGrad full = DropGrad.builder().rate(0.1).mode(DropGradMode.FULL_UPDATE).build(net);
        assertMessage(full::attach, "full-update cannot run in gradient hooks");
        assertMessage(() -> DropGradCallback.hooks(full), "full-update cannot run in gradient hooks");
        assertEquals(DropGradMode.FULL_UPDATE, DropGradMode.parse(" Full-Update "));
        assertMessage(() -> DropGradMode.parse("whole"), "got 'whole'");
    }

    @Test
    void badConfigurationsAreRejectedNamingTheBadValue() {
        Net net = net(Devices.cpu(), 22);
        assertMessage(() -> DropGrad.builder().rate(1.0), "rate must be in [0, 1), got 1.0");
        assertMessage(() -> DropGrad.builder().rate(-0.5), "rate must be in [0, 1), got -0.5");
        assertMessage(() -> DropGrad.builder().rate(Double.NaN), "rate must be in [0, 1), got NaN");
        assertMessage(() -> DropGrad.builder().rate("*.bias", 1.5), "rate for '*.bias' must be in [0, 1), got 1.5");
        assertMessage(() -> DropGrad.builder().rate(torch.ones(3, 4), 0.1).build(net),
                "a Float tensor of shape [3, 4] has a drop rate but is not a parameter of the model");
        assertMessage(() -> DropGrad.builder().rate("*.bais", 0.1).build(net),
                "pattern '*.bais' matches no parameter of the model; its parameters are scale, fc1.weight, fc1.bias,");
        assertMessage(() -> DropGrad.builder().build(net), "no trainable parameter has a drop rate");
        assertMessage(() -> DropGrad.builder().rate("", 0.1), "pattern must not be empty");
        assertMessage(() -> DropGrad.builder().rate(Schedule.constant(1.0)).build(net),
                "drop rate of 'scale' at step 0 must be in [0, 1), got 1.0");

        DropGrad scheduled = DropGrad.builder().rate(Schedule.of((step, epoch) -> step < 5 ? 0.1 : 1.0)).build(net);
        scheduled.update(4, 0, 0.4);
        assertEquals(0.1, scheduled.rate("fc2.bias"));
        assertMessage(() -> scheduled.update(5, 0, 0.5), "drop rate of 'scale' at step 5 must be in [0, 1), got 1.0");
        assertEquals(0.1, scheduled.rate("fc2.bias"), "a rejected update changes nothing");
        assertMessage(() -> scheduled.update(-1, 0, 0), "step must not be negative, got -1");
        assertMessage(() -> scheduled.update(0, -1, 0), "epoch must not be negative, got -1");
        assertMessage(() -> scheduled.update(0, 0, 2), "progress must be in [0, 1], got 2.0");
    }

    @Test
    void aFrozenParameterGetsNoRateAndCannotBeGivenOne() {
        Net net = net(Devices.cpu(), 23);
        net.scale.requires_grad_(false);
        DropGrad d = DropGrad.builder().rate(0.1).build(net);
        assertFalse(d.parameterNames().contains("scale"));
        assertMessage(() -> DropGrad.builder().rate(net.scale, 0.1).build(net),
                "parameter 'scale' has a drop rate but does not require grad");

        DropGrad built = DropGrad.builder().rate(0.1).build(net);
        net.fc2.bias().requires_grad_(false); // frozen after DropGrad was built
        assertMessage(built::attach, "parameter 'fc2.bias' no longer requires grad");
        net.fc2.bias().requires_grad_(true);
        try (DropGradHooks hooks = built.attach()) {
            assertEquals(built.parameterNames().size(), hooks.size());
        }
    }

    @Test
    void anOptimizersParametersCanBeAddressedByIndex() {
        Net net = net(Devices.cpu(), 24);
        DropGrad d = DropGrad.builder().rate("1", 0.2).build(net.parameters());
        assertEquals(Map.of("1", 0.2), d.rates());
        assertTrue(d.parameters().get(0).is_same(net.fc1.weight()), "a module's own parameters come first");
    }

    static void assertMessage(Executable call, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(message), "expected '" + message + "' in '" + e.getMessage() + "'");
    }
}
