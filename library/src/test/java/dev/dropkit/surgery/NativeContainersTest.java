package dev.dropkit.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Modules;
import dev.dropkit.core.Seeds;
import dev.dropkit.data.Batch;
import dev.dropkit.data.Batches;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.Normalization;
import dev.dropkit.data.Split;
import dev.dropkit.depth.StochasticDepth;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.depth.StochasticDepthSurgery;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.gyro.GyroDropout;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.nn.JavaForward;
import dev.dropkit.nn.ModuleList;
import dev.dropkit.nn.NativeCasts;
import dev.dropkit.nn.Residual;
import dev.dropkit.nn.Sequential;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.LSTMImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.ModuleListImpl;
import org.bytedeco.pytorch.ReLUImpl;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.SequentialImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Models built from libtorch's own containers, as the Bytedeco samples build them (issue 19 part 1):
 * converted to dropkit's Java containers with the same modules, they compute the same numbers, keep their
 * parameter names and tensors, and take Gyro Dropout and stochastic depth.
 */
@ExtendWith(NativeScopePerTest.class)
class NativeContainersTest {
    static final Path SUBSET = Path.of("../examples/data/fashion-mnist-subset");

    /**
     * A model as JavaCPP users write one: a native SequentialImpl of Linear, ReLU and Dropout, a
     * ModuleListImpl of residual branches (each a SequentialImpl), and a head, registered on a plain
     * libtorch Module; the shortcut is added by the caller's forward, since no native container can. Every
     * layer is kept in a Java list (native-notes/unreferenced-child-modules-are-freed.md).
     */
    static final class SampleModel {
        final List<Module> keep = new ArrayList<>();
        final Module root = new Module("SampleNet");
        final SequentialImpl stem = new SequentialImpl();
        final ModuleListImpl blocks = new ModuleListImpl();
        final SequentialImpl head = new SequentialImpl();

        SampleModel(int in, int width, int blockCount, int classes) {
            stem.push_back("fc", keep(new LinearImpl(in, width)));
            stem.push_back("relu", keep(new ReLUImpl()));
            stem.push_back("drop", keep(new DropoutImpl(0.2)));
            for (int i = 0; i < blockCount; i++) {
                SequentialImpl branch = keep(new SequentialImpl());
                branch.push_back(keep(new LinearImpl(width, width)));
                branch.push_back(keep(new ReLUImpl()));
                branch.push_back(keep(new DropoutImpl(0.1)));
                branch.push_back(keep(new LinearImpl(width, width)));
                blocks.push_back(branch);
            }
            head.push_back("out", keep(new LinearImpl(width, classes)));
            root.register_module("stem", stem);
            root.register_module("blocks", blocks);
            root.register_module("head", head);
        }

        private <M extends Module> M keep(M m) {
            keep.add(m);
            return m;
        }

        /** The forward such a user writes: native containers, the residual sum in Java. */
        Tensor forward(Tensor x) {
            x = stem.forward(x);
            for (long i = 0; i < blocks.size(); i++) {
                x = x.add(blocks.get(i).asSequential().forward(x));
            }
            return head.forward(x);
        }
    }

    /** Turns the plain root into a Sequential and each residual branch into a Residual, keeping every name. */
    static final NativeContainers.Mapper RESIDUALS = node -> switch (node.path()) {
        case "" -> node.asSequential();
        case "blocks" -> {
            Sequential blocks = new Sequential();
            node.children().forEach((name, branch) -> blocks.add(name, Residual.of((Sequential) branch)));
            yield blocks;
        }
        default -> null;
    };

    /** Names and the very tensors of parameters and buffers: what a state_dict holds. */
    static Map<String, Long> stateDict(Module m) {
        Map<String, Long> out = new LinkedHashMap<>();
        var params = m.named_parameters();
        for (long i = 0; i < params.size(); i++) {
            out.put(params.get(i).key().getString(), params.get(i).value().data_ptr().address());
        }
        var buffers = m.named_buffers();
        for (long i = 0; i < buffers.size(); i++) {
            var data = buffers.get(i).value().data_ptr(); // null for an empty buffer
            out.put("buffer " + buffers.get(i).key().getString(), data == null ? 0 : data.address());
        }
        return out;
    }

