package dev.dropkit.depth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Modules;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.models.Bottleneck;
import dev.dropkit.models.ModelInternals;
import dev.dropkit.models.ResNet;
import dev.dropkit.surgery.SurgeryReport;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingCallback;
import dev.dropkit.train.TrainingContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

@ExtendWith(NativeScopePerTest.class)
class StochasticDepthSurgeryTest {


    /** ResNet-50's layout (16 Bottlenecks) at width 2: tiny, but every path and projection is there. */
    static ResNet tinyResNet50(long seed) {
        Seeds.seed(seed);
        return ResNet.small(ResNet.Layout.RESNET50, 2, 1, 10);
    }

    /** Three Bottlenecks (two with projections, one identity): for the tests that run the network. */
    static ResNet tinyNet(long seed) {
        Seeds.seed(seed);
        return ResNet.builder().blockType(ResNet.BlockType.BOTTLENECK).depths(1, 2).widths(2, 4).inputChannels(1)
                .classes(10).stem(ResNet.Stem.SMALL).build();
    }

    static StochasticDepthOptions.Builder options() {
        return StochasticDepthOptions.builder();
    }

    static List<String> bufferNames(Module m) {
        var dict = m.named_buffers();
        List<String> names = new ArrayList<>();
        for (long i = 0; i < dict.size(); i++) {
            names.add(dict.get(i).key().getString());
        }
        return names;
    }

    @Test
    void wrapsEveryTargetBlockInPlaceAndReportsIt() {
        ResNet net = tinyResNet50(1);
        List<Module> blocksBefore = net.blocks();
        SurgeryReport report = StochasticDepthSurgery.apply(net,
                options().targetLayerName("ResNetBottleneck").method("sample").dropRate(0.1).build());
        assertEquals(16, report.count(), report.toString());
        assertEquals("layer1.0", report.paths().get(0));
        assertEquals("layer4.2", report.paths().get(15));
        assertTrue(report.warnings().isEmpty(), report.toString());
        assertTrue(report.changes().get(0).after().startsWith("StochasticDepth(rate=0.00625, method=sample"),
                report.changes().get(0).after());
        List<StochasticDepth> wrappers = StochasticDepthSurgery.wrappers(net);
        assertEquals(16, wrappers.size());
        for (int i = 0; i < 16; i++) {
            assertSame(blocksBefore.get(i), wrappers.get(i).block(), "wraps the original block object, in order");
            assertSame(wrappers.get(i), net.blocks().get(i), "the stage's Java list holds the wrapper");
        }
        // libtorch sees the wrapper under the old name.
        assertEquals(wrappers.get(0).address(), Modules.namedDescendants(net).get("layer1.0").address());
    }

    /** Linear: block i of L gets ((i + 1) / L) * drop_rate, exactly; uniform: drop_rate everywhere. */
    @Test
    void linearDistributionGivesTheExactPerBlockRates() {
        ResNet net = tinyResNet50(2);
        StochasticDepthSurgery.apply(net, options().dropRate(0.2).distribution("linear").build());
        List<StochasticDepth> wrappers = StochasticDepthSurgery.wrappers(net);
        int blocks = wrappers.size();
        for (int i = 0; i < blocks; i++) {
            assertEquals(((i + 1) / (double) blocks) * 0.2, wrappers.get(i).targetRate(), 0.0, "block " + i);
            assertEquals(wrappers.get(i).targetRate(), wrappers.get(i).rate(), 0.0, "no warm-up: rate is the target");
        }
        assertEquals(0.2 / 16, wrappers.get(0).rate(), 0.0, "first block: drop_rate / L");
        assertEquals(0.1, wrappers.get(7).rate(), 0.0, "middle block: drop_rate / 2");
        assertEquals(0.2, wrappers.get(15).rate(), 0.0, "last block: exactly drop_rate");
        assertEquals(0.15, DropDistribution.LINEAR.rate(0.2, 2, 4), 1e-15);
        assertEquals(0.05, DropDistribution.LINEAR.rate(0.2, 0, 4), 0.0);
        assertEquals(0.1, DropDistribution.LINEAR.rate(0.1, 2, 3), 0.0, "exact at the last block even for L = 3");

        ResNet uniform = tinyResNet50(2);
        StochasticDepthSurgery.apply(uniform, options().dropRate(0.2).distribution("uniform").build());
        assertTrue(StochasticDepthSurgery.wrappers(uniform).stream().allMatch(w -> w.rate() == 0.2));
    }

