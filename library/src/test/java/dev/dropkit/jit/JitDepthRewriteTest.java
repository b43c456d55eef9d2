package dev.dropkit.jit;

import static dev.dropkit.jit.JitDropoutRewriteTest.fwd;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.depth.StochasticDepthOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.TypeKind;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** Residual blocks -> stochastic depth in TorchScript graphs, and retuning torchvision's own module. */
class JitDepthRewriteTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    static JitModule load(String name) throws IOException {
        return JitModels.load(dir.resolve(name), Devices.cpu());
    }

    static StochasticDepthOptions options(double rate, String distribution, String method, String scaling) {
        return StochasticDepthOptions.builder().dropRate(rate).distribution(distribution).method(method)
                .scaling(scaling).build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet_scripted.pt", "resnet_traced.pt", "bottleneck_scripted.pt"})
    void everyBlockIsRewrittenAndInvertedEvalIsBitIdentical(String name) throws IOException {
        if (name.startsWith("bottleneck")) {
            JitFixtures.assumeTorchvision();
        }
        JitModule original = load(name);
        JitModule m = load(name);
        JitRewriteReport r = JitRewrites.stochasticDepth(m, options(0.2, "linear", "sample", "inverted"));
        int blocks = name.startsWith("bottleneck") ? 4 : 3;
        assertEquals(blocks, r.count(), r.toJson());
        assertEquals("aten::add_", r.changes().get(0).site());
        for (int i = 0; i < blocks; i++) {
            JitModule block = JitInspector.namedModules(m).get(r.changes().get(i).module());
            assertEquals(((i + 1) / (double) blocks) * 0.2, block.attr("dropkit_depth_rate").toDouble(), 0.0,
                    "linear rate of block " + i);
        }
        original.eval();
        m.eval();
        Tensor x = torch.randn(4, 3, 16, 16);
        assertTrue(torch.equal(fwd(original, x), fwd(m, x)), "inverted stochastic depth leaves evaluation alone");
    }

    /**
     * Per sample, a training forward of the rewritten block is either the block without its branch
     * (relu(shortcut), dropped) or exactly the original block's output (kept: Composer scaling does not
     * scale in training), and the keep fraction is 1 - rate within 5 sigma.
     */
    @Test
    void samplewiseKeepsOrDropsEachSampleAndMatchesTheRate() throws IOException {
        JitModule original = JitInspector.namedModules(load("resnet_scripted.pt")).get("layer1.1");
        JitModule model = load("resnet_scripted.pt");
        JitRewrites.stochasticDepth(model, options(0.3, "uniform", "sample", "composer"));
        JitModule block = JitInspector.namedModules(model).get("layer1.1");
        original.train(true);
        block.train(true);
        int n = 400;
        torch.manual_seed(11);
        Tensor x = torch.randn(n, 8, 4, 4);
        Tensor full = fwd(original, x);
        Tensor y = fwd(block, x);
        Tensor dropped = torch.relu(x);
        Tensor isKept = y.eq(full).flatten(1, 3).all(1);
        Tensor isDropped = y.eq(dropped).flatten(1, 3).all(1);
        assertTrue(torch.equal(isKept.logical_or(isDropped), torch.ones_like(isKept)),
                "every sample is exactly kept or exactly dropped");
        double keep = isKept.to(torch.ScalarType.Float).mean().item_double();
        assertEquals(0.7, keep, 5 * Math.sqrt(0.7 * 0.3 / n), "keep fraction");

        // Composer evaluation: relu(x + (1 - rate) * branch), the branch computed from the block's own layers
        block.eval();
        Map<String, JitModule> mods = JitInspector.namedModules(model);
        Tensor branch = fwd(mods.get("layer1.1.bn2"), fwd(mods.get("layer1.1.conv2"),
                torch.relu(fwd(mods.get("layer1.1.bn1"), fwd(mods.get("layer1.1.conv1"), x)))));
        Tensor expected = torch.relu(x.add(branch.mul(new Scalar(1.0 - 0.3))));
        assertTrue(torch.equal(expected, fwd(block, x)), "eval = shortcut + (1 - rate) * branch");
    }

    /**
     * Inverted sample-wise: a kept sample is exactly relu(shortcut + branch * 1/(1-rate)) on the CPU (one
     * addcmul carrying the scale as its value), a dropped one exactly relu(shortcut), at the rate; the scale is
     * folded into the addcmul, not divided into the mask (no aten::div in the method's graph).
     */
    @Test
    void samplewiseInvertedScalesKeptSamplesInsideTheAddcmul() throws IOException {
        JitModule model = load("resnet_scripted.pt");
        JitRewrites.stochasticDepth(model, options(0.3, "uniform", "sample", "inverted"));
        Map<String, JitModule> mods = JitInspector.namedModules(model);
        JitModule block = mods.get("layer1.1");
        for (JitNode n : JitGraphs.allNodes(block.get_method("dropkit_depth").graph().block())) {
            boolean tensorDiv = JitGraphs.kind(n).startsWith("aten::div") && n.outputs().size() == 1
                    && n.output().type().get().kind().intern() == TypeKind.TensorType; // scalar rate arithmetic is fine
            assertTrue(!tensorDiv, "no division of the mask: " + JitGraphs.kind(n));
        }
        block.train(true);
        int n = 400;
        torch.manual_seed(12);
        Tensor x = torch.randn(n, 8, 4, 4);
        Tensor y = fwd(block, x);
        Tensor branch = fwd(mods.get("layer1.1.bn2"), fwd(mods.get("layer1.1.conv2"),
                torch.relu(fwd(mods.get("layer1.1.bn1"), fwd(mods.get("layer1.1.conv1"), x)))));
        Tensor kept = torch.relu(x.add(branch.mul(new Scalar(1.0 / 0.7))));
        Tensor isKept = y.eq(kept).flatten(1, 3).all(1);
        Tensor isDropped = y.eq(torch.relu(x)).flatten(1, 3).all(1);
        assertTrue(torch.equal(isKept.logical_xor(isDropped), torch.ones_like(isKept)),
                "every sample is exactly kept (scaled) or exactly dropped");
        double keep = isKept.to(torch.ScalarType.Float).mean().item_double();
        assertEquals(0.7, keep, 5 * Math.sqrt(0.7 * 0.3 / n), "keep fraction");
    }

    /**
     * Block-wise, the whole batch keeps or drops the branch, and a dropped branch is not computed: its
     * nodes sit in a prim::If, so its BatchNorm's running statistics do not move on a dropped call.
     */
    @Test
    void blockwiseDropsTheWholeBatchTogetherWithoutComputingTheBranch() throws IOException {
        JitModule original = JitInspector.namedModules(load("resnet_scripted.pt")).get("layer1.1");
        JitModule model = load("resnet_scripted.pt");
        JitRewriteReport r = JitRewrites.stochasticDepth(model, options(0.4, "uniform", "block", "composer"));
        assertTrue(r.notes().get(0).contains("not computed at all"), r.toJson());
        JitModule block = JitInspector.namedModules(model).get("layer1.1");
        Tensor runningMean = JitInspector.namedModules(model).get("layer1.1.bn1").attr("running_mean").toTensor();
        original.train(true);
        block.train(true);
        torch.manual_seed(2);
        int calls = 300;
        int droppedCalls = 0;
        for (int i = 0; i < calls; i++) {
            Tensor x = torch.randn(4, 8, 4, 4);
            Tensor before = runningMean.clone();
            Tensor y = fwd(block, x);
            boolean statsMoved = !torch.equal(before, runningMean);
            boolean kept = torch.equal(y, fwd(original, x));
            boolean dropped = torch.equal(y, torch.relu(x));
            assertTrue(kept ^ dropped, "call " + i + ": the whole batch is kept or dropped");
            assertEquals(kept, statsMoved, "call " + i + ": the branch ran exactly when it was kept");
            droppedCalls += dropped ? 1 : 0;
        }
        assertEquals(0.4, droppedCalls / (double) calls, 5 * Math.sqrt(0.4 * 0.6 / calls));
        block.eval();
        original.eval();
        Tensor x = torch.randn(4, 8, 4, 4);
        Map<String, JitModule> mods = JitInspector.namedModules(model);
        Tensor branch = fwd(mods.get("layer1.1.bn2"), fwd(mods.get("layer1.1.conv2"),
                torch.relu(fwd(mods.get("layer1.1.bn1"), fwd(mods.get("layer1.1.conv1"), x)))));
        assertTrue(torch.equal(torch.relu(x.add(branch.mul(new Scalar(1.0 - 0.4)))), fwd(block, x)),
                "Composer evaluation of the restructured block");
    }

    @ParameterizedTest
    @ValueSource(strings = {"resnet_traced.pt", "bottleneck_scripted.pt"})
    void blockwiseRestructuringKeepsInvertedEvalBitIdentical(String name, @TempDir Path tmp) throws IOException {
        if (name.startsWith("bottleneck")) {
            JitFixtures.assumeTorchvision();
        }
        JitModule original = load(name);
        JitModule m = load(name);
        JitRewriteReport r = JitRewrites.stochasticDepth(m, options(0.5, "linear", "block", "inverted"));
        assertTrue(r.notes().get(0).contains("not computed at all"), r.toJson());
        original.eval();
        m.eval();
        Tensor x = torch.randn(2, 3, 16, 16);
        assertTrue(torch.equal(fwd(original, x), fwd(m, x)));
        m.train(true);
        fwd(m, torch.randn(4, 3, 16, 16)).sum().backward();
        Path saved = tmp.resolve("block.pt");
        m.save(saved.toString());
        JitFixtures.Result py = JitFixtures.run("""
                import torch
                m = torch.jit.load('%s')
                m.train()
                m(torch.randn(4, 3, 16, 16)).sum().backward()
                print('ok')
                """.formatted(saved), "-");
        assertEquals(0, py.exitCode(), py.output());
    }

    /**
     * A block written {@code x + h} (shortcut first) whose branch {@code h} is read again after the sum:
     * the branch is still told apart from the shortcut, and block-wise it cannot move into a prim::If,
     * so it is computed and dropped by the method instead, which the report says.
     */
    @Test
    void aBranchUsedAfterTheSumIsComputedAndDroppedNotMoved() throws IOException {
        JitModule original = load("shared_branch_scripted.pt");
        JitModule model = load("shared_branch_scripted.pt");
        JitRewriteReport r = JitRewrites.stochasticDepth(model, options(0.5, "uniform", "block", "composer"),
                Pattern.compile(".*SharedBranchBlock"), 0);
        assertEquals(2, r.count(), r.toJson());
        assertTrue(r.notes().get(0).contains("could not be moved"), r.toJson());
        Map<String, JitModule> mods = JitInspector.namedModules(model);
        JitModule block = mods.get("blocks.0");
        JitModule plain = JitInspector.namedModules(original).get("blocks.0");
        block.train(true);
        plain.train(true);
        torch.manual_seed(4);
        int kept = 0;
        int calls = 200;
        for (int i = 0; i < calls; i++) {
            Tensor x = torch.randn(2, 4, 5, 5);
            Tensor h = torch.relu(fwd(mods.get("blocks.0.conv"), x));
            Tensor dropped = x.mul(torch.sigmoid(h.mean()));
            Tensor y = fwd(block, x);
            boolean isKept = torch.equal(y, fwd(plain, x));
            assertTrue(isKept ^ torch.equal(y, dropped), "call " + i);
            kept += isKept ? 1 : 0;
        }
        assertEquals(0.5, kept / (double) calls, 5 * Math.sqrt(0.25 / calls));
        block.eval();
        Tensor x = torch.randn(2, 4, 5, 5);
        Tensor h = torch.relu(fwd(mods.get("blocks.0.conv"), x));
        assertTrue(torch.equal(x.add(h.mul(new Scalar(0.5))).mul(torch.sigmoid(h.mean())), fwd(block, x)),
                "Composer evaluation: (x + (1 - rate) * h) * sigmoid(mean h)");
    }

    @Test
    void warmupStartsAtRateZeroAndCountsSteps() throws IOException {
        JitModule original = JitInspector.namedModules(load("resnet_scripted.pt")).get("layer1.1");
        JitModule model = load("resnet_scripted.pt");
        JitRewrites.stochasticDepth(model, options(0.9, "uniform", "sample", "composer"), JitInspector.DEFAULT_BLOCKS, 10);
        JitModule block = JitInspector.namedModules(model).get("layer1.1");
        original.train(true);
        block.train(true);
        Tensor x = torch.randn(64, 8, 4, 4);
        assertTrue(torch.equal(fwd(original, x), fwd(block, x)), "step 0 of the warm-up: rate 0");
        for (int i = 1; i < 10; i++) {
            fwd(block, x);
        }
        assertEquals(10, block.attr("dropkit_depth_step").toInt());
        assertTrue(!torch.equal(fwd(original, x), fwd(block, x)), "after the warm-up, rate 0.9 drops");
        assertThrows(IllegalArgumentException.class, () -> JitRewrites.stochasticDepth(load("resnet_scripted.pt"),
                StochasticDepthOptions.builder().dropRate(0.1).warmup(0.2).build()));
    }

    @Test
    void savedModelReloadsWithItsRatesAndTrainsInPython(@TempDir Path tmp) throws IOException {
        JitModule m = load("resnet_scripted.pt");
        JitRewrites.stochasticDepth(m, options(0.5, "linear", "sample", "inverted"));
        Path saved = tmp.resolve("sd.pt");
        m.save(saved.toString());
        JitModule back = JitModels.load(saved, Devices.cpu());
        m.train(true);
        back.train(true);
        Tensor x = torch.randn(8, 3, 16, 16);
        torch.manual_seed(9);
        Tensor a = fwd(m, x);
        torch.manual_seed(9);
        Tensor b = fwd(back, x);
        assertTrue(torch.equal(a, b), "same seed, same drops after the reload");
        JitFixtures.Result r = JitFixtures.run("""
                import torch
                m = torch.jit.load('%s')
                torch.manual_seed(0)
                m.train()
                opt = torch.optim.SGD(m.parameters(), lr=0.01)
                x = torch.randn(256, 3, 8, 8)
                loss = m(x).pow(2).mean()
                loss.backward()
                opt.step()
                print('rate', getattr(m.layer2, '0').dropkit_depth_rate)  # loaded Sequentials do not index
                blk = getattr(m.layer1, '1')
                blk.dropkit_depth_inverted = False  # retunable from Python: the state is plain attributes
                x = torch.randn(256, 8, 8, 8)
                with torch.no_grad():
                    blk.dropkit_depth_rate = 0.0
                    kept = blk(x)
                    blk.dropkit_depth_rate = 1.0
                    dropped = blk(x)
                    blk.dropkit_depth_rate = 0.5
                    y = blk(x)
                k = (y == kept).flatten(1).all(1)
                d = (y == dropped).flatten(1).all(1)
                print('exact', bool((k | d).all()), 'kept', int(k.sum()))
                """.formatted(saved), "-");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("rate 0.5") && r.output().contains("exact True"), r.output());
        int kept = Integer.parseInt(r.output().replaceAll("(?s).*kept (\\d+).*", "$1"));
        assertEquals(128, kept, 5 * Math.sqrt(256 * 0.25), "Python keeps about half the samples at rate 0.5");
    }

    @Test
    void torchvisionStochasticDepthModulesAreRetuned(@TempDir Path tmp) throws IOException {
        JitFixtures.assumeTorchvision();
        JitModule original = load("convnext_sd_scripted.pt");
        JitModule m = load("convnext_sd_scripted.pt");
        JitRewriteReport r = JitRewrites.stochasticDepth(m, options(0.3, "linear", "block", "composer"));
        assertEquals(3, r.count(), r.toJson());
        for (int i = 0; i < 3; i++) {
            JitModule sd = JitInspector.namedModules(m).get("blocks." + i + ".stochastic_depth");
            assertEquals(((i + 1) / 3.0) * 0.3, sd.attr("p").toDouble(), 0.0);
            assertEquals("batch", sd.attr("mode").toStringRef().getString());
        }
        original.eval();
        m.eval();
        Tensor x = torch.randn(2, 3, 16, 16);
        assertTrue(torch.equal(fwd(original, x), fwd(m, x)));
        Path saved = tmp.resolve("retuned.pt");
        m.save(saved.toString());
        JitFixtures.Result py = JitFixtures.run("""
                import torch
                m = torch.jit.load('%s')
                sd = [getattr(m.blocks, str(i)).stochastic_depth for i in range(3)]
                print([round(s.p, 6) for s in sd], sd[0].mode)
                """.formatted(saved), "-");
        assertEquals(0, py.exitCode(), py.output());
        assertTrue(py.output().contains("[0.1, 0.2, 0.3] batch"), py.output());
    }

    @Test
    void noMatchingBlockIsAnErrorNamingThePattern() throws IOException {
        JitRewriteException e = assertThrows(JitRewriteException.class,
                () -> JitRewrites.stochasticDepth(load("mlp_scripted.pt"), options(0.1, "linear", "sample", "composer")));
        assertTrue(e.getMessage().contains("BasicBlock|Bottleneck"), e.getMessage());
        JitRewriteException none = assertThrows(JitRewriteException.class, () -> JitRewrites.stochasticDepth(
                load("resnet_scripted.pt"), options(0.1, "linear", "sample", "composer"), Pattern.compile("Nope"), 0));
        assertTrue(none.getMessage().contains("/Nope/"), none.getMessage());
        // a matched class whose forward has no residual addition is reported, not guessed at
        JitRewriteException conv = assertThrows(JitRewriteException.class, () -> JitRewrites.stochasticDepth(
                load("resnet_scripted.pt"), options(0.1, "linear", "sample", "composer"), Pattern.compile(".*Conv2d"), 0));
        assertTrue(conv.getMessage().contains("no residual addition"), conv.getMessage());
    }
}