    static SequentialImpl nativeMlp(List<Module> keep) {
        SequentialImpl seq = new SequentialImpl();
        LinearImpl fc1 = new LinearImpl(6, 16);
        ReLUImpl relu = new ReLUImpl();
        DropoutImpl drop = new DropoutImpl(0.5);
        LinearImpl fc2 = new LinearImpl(16, 3);
        keep.addAll(List.of(fc1, relu, drop, fc2));
        seq.push_back("fc1", fc1);
        seq.push_back("relu", relu);
        seq.push_back("drop", drop);
        seq.push_back("fc2", fc2);
        return seq;
    }

    static Tensor cpu(Tensor t) {
        return t.to(Devices.cpu(), t.scalar_type());
    }

    @ParameterizedTest(name = "[{0}]")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void aNativeSequentialConvertsToTheSameModulesWithBitIdenticalEvalOutputs(String deviceName) {
        Device device = TestDevices.device(deviceName);
        Seeds.seed(3);
        List<Module> keep = new ArrayList<>();
        SequentialImpl nativeSeq = nativeMlp(keep);
        Map<String, Long> before = stateDict(nativeSeq);

        Module converted = NativeContainers.convert(nativeSeq);
        Sequential seq = assertInstanceOf(Sequential.class, converted, "a native root comes back as a new Java root");
        assertEquals(List.of("fc1", "relu", "drop", "fc2"), seq.names());
        assertEquals(before, stateDict(seq), "same names, order and tensors: nothing copied");
        assertInstanceOf(LinearImpl.class, seq.get(0), "children are their layer classes, cast from the views");
        assertInstanceOf(DropoutImpl.class, seq.get(2));
        assertEquals(keep.get(0).address(), seq.get(0).address(), "the cast is the same native module");

        nativeSeq.to(device, false);
        nativeSeq.eval();
        seq.eval(); // the same modules: already on the device and in eval mode
        assertFalse(seq.get(2).is_training());
        Tensor x = torch.randn(32, 6).to(device, torch.ScalarType.Float);
        assertTrue(torch.equal(cpu(nativeSeq.forward(x)), cpu(seq.forward(x))), "bit-identical eval outputs");
    }

    @Test
    void theSampleModelConvertsWithAMapperAndComputesTheSameNumbers() {
        Seeds.seed(4);
        SampleModel sample = new SampleModel(10, 8, 2, 3);
        Map<String, Long> before = stateDict(sample.root);
        assertTrue(before.containsKey("blocks.1.3.weight"), before.toString());

        Sequential model = (Sequential) NativeContainers.convert(sample.root, RESIDUALS);
        assertEquals(before, stateDict(model), "state_dict keys and tensors unchanged");
        assertEquals(List.of("stem", "blocks", "head"), model.names());
        Sequential blocks = (Sequential) model.get("blocks");
        assertInstanceOf(Residual.class, blocks.get(0));

        sample.root.eval();
        Tensor x = torch.randn(16, 10);
        assertTrue(torch.equal(sample.forward(x), model.forward(x)), "bit-identical eval outputs");
        // In training mode the dropouts draw from the same generator in the same order.
        sample.root.train(true);
        Seeds.seed(9);
        Tensor nativeTrain = sample.forward(x);
        Seeds.seed(9);
        assertTrue(torch.equal(nativeTrain, model.forward(x)), "and the same training-mode outputs for one seed");
    }

    @Test
    void withoutAMapperAModuleListConvertsToAJavaModuleListAndAPlainRootIsRefusedByName() {
        SampleModel sample = new SampleModel(4, 4, 2, 2);
        ModuleList blocks = (ModuleList) NativeContainers.convert(sample.blocks);
        assertEquals(2, blocks.size());
        Tensor x = torch.randn(3, 4);
        sample.root.eval();
        assertTrue(torch.equal(sample.blocks.get(1).asSequential().forward(x), blocks.forward(1, x)));

        NativeContainers.NotConvertible e = assertThrows(NativeContainers.NotConvertible.class,
                () -> NativeContainers.convert(sample.root));
        assertEquals("", e.path());
        assertEquals("SampleNet", e.nativeType());
        assertTrue(e.getMessage().contains("Mapper"), e.getMessage());
    }