    @Test
    void applyingTwiceDoesNotDoubleWrap() {
        ResNet net = tinyResNet50(3);
        StochasticDepthOptions o = options().method("sample").build();
        assertEquals(16, StochasticDepthSurgery.apply(net, o).count());
        List<StochasticDepth> first = StochasticDepthSurgery.wrappers(net);
        SurgeryReport again = StochasticDepthSurgery.apply(net, o);
        assertEquals(0, again.count(), again.toString());
        List<StochasticDepth> second = StochasticDepthSurgery.wrappers(net);
        assertEquals(16, second.size());
        for (int i = 0; i < 16; i++) {
            assertSame(first.get(i), second.get(i), "same wrappers");
            assertFalse(second.get(i).block() instanceof StochasticDepth, "never a wrapper of a wrapper");
        }
    }

    @Test
    void parameterAndBufferNamesAreUnchanged() {
        ResNet net = tinyResNet50(4);
        List<String> params = Modules.namedParameterNames(net);
        List<String> buffers = bufferNames(net);
        assertTrue(buffers.contains("layer2.0.downsample.1.running_mean"), buffers.toString());
        StochasticDepthSurgery.apply(net, options().build());
        assertEquals(params, Modules.namedParameterNames(net), "same names, same order");
        assertEquals(buffers, bufferNames(net), "same buffer names (BatchNorm running statistics), same order");
    }

    /** A checkpoint written before surgery loads after it (and one written after loads into a plain model). */
    @Test
    void aCheckpointFromBeforeSurgeryLoadsAfterIt(@TempDir Path dir) {
        Tensor x = TestBlocks.randn(Devices.cpu(), 4, 1, 12, 12);
        ResNet original = tinyNet(5);
        original.train(true);
        try (NoGradGuard noGrad = new NoGradGuard()) {
            original.forward(x); // move the BatchNorm running statistics away from their initial values
        }
        original.eval();
        Tensor expected = original.forward(x);
        String before = dir.resolve("before.pt").toString();
        OutputArchive out = new OutputArchive();
        original.save(out);
        out.save_to(before);

        ResNet other = tinyNet(6); // different weights
        StochasticDepthSurgery.apply(other, options().scaling(DepthScaling.INVERTED).build()); // eval = plain block
        InputArchive in = new InputArchive();
        in.load_from(before);
        other.load(in);
        other.eval();
        assertTrue(other.forward(x).equal(expected), "the wrapped model computes what the saved one did");

        String after = dir.resolve("after.pt").toString();
        OutputArchive out2 = new OutputArchive();
        other.save(out2);
        out2.save_to(after);
        ResNet plain = tinyNet(7);
        InputArchive in2 = new InputArchive();
        in2.load_from(after);
        plain.load(in2);
        plain.eval();
        assertTrue(plain.forward(x).equal(expected), "and a checkpoint written after surgery loads without it");
    }