    @Test
    void aModuleDictConvertsToAJavaModuleDictWithTheSameKeys() {
        org.bytedeco.pytorch.ModuleDictImpl dict = new org.bytedeco.pytorch.ModuleDictImpl();
        LinearImpl cls = dict.register_module("cls", new LinearImpl(4, 2));
        LinearImpl box = dict.register_module("box", new LinearImpl(4, 4));
        Map<String, Long> before = stateDict(dict);
        dev.dropkit.nn.ModuleDict heads = assertInstanceOf(dev.dropkit.nn.ModuleDict.class, NativeContainers.convert(dict));
        assertEquals(List.of("cls", "box"), heads.names());
        assertEquals(before, stateDict(heads));
        Tensor x = torch.randn(3, 4);
        assertTrue(torch.equal(box.forward(x), heads.forward(heads.names().indexOf("box"), x)));
        assertEquals(cls.address(), heads.get("cls").address());
    }

    /** A block written in Java: a native container hands it back only as a plain view. */
    static final class JavaBlock extends Module {
        final LinearImpl fc = register_module("fc", new LinearImpl(4, 4));

        JavaBlock() {
            super("JavaBlock");
        }

        public Tensor forward(Tensor x) {
            return fc.forward(x);
        }
    }

    @Test
    void aChildJavaCannotCallIsRefusedByNameAndNothingChanges() {
        ModuleListImpl list = new ModuleListImpl();
        LinearImpl ok = new LinearImpl(4, 4);
        JavaBlock custom = new JavaBlock();
        list.push_back(ok);
        list.push_back(custom);
        NativeContainers.NotConvertible e = assertThrows(NativeContainers.NotConvertible.class,
                () -> NativeContainers.convert(list));
        assertEquals("1", e.path());
        assertEquals("JavaBlock", e.nativeType());
        assertTrue(e.getMessage().contains("cannot convert 1 (JavaBlock)"), e.getMessage());

        SequentialImpl withLstm = new SequentialImpl();
        LSTMImpl lstm = new LSTMImpl(4, 4);
        withLstm.push_back("rnn", lstm);
        e = assertThrows(NativeContainers.NotConvertible.class, () -> NativeContainers.convert(withLstm));
        assertEquals("rnn", e.path());
        assertEquals("torch::nn::LSTMImpl", e.nativeType());
        assertTrue(e.reason().contains("no Tensor forward(Tensor)"), e.reason());
        assertTrue(NativeCasts.castable("torch::nn::LSTMImpl"), "it can be cast, just not chained");
    }