    @Test
    void targetsByInterfaceClassPredicateOrName() {
        ResNet net = tinyResNet50(8);
        List<String> params = Modules.namedParameterNames(net);
        var downsampling = BlockTarget.matching("Bottlenecks with stride 2",
                m -> m instanceof Bottleneck b && b.stride() == 2);
        SurgeryReport report = StochasticDepthSurgery.apply(net, options().target(downsampling).build());
        assertEquals(List.of("layer2.0", "layer3.0", "layer4.0"), report.paths());
        assertEquals(1.0 / 3 * 0.2, StochasticDepthSurgery.wrappers(net).get(0).rate(), 0.0,
                "rates spread over the targets only");
        // A wrapped block keeps its place among its siblings (libtorch would append it), so a second surgery
        // walks the blocks in depth order and the deepest block gets the full rate.
        assertEquals(params, Modules.namedParameterNames(net), "partial surgery keeps the parameter order");
        SurgeryReport rest = StochasticDepthSurgery.apply(net, options().target(BlockTarget.ofClass(Bottleneck.class))
                .build());
        assertEquals(13, rest.count(), "the rest, by class");
        assertEquals(List.of("layer1.0", "layer1.1", "layer1.2", "layer2.1", "layer2.2", "layer2.3", "layer3.1",
                "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.1", "layer4.2"), rest.paths());
        List<StochasticDepth> wrappers = StochasticDepthSurgery.wrappers(net);
        assertEquals(16, wrappers.size());
        // In depth order: layer1.0-1.2, layer2.0-2.3, layer3.0-3.5, layer4.0-4.2.
        assertEquals(0.2 / 3, wrappers.get(3).rate(), 1e-15, "layer2.0: the first surgery's first target");
        assertEquals(0.2 * 5 / 16, wrappers.get(4).rate(), 1e-15,
                "layer2.1: the 5th of the 16 blocks the second surgery's rates are spread over");
        assertEquals(0.2 * 2 / 3, wrappers.get(7).rate(), 1e-15, "layer3.0");
        assertEquals(0.2, wrappers.get(13).rate(), 1e-15, "layer4.0");
        assertEquals(0.2, wrappers.get(15).rate(), 1e-15, "layer4.2, the deepest block, at the full rate");
        assertEquals(params, Modules.namedParameterNames(net));

        ResNet basic = ResNet.small(ResNet.Layout.RESNET18, 2, 1, 10);
        assertEquals(8, StochasticDepthSurgery.apply(basic, options().targetLayerName("BasicBlock").build()).count());
        ResNet any = ResNet.small(ResNet.Layout.RESNET18, 2, 1, 10);
        assertEquals(8, StochasticDepthSurgery.apply(any, options().target(BlockTarget.ofClass(ResidualBlock.class))
                .build()).count());
    }

    @Test
    void aModelWithoutTargetsIsAnErrorNamingWhatWasLookedFor() {
        ResNet basic = ResNet.small(ResNet.Layout.RESNET18, 2, 1, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthSurgery.apply(basic, options().targetLayerName("ResNetBottleneck").build()));
        assertTrue(e.getMessage().startsWith("no block to apply stochastic depth to in ResNet: looked for blocks named"
                + " 'ResNetBottleneck' (class Bottleneck) among the Java modules implementing"
                + " dev.dropkit.depth.ResidualBlock"), e.getMessage());
        assertEquals(0, StochasticDepthSurgery.wrappers(basic).size(), "nothing changed");

        e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthSurgery.apply(basic, options().targetLayerName("LinearImpl").build()));
        assertTrue(e.getMessage().contains("these match but do not implement ResidualBlock: fc (LinearImpl)"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StochasticDepthSurgery.apply(
                new org.bytedeco.pytorch.LinearImpl(2, 2), options().build()));
        assertTrue(e.getMessage().contains("looked for residual blocks (any ResidualBlock)"), e.getMessage());
    }

    /** The wrappers are what forward runs: with every branch dropped no branch convolution gets a gradient. */
    @Test
    void forwardRunsTheWrappersAndSurvivesGarbageCollection() throws InterruptedException {
        ResNet net = tinyNet(9);
        StochasticDepthSurgery.apply(net, options().method("block").dropRate(1.0).distribution("uniform").build());
        for (int i = 0; i < 3; i++) {
            System.gc(); // the wrapped blocks' children must survive: the wrappers keep the blocks
            Thread.sleep(20);
        }
        net.train(true);
        net.forward(TestBlocks.randn(Devices.cpu(), 2, 1, 8, 8)).sum().backward();
        Bottleneck first = (Bottleneck) StochasticDepthSurgery.wrappers(net).get(0).block();
        assertFalse(ModelInternals.conv2(first).weight().grad().defined(), "a dropped branch gets no gradient");
        assertTrue(ModelInternals.projectionConv(first).weight().grad().defined(), "the shortcut does");
        assertTrue(ModelInternals.stemConv(net).weight().grad().defined());
    }