    @Test
    void surgeryOnANativeRootSaysToConvertFirst() {
        List<Module> keep = new ArrayList<>();
        SequentialImpl nativeSeq = nativeMlp(keep);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GyroDropout.apply(nativeSeq, GyroDropoutOptions.builder().p(0.5).sigma(4).tau(2).build()));
        assertTrue(e.getMessage().contains("NativeContainers.convert(model) first"), e.getMessage());
        assertTrue(e.getMessage().contains("[drop]"), e.getMessage());
        IllegalArgumentException sd = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthSurgery.apply(new SampleModel(4, 4, 2, 2).root,
                        StochasticDepthOptions.builder().build()));
        assertTrue(sd.getMessage().contains("NativeContainers.convert(model, mapper)"), sd.getMessage());
        assertTrue(sd.getMessage().contains("stem, blocks, blocks.0, blocks.1, head"), sd.getMessage());
    }

    /** A Java model whose native container sits in a field of a type wide enough for a Java container. */
    static final class Wrapper extends Module {
        final List<Module> keep = new ArrayList<>();
        Module features;

        Wrapper() {
            super("Wrapper");
            features = register_module("features", nativeMlp(keep));
        }

        Tensor forward(Tensor x) {
            return JavaForward.of(features).forward(x);
        }
    }

    @Test
    void surgeryConvertsTheNativeContainerAroundItsMatchesInAJavaModel() {
        Seeds.seed(6);
        Wrapper net = new Wrapper();
        Map<String, Long> before = stateDict(net);
        net.eval();
        Tensor x = torch.randn(8, 6);
        Tensor expected = net.forward(x);
        SurgeryReport report = ModuleSurgery.replace(net, "dropout -> classic", slot -> slot.module() instanceof DropoutImpl
                || slot.nativeType().equals("torch::nn::DropoutImpl"), slot -> new Dropout(0.5, DropoutMode.CLASSIC));
        assertEquals(List.of(new SurgeryReport.Conversion("features", "torch::nn::SequentialImpl",
                "Sequential[fc1, relu, drop, fc2]")), report.conversions(), report.toString());
        assertEquals(List.of("features.drop"), report.paths(), report.toString());
        assertTrue(report.warnings().isEmpty(), report.toString());
        Sequential features = assertInstanceOf(Sequential.class, net.features);
        Dropout classic = assertInstanceOf(Dropout.class, features.get(2), "the Java container holds the replacement");
        assertFalse(classic.is_training(), "in the replaced module's eval mode");
        assertEquals(before, stateDict(net));
        // classic dropout scales by 1 - p in eval: the Java forward is called, not the C++ dropout's
        Tensor x2 = torch.randn(8, 6);
        LinearImpl fc2 = (LinearImpl) features.get(3);
        Tensor hidden = torch.relu(((LinearImpl) features.get(0)).forward(x2));
        assertTrue(torch.allclose(net.forward(x2), fc2.forward(hidden.mul(new org.bytedeco.pytorch.Scalar(0.5))),
                1e-6, 1e-6, false));
        assertFalse(torch.equal(expected, net.forward(x)), "the model changed");
    }

    /** A Java model holding a native ModuleListImpl of native SequentialImpls. */
    static final class ListHolder extends Module {
        final List<Module> keep = new ArrayList<>();
        Module blocks;

        ListHolder() {
            super("ListHolder");
            ModuleListImpl list = new ModuleListImpl();
            for (int i = 0; i < 2; i++) {
                SequentialImpl branch = new SequentialImpl();
                LinearImpl fc = new LinearImpl(4, 4);
                DropoutImpl drop = new DropoutImpl(0.3);
                keep.addAll(List.of(branch, fc, drop));
                branch.push_back(fc);
                branch.push_back(drop);
                list.push_back(branch);
            }
            blocks = register_module("blocks", list);
        }
    }

    @Test
    void gyroDropoutConvertsNestedNativeContainersFromTheOutermostOneAJavaFieldHolds() {
        ListHolder net = new ListHolder();
        Map<String, Long> before = stateDict(net);
        SurgeryReport report = GyroDropout.apply(net, GyroDropoutOptions.builder().p(0.5).sigma(4).tau(2).build());
        assertEquals(List.of("blocks"), report.conversions().stream().map(SurgeryReport.Conversion::path).toList(),
                report.toString());
        assertEquals(List.of("blocks.0.1", "blocks.1.1"), report.paths(), report.toString());
        ModuleList blocks = assertInstanceOf(ModuleList.class, net.blocks);
        Sequential first = assertInstanceOf(Sequential.class, blocks.get(0));
        assertInstanceOf(GyroDropout.class, first.get(1));
        assertEquals(2, GyroDropout.findIn(net).size(), "libtorch holds the new modules too");
        Map<String, Long> after = stateDict(net);
        after.keySet().removeIf(k -> k.startsWith("buffer "));
        assertEquals(before, after, "parameters keep their names and tensors");
    }

    /** The same Java model, with the native container in a field typed as libtorch's class. */
    static final class NarrowWrapper extends Module {
        final List<Module> keep = new ArrayList<>();
        final SequentialImpl features;

        NarrowWrapper() {
            super("NarrowWrapper");
            features = register_module("features", nativeMlp(keep));
        }
    }

    @Test
    void convertingAJavaModelSwapsItsNativeContainersInPlaceOrNamesTheFieldThatCannotHoldOne() {
        Wrapper net = new Wrapper();
        Map<String, Long> before = stateDict(net);
        assertSame(net, NativeContainers.convert(net), "a Java root is converted in place");
        assertInstanceOf(Sequential.class, net.features);
        assertEquals(before, stateDict(net));
        assertEquals(List.of(), NativeContainers.nativeContainers(net));

        NarrowWrapper narrow = new NarrowWrapper();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NativeContainers.convert(narrow));
        assertTrue(e.getMessage().startsWith("features (torch::nn::SequentialImpl) cannot be converted: field"
                + " NarrowWrapper.features has type SequentialImpl, which cannot hold a Sequential"), e.getMessage());
        assertEquals(narrow.features.address(), Modules.namedChildren(narrow).get("features").address(), "unchanged");
    }

    @Test
    void aConvertedModelSurvivesTheGarbageCollectorWithoutTheNativeRoot() throws InterruptedException {
        Sequential seq = convertedThenDropped();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(30);
        }
        seq.eval();
        Tensor y = seq.forward(torch.ones(2, 6));
        assertEquals(3, y.size(1));
        assertEquals(4, Modules.namedChildren(seq).size());
    }

    private static Sequential convertedThenDropped() {
        SequentialImpl nativeSeq = new SequentialImpl();
        LinearImpl fc1 = new LinearImpl(6, 16);
        LinearImpl fc2 = new LinearImpl(16, 3);
        nativeSeq.push_back("fc1", fc1);
        nativeSeq.push_back("relu", new ReLUImpl());
        nativeSeq.push_back("drop", new DropoutImpl(0.5));
        nativeSeq.push_back("fc2", fc2);
        Sequential seq = (Sequential) NativeContainers.convert(nativeSeq);
        java.lang.ref.Reference.reachabilityFence(fc1);
        java.lang.ref.Reference.reachabilityFence(fc2);
        return seq;
    }

    /**
     * The whole path on the sample model: an optimizer built on the native model first (Composer's
     * {@code optimizers=opt}), conversion, Gyro Dropout and stochastic depth, then training on the bundled
     * Fashion-MNIST subset: the loss falls and every parameter moves.
     */
    @Test
    void afterGyroAndStochasticDepthTheSampleModelTrainsOnFashionMnistWithTheOptimizerBuiltBefore()
            throws IOException {
        Seeds.seed(11);
        SampleModel sample = new SampleModel(784, 64, 2, 10);
        var params = sample.root.parameters();
        List<Tensor> start = new ArrayList<>();
        for (long i = 0; i < params.size(); i++) {
            start.add(params.get(i).detach().clone());
        }
        SGD optimizer = new SGD(params, new SGDOptions(0.05)); // built before conversion and surgery
        Map<String, Long> before = stateDict(sample.root);

        Sequential model = (Sequential) NativeContainers.convert(sample.root, RESIDUALS);
        int steps = 40;
        SurgeryReport gyro = GyroDropout.apply(model, GyroDropoutOptions.builder().p(0.2).sigma(16).tau(4)
                .itersPerEpoch(steps).maxEpoch(1).build());
        assertEquals(List.of("stem.drop", "blocks.0.2", "blocks.1.2"), gyro.paths(), gyro.toString());
        assertTrue(gyro.conversions().isEmpty(), "already converted");
        SurgeryReport depth = StochasticDepthSurgery.apply(model, StochasticDepthOptions.builder().method("sample")
                .dropRate(0.2).build());
        assertEquals(List.of("blocks.0", "blocks.1"), depth.paths(), depth.toString());
        assertEquals(2, StochasticDepthSurgery.wrappers(model).size());
        assertInstanceOf(StochasticDepth.class, ((Sequential) model.get("blocks")).get(1));
        Map<String, Long> afterSurgery = stateDict(model);
        afterSurgery.keySet().removeIf(k -> k.matches("buffer (stem\\.drop|blocks\\.\\d\\.2)\\.(masks|active|state|p)"));
        assertEquals(before, afterSurgery, "surgery kept every name and tensor, adding only Gyro Dropout's buffers");

        List<Double> losses = new ArrayList<>();
        model.train(true);
        try (IdxDataset train = IdxDataset.load(SUBSET, Split.TRAIN)) {
            Batches batches = Batches.builder(train).batchSize(64).shuffle(true).seed(11).device(Devices.cpu())
                    .normalization(Normalization.FASHION_MNIST).flatten(true).limit(steps * 64).build();
            Iterator<Batch> epoch = batches.epoch(0);
            while (epoch.hasNext()) {
                try (PointerScope scope = new PointerScope()) {
                    Batch b = epoch.next();
                    optimizer.zero_grad();
                    Tensor loss = torch.cross_entropy(model.forward(b.inputs()), b.targets());
                    loss.backward();
                    optimizer.step();
                    losses.add(loss.item_double());
                }
            }
        }
        assertEquals(steps, losses.size());
        double first = losses.subList(0, 5).stream().mapToDouble(d -> d).average().orElseThrow();
        double last = losses.subList(steps - 5, steps).stream().mapToDouble(d -> d).average().orElseThrow();
        assertTrue(last < 0.7 * first, "the loss falls: " + losses);
        assertEquals(steps, GyroDropout.findIn(model).get(0).step(), "Gyro Dropout ran in every step");
        var after = model.parameters();
        assertEquals(start.size(), after.size());
        for (int i = 0; i < start.size(); i++) {
            assertFalse(torch.equal(start.get(i), after.get(i)), "parameter " + i + " was updated by the old optimizer");
        }
    }
}