    /**
     * A later surgery cannot reach into a wrapped block: the wrapper registers the block's children but holds
     * no Java reference to them, so the walker reports them instead of swapping a module forward never calls.
     */
    @Test
    void laterSurgeryReportsTheChildrenOfWrappedBlocksInsteadOfSwappingThem() {
        ResNet net = tinyNet(12);
        StochasticDepthSurgery.apply(net, options().build());
        SurgeryReport report = dev.dropkit.surgery.ModuleSurgery.replace(net, "bn swap",
                slot -> slot.path().equals("layer1.0.bn1"),
                slot -> new org.bytedeco.pytorch.BatchNorm2dImpl(new org.bytedeco.pytorch.BatchNormOptions(2)));
        assertEquals(0, report.count());
        assertTrue(report.warnings().get(0).startsWith("layer1.0.bn1 (torch::nn::BatchNorm2dImpl) left alone: no Java"
                + " field or list holds it"), report.toString());
    }

    /** Warm-up through the real training loop: 0 at the first step, the target from the warm-up fraction on. */
    @Test
    void warmupRampsFromZeroToTheTargetOverTheWarmupFraction() {
        Seeds.seed(10);
        ResNet net = ResNet.builder().blockType(ResNet.BlockType.BOTTLENECK).depths(1, 1).widths(2, 2)
                .inputChannels(1).classes(3).stem(ResNet.Stem.SMALL).build();
        StochasticDepthOptions o = options().method("sample").dropRate(0.4).distribution("linear").warmup(0.5).build();
        StochasticDepthSurgery.apply(net, o);
        List<StochasticDepth> wrappers = StochasticDepthSurgery.wrappers(net);
        assertEquals(0.0, wrappers.get(1).rate(), "a warm-up starts at 0 right after surgery");
        List<double[]> seen = new ArrayList<>();
        TrainingCallback recorder = new TrainingCallback() {
            @Override
            public void onBatchBegin(TrainingContext context) {
                seen.add(new double[] {context.progress(), wrappers.get(0).rate(), wrappers.get(1).rate()});
            }
        };
        Tensor inputs = TestBlocks.randn(Devices.cpu(), 16, 1, 6, 6);
        Tensor targets = torch.tensor(new long[] {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
        Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward)).optimizer(Optimizers.sgd(0.01))
                .epochs(2).device(Devices.cpu())
                .callback(StochasticDepthCallback.forModel(net, o)).callback(recorder).build();
        trainer.fit(new TensorBatches(inputs, targets, 4, false, 1, Devices.cpu()), null);
        assertEquals(8, seen.size(), "2 epochs of 4 steps");
        for (int step = 0; step < 8; step++) {
            double[] s = seen.get(step);
            assertEquals(step / 8.0, s[0], 0.0);
            double factor = Math.min(1.0, (step / 8.0) / 0.5);
            assertEquals(0.2 * factor, s[1], 1e-15, "block 0 (target 0.2) at step " + step);
            assertEquals(0.4 * factor, s[2], 1e-15, "block 1 (target 0.4) at step " + step);
        }
        assertEquals(0.0, seen.get(0)[2], 0.0, "exactly 0 at the start");
        assertEquals(0.4, seen.get(4)[2], 0.0, "exactly the target once progress reaches drop_warmup");
        assertEquals(0.4, seen.get(7)[2], 0.0);
        assertEquals(1.0, StochasticDepthCallback.warmupFactor(0.3, 0.0), "no warm-up");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new StochasticDepthCallback(wrappers, 1.5));
        assertEquals("drop_warmup must be in [0, 1], got 1.5", e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void trainsOnEveryMethodOnTheDevice(String name) {
        Device dev = TestDevices.device(name);
        for (DepthMethod method : DepthMethod.values()) {
            ResNet net = tinyNet(11);
            StochasticDepthSurgery.apply(net, options().method(method).dropRate(0.5).build());
            net.to(dev, false);
            net.train(true);
            Tensor x = TestBlocks.randn(dev, 8, 1, 8, 8);
            Tensor loss = net.forward(x).pow(new org.bytedeco.pytorch.Scalar(2)).mean();
            loss.backward();
            assertTrue(Double.isFinite(loss.item_double()), method.id());
            net.eval();
            Tensor y = net.forward(x);
            assertTrue(y.equal(net.forward(x)), method.id() + ": evaluation is deterministic");
            assertEquals(10, Tensors.shape(y)[1]);
        }
    }
}
