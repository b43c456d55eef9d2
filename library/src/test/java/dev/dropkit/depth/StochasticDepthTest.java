package dev.dropkit.depth;

import static dev.dropkit.depth.TestBlocks.randn;
import static dev.dropkit.depth.TestBlocks.rowsEqual;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.depth.TestBlocks.AffineBlock;
import dev.dropkit.models.BasicBlock;
import dev.dropkit.models.Bottleneck;
import dev.dropkit.models.ModelInternals;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

@ExtendWith(NativeScopePerTest.class)
@SuppressWarnings("deprecation") // SAMPLE_FAST is deprecated and still tested
class StochasticDepthTest {
    static final int N = 20_000; // samples for keep-fraction statistics: sigma = sqrt(p(1-p)/N) <= 0.0036


    /**
     * Every output row is exactly the shortcut (dropped) or shortcut + scale * branch (kept), and the kept
     * fraction is within 5 sigma of 1 - rate. Kept rows are exact on the CPU, and on CUDA at scale 1; on CUDA
     * with the inverted scale 1/0.7, addcmul's fused multiply-add rounds once where the reference
     * {@code shortcut.add(branch.mul(scale))} rounds twice (issue 15: this case failed on an H200), so kept rows
     * are held to that rounding ({@link TestBlocks#rowsWithinFmaRounding}) and dropped rows stay exact.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void sampleWiseKeepsEachSampleWithProbabilityOneMinusRateAndRowsAreExact(String name) {
        Device dev = TestDevices.device(name);
        double rate = 0.3;
        for (DepthMethod method : new DepthMethod[] {DepthMethod.SAMPLE, DepthMethod.SAMPLE_FAST}) {
            for (DepthScaling scaling : DepthScaling.values()) {
                Seeds.seed(11);
                AffineBlock block = new AffineBlock(3, dev);
                StochasticDepth sd = new StochasticDepth(block, rate, method, scaling);
                sd.train(true);
                Tensor x = randn(dev, N, 3, 2, 2);
                Tensor y = sd.forward(x);
                Tensor shortcut = block.shortcut(x);
                Tensor branch = block.branch(x);
                double scale = scaling.trainScale(rate);
                Tensor scaled = scale == 1.0 ? branch : branch.mul(new Scalar(scale));
                Tensor kept = shortcut.add(scaled);
                boolean exact = !dev.is_cuda() || scale == 1.0;
                boolean[] isKept = exact ? rowsEqual(y, kept) : TestBlocks.rowsWithinFmaRounding(y, kept, scaled);
                boolean[] isDropped = rowsEqual(y, shortcut);
                int keptCount = 0;
                for (int i = 0; i < N; i++) {
                    assertTrue(isKept[i] ^ isDropped[i], method + "/" + scaling + ": row " + i
                            + " is exactly the shortcut or " + (exact ? "exactly" : "within FMA rounding of")
                            + " shortcut + scaled branch");
                    keptCount += isKept[i] ? 1 : 0;
                }
                double sigma = TestDevices.bernoulliSigma(rate, N);
                assertEquals(1 - rate, (double) keptCount / N, 5 * sigma, method + "/" + scaling + " keep fraction");
            }
        }
    }

    /**
     * Sample-fast gathers the kept rows on the CPU (the branch sees fewer samples) and runs as sample on CUDA
     * (the branch sees the whole batch: gathering would need the kept count on the host, a sync).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void sampleFastGathersKeptRowsOnTheCpuAndRunsAsSampleOnCuda(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(23);
        AffineBlock block = new AffineBlock(3, dev);
        StochasticDepth sd = new StochasticDepth(block, 0.5, DepthMethod.SAMPLE_FAST, DepthScaling.COMPOSER);
        sd.train(true);
        Tensor x = randn(dev, 256, 3, 2, 2);
        Tensor y = sd.forward(x);
        int dropped = 0;
        for (boolean d : rowsEqual(y, x)) {
            dropped += d ? 1 : 0;
        }
        assertTrue(dropped > 0 && dropped < 256, "the seed gives a mixed mask: " + dropped);
        if (dev.is_cuda()) {
            assertEquals(256, block.lastBranchBatch, "on CUDA the branch runs on the whole batch (as sample)");
        } else {
            assertEquals(256 - dropped, block.lastBranchBatch, "on the CPU the branch runs on the kept rows only");
        }
    }

    /** Block-wise: over many calls the keep fraction is 1 - rate, and a dropped branch never runs. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void blockWiseDropsTheWholeBatchAndDoesNotRunADroppedBranch(String name) {
        Device dev = TestDevices.device(name);
        double rate = 0.4;
        int calls = 2000;
        for (DepthScaling scaling : DepthScaling.values()) {
            Seeds.seed(12);
            AffineBlock block = new AffineBlock(2, dev);
            StochasticDepth sd = new StochasticDepth(block, rate, DepthMethod.BLOCK, scaling);
            sd.train(true);
            Tensor x = randn(dev, 4, 2, 3, 3);
            Tensor full = x.add(block.branch(x).mul(new Scalar(scaling.trainScale(rate))));
            int kept = 0;
            for (int c = 0; c < calls; c++) {
                try (PointerScope step = new PointerScope()) {
                    int before = block.branchCalls;
                    Tensor y = sd.forward(x);
                    if (block.branchCalls == before) {
                        assertTrue(y.equal(x), "a dropped block is exactly its shortcut");
                    } else {
                        assertEquals(before + 1, block.branchCalls);
                        assertTrue(y.equal(full), scaling + ": a kept block is exactly shortcut + scaled branch");
                        kept++;
                    }
                }
            }
            assertEquals(1 - rate, (double) kept / calls, 5 * TestDevices.bernoulliSigma(rate, calls),
                    scaling + " keep fraction over calls");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void evaluationIsDeterministicAndScaledPerTheSemantics(String name) {
        Device dev = TestDevices.device(name);
        double rate = 0.25;
        Seeds.seed(13);
        AffineBlock block = new AffineBlock(3, dev);
        Tensor x = randn(dev, 8, 3, 4, 4);
        Tensor branch = block.branch(x);
        for (DepthMethod method : DepthMethod.values()) {
            StochasticDepth composer = new StochasticDepth(block, rate, method, DepthScaling.COMPOSER);
            composer.eval();
            Tensor y = composer.forward(x);
            assertTrue(y.equal(composer.forward(x)), method + ": evaluation is deterministic");
            assertTrue(y.equal(x.add(branch.mul(new Scalar(1 - rate)))),
                    method + ": Composer evaluation is exactly shortcut + (1-rate) * branch");
            StochasticDepth inverted = new StochasticDepth(block, rate, method, DepthScaling.INVERTED);
            inverted.eval();
            assertTrue(inverted.forward(x).equal(x.add(branch)), method + ": inverted evaluation is the plain block");
        }
        StochasticDepth all = new StochasticDepth(block, 1.0, DepthMethod.SAMPLE, DepthScaling.COMPOSER);
        all.eval();
        int before = block.branchCalls;
        assertTrue(all.forward(x).equal(x), "rate 1: evaluation is the shortcut");
        assertEquals(before, block.branchCalls, "rate 1: the branch is not computed in evaluation");
    }

    /**
     * The same mask through the masked and the kept-only path: equal outputs, equal gradients. On the CPU, and
     * at scale 1 everywhere, the outputs are equal bit for bit. On CUDA with scale 1/0.7 they are not (issue 15:
     * this case failed on an H200): the masked path's addcmul is one fused multiply-add per element, rounded
     * once, while the kept-only path multiplies and then adds, rounding twice, so its rows are the unfused
     * reference and the masked rows must lie within {@link TestBlocks#rowsWithinFmaRounding} of them; dropped
     * rows are exact. The comparison still makes sense on CUDA: the mode runs as sample there, but both ops
     * remain callable with a mask of one's own.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void fastModeEqualsMaskedModeWithoutBatchNormExactlyOnTheCpuAndGradientsMatch(String name) {
        Device dev = TestDevices.device(name);
        for (double scale : new double[] {1.0, 1.0 / 0.7}) {
            Seeds.seed(14);
            AffineBlock block = new AffineBlock(3, dev);
            Tensor input = randn(dev, 32, 3, 5, 5);
            Tensor upstream = randn(dev, 32, 3, 5, 5);
            Tensor mask = StochasticDepthOps.keepMask(32, 0.3);
            long keptCount = (long) mask.sum().item_double();
            assertTrue(keptCount > 0 && keptCount < 32, "the seed gives a mixed mask: " + keptCount);

            Tensor x1 = input.detach().clone().requires_grad_(true);
            Tensor masked = StochasticDepthOps.sampleWise(block, x1, mask, scale);
            masked.mul(upstream).sum().backward();
            Tensor[] maskedGrads = {x1.grad().clone(), block.weight.grad().clone(), block.bias.grad().clone()};
            block.weight.grad().zero_();
            block.bias.grad().zero_();

            Tensor x2 = input.detach().clone().requires_grad_(true);
            int before = block.branchCalls;
            Tensor fast = StochasticDepthOps.keptOnly(block, x2, mask, scale);
            assertEquals(before + 1, block.branchCalls);
            if (!dev.is_cuda() || scale == 1.0) {
                assertTrue(fast.equal(masked), "scale " + scale + ": fast output equals masked output exactly");
            } else {
                Tensor scaled = block.branch(input).mul(new Scalar(scale));
                boolean[] within = TestBlocks.rowsWithinFmaRounding(masked.detach(), fast.detach(), scaled);
                boolean[] equal = rowsEqual(masked, fast);
                float[] keep = Tensors.toFloatArray(mask);
                for (int i = 0; i < 32; i++) {
                    assertTrue(keep[i] == 0f ? equal[i] : within[i], "scale " + scale + ": row " + i + " ("
                            + (keep[i] == 0f ? "dropped, exact" : "kept, within FMA rounding") + ")");
                }
            }
            fast.mul(upstream).sum().backward();
            assertTrue(x2.grad().equal(maskedGrads[0]), "input gradients are equal");
            assertTrue(block.weight.grad().allclose(maskedGrads[1], 1e-5, 1e-6, false), "weight gradients match");
            assertTrue(block.bias.grad().allclose(maskedGrads[2], 1e-5, 1e-6, false), "bias gradients match");
        }
    }

    @Test
    void fastModeSkipsTheBranchWhenEverySampleIsDroppedAndIsThePlainBlockWhenAllAreKept() {
        Seeds.seed(15);
        AffineBlock block = new AffineBlock(2, Devices.cpu());
        Tensor x = randn(Devices.cpu(), 6, 2, 2, 2);
        int before = block.branchCalls;
        assertTrue(StochasticDepthOps.keptOnly(block, x, torch.zeros(6), 1.0).equal(x));
        assertEquals(before, block.branchCalls, "no kept sample: the branch does not run");
        assertTrue(StochasticDepthOps.keptOnly(block, x, torch.ones(6), 1.0).equal(block.forward(x)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthOps.keptOnly(block, x, torch.ones(5), 1.0));
        assertTrue(e.getMessage().contains("keepMask must have shape [6]"), e.getMessage());
    }

    /** With BatchNorm in the branch: dropped rows are exactly relu(shortcut), kept rows relu(shortcut + branch). */
    @Test
    void bottleneckRowsAreExactlyTheActivatedShortcutOrTheFullBlock() {
        Seeds.seed(16);
        Bottleneck block = new Bottleneck(8, 4, 2); // projection shortcut
        StochasticDepth sd = new StochasticDepth(block, 0.5, DepthMethod.SAMPLE, DepthScaling.COMPOSER);
        sd.train(true);
        Tensor x = randn(Devices.cpu(), 16, 8, 8, 8);
        Tensor y = sd.forward(x);
        Tensor shortcut = block.shortcut(x);
        boolean[] dropped = rowsEqual(y, torch.relu(shortcut));
        boolean[] kept = rowsEqual(y, torch.relu(shortcut.add(block.branch(x))));
        int keptCount = 0;
        for (int i = 0; i < 16; i++) {
            assertTrue(kept[i] ^ dropped[i], "row " + i);
            keptCount += kept[i] ? 1 : 0;
        }
        assertTrue(keptCount > 0 && keptCount < 16, "the seed gives a mixed mask: " + keptCount);
        assertEquals(Tensors.shape(block.forward(x)).length, Tensors.shape(y).length);
    }

    @Test
    void fastModeTrainsABottleneckAndItsBatchNormSeesOnlyKeptSamples() {
        Seeds.seed(17);
        Bottleneck block = new Bottleneck(8, 4, 1);
        block.train(true);
        Tensor x = randn(Devices.cpu(), 12, 8, 6, 6).mul(new Scalar(3)).add(new Scalar(1));
        Tensor mask = Tensors.fromFloats(new float[] {1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0});
        Tensor y = StochasticDepthOps.keptOnly(block, x, mask, 1.0);
        y.sum().backward();
        assertTrue(ModelInternals.conv1(block).weight().grad().defined(), "the branch was trained");
        // bn1's batch mean over the kept samples only: its running mean moved by momentum * that mean.
        Tensor keptRows = x.index_select(0, mask.nonzero().flatten());
        Tensor keptMean = ModelInternals.conv1(block).forward(keptRows).mean(new long[] {0, 2, 3}, false,
                new org.bytedeco.pytorch.ScalarTypeOptional());
        assertTrue(ModelInternals.bn1(block).running_mean().allclose(keptMean.mul(new Scalar(0.1)), 1e-5, 1e-6, false),
                "running mean = 0.1 * mean over kept samples");
    }

    /**
     * The fast mode adds into a projection shortcut and applies ReLU in place: same output and gradients as
     * the out-of-place formulation ({@code relu(shortcut.index_add(kept, scale * branch(x[kept])))}), for
     * identity and projection shortcuts of both block types, and backward does not trip autograd's in-place
     * checks.
     */
    @Test
    void fastModeInPlaceAdditionAndActivationMatchTheOutOfPlaceFormulation() {
        // blocks of 4 and 8 channels: oneDNN's backward pass returns garbage input gradients for those at
        // random (native-notes/onednn-small-channel-convolutions-go-nan.md), which made this test flaky
        dev.dropkit.core.OneDnn.with(false, () -> {
            compareFastModeWithTheOutOfPlaceFormulation();
            return null;
        });
    }

    private static void compareFastModeWithTheOutOfPlaceFormulation() {
        Tensor mask = Tensors.fromFloats(new float[] {1, 0, 1, 1, 0, 1, 1, 1});
        Tensor index = mask.nonzero().flatten();
        long[][] configs = {{0, 16, 4, 1}, {0, 8, 4, 2}, {1, 8, 8, 1}, {1, 8, 16, 2}}; // type, in, width, stride
        for (long[] c : configs) {
            for (double scale : new double[] {1.0, 1.0 / 0.7}) {
                Seeds.seed(19);
                org.bytedeco.pytorch.Module module = c[0] == 0 ? new Bottleneck(c[1], c[2], c[3])
                        : new BasicBlock(c[1], c[2], c[3]);
                ResidualBlock block = (ResidualBlock) module;
                module.train(true);
                Tensor input = randn(Devices.cpu(), 8, c[1], 6, 6);
                Tensor upstream = null;
                Tensor[] grads = new Tensor[2];
                Tensor[] outputs = new Tensor[2];
                for (int run = 0; run < 2; run++) {
                    Tensor x = input.detach().clone().requires_grad_(true);
                    Tensor y;
                    if (run == 0) {
                        y = StochasticDepthOps.keptOnly(block, x, mask, scale);
                    } else {
                        Tensor branch = block.branch(x.index_select(0, index)).mul(new Scalar(scale));
                        y = torch.relu(block.shortcut(x).index_add(0, index, branch));
                    }
                    if (upstream == null) {
                        upstream = randn(Devices.cpu(), Tensors.shape(y));
                    }
                    y.mul(upstream).sum().backward();
                    outputs[run] = y.detach();
                    grads[run] = x.grad().clone();
                }
                String what = java.util.Arrays.toString(c) + " scale " + scale;
                assertTrue(outputs[0].allclose(outputs[1], 1e-6, 1e-6, false), what + ": outputs match");
                assertTrue(grads[0].allclose(grads[1], 1e-5, 1e-6, false), what + ": input gradients match");
            }
        }
    }

    /** One kept sample of 1x1 features would make BatchNorm throw; the fast mode masks instead. */
    @Test
    void fastModeWithOneKeptSampleFallsBackToTheMaskedPath() {
        Seeds.seed(18);
        Bottleneck block = new Bottleneck(8, 2, 1);
        block.train(true);
        Tensor x = randn(Devices.cpu(), 4, 8, 1, 1);
        Tensor one = Tensors.fromFloats(new float[] {0, 0, 1, 0});
        Tensor fast = StochasticDepthOps.keptOnly(block, x, one, 1.0);
        assertTrue(fast.equal(StochasticDepthOps.sampleWise(block, x, one, 1.0)));
    }

    @Test
    void aFixedSeedFixesTheDrawsOfEveryMethod() {
        AffineBlock block = new AffineBlock(2, Devices.cpu());
        Tensor x = randn(Devices.cpu(), 256, 2, 2, 2);
        for (DepthMethod method : DepthMethod.values()) {
            StochasticDepth sd = new StochasticDepth(block, 0.5, method, DepthScaling.COMPOSER);
            sd.train(true);
            Tensor[] runs = new Tensor[3];
            for (int i = 0; i < 3; i++) {
                Seeds.seed(i < 2 ? 5 : 6);
                Tensor out = sd.forward(x);
                for (int k = 0; k < 8; k++) { // block-wise needs several draws to differ between seeds
                    out = out.add(sd.forward(x));
                }
                runs[i] = out;
            }
            assertTrue(runs[0].equal(runs[1]), method + ": same seed, same draws");
            assertFalse(runs[0].equal(runs[2]), method + ": another seed, other draws");
        }
    }

    /**
     * Block decisions come from the CPU generator, so one seed drops the same blocks on the CPU and on CUDA.
     * Sample decisions are drawn on the device (no host mask, no sync), so on CUDA they come from the CUDA
     * generator: a seed repeats them there, but they differ from the CPU's.
     */
    @Test
    void theSameSeedGivesTheSameBlockDecisionsOnBothDevicesAndRepeatsSampleDrawsOnCuda() {
        Device cuda = TestDevices.device("cuda");
        Seeds.seed(21);
        AffineBlock cpuBlock = new AffineBlock(2, Devices.cpu());
        AffineBlock cudaBlock = new AffineBlock(2, cuda);
        Tensor x = randn(Devices.cpu(), 64, 2, 2, 2);
        Tensor xc = x.to(cuda, torch.ScalarType.Float);
        StochasticDepth onCpu = new StochasticDepth(cpuBlock, 0.5, DepthMethod.BLOCK, DepthScaling.COMPOSER);
        StochasticDepth onCuda = new StochasticDepth(cudaBlock, 0.5, DepthMethod.BLOCK, DepthScaling.COMPOSER);
        for (int i = 0; i < 16; i++) {
            Seeds.seed(22 + i);
            boolean cpuDropped = onCpu.forward(x).equal(x);
            Seeds.seed(22 + i);
            boolean cudaDropped = onCuda.forward(xc).cpu().equal(x);
            assertEquals(cpuDropped, cudaDropped, "seed " + (22 + i) + ": the same block decision");
        }
        StochasticDepth sample = new StochasticDepth(cudaBlock, 0.5, DepthMethod.SAMPLE, DepthScaling.COMPOSER);
        Seeds.seed(30);
        boolean[] first = rowsEqual(sample.forward(xc).cpu(), x);
        Seeds.seed(30);
        boolean[] again = rowsEqual(sample.forward(xc).cpu(), x);
        assertTrue(java.util.Arrays.equals(first, again), "same seed, same sample draws on CUDA");
    }

    @Test
    void rateZeroIsThePlainBlockAndRateOneTheShortcutWithoutNaNs() {
        AffineBlock block = new AffineBlock(2, Devices.cpu());
        Tensor x = randn(Devices.cpu(), 16, 2, 2, 2);
        for (DepthMethod method : DepthMethod.values()) {
            for (DepthScaling scaling : DepthScaling.values()) {
                StochasticDepth none = new StochasticDepth(block, 0.0, method, scaling);
                none.train(true);
                assertTrue(none.forward(x).equal(block.forward(x)), method + "/" + scaling + " rate 0");
                StochasticDepth all = new StochasticDepth(block, 1.0, method, scaling);
                all.train(true);
                assertTrue(all.forward(x).equal(x), method + "/" + scaling + " rate 1 is the shortcut, no NaN");
            }
        }
    }

    @Test
    void keepsTheBlocksNamesAndDrivesItsChildrensTrainingFlag() {
        Bottleneck block = new Bottleneck(4, 2, 1);
        var namesBefore = dev.dropkit.core.Modules.namedParameterNames(block);
        StochasticDepth sd = new StochasticDepth(block, 0.1);
        assertEquals(namesBefore, dev.dropkit.core.Modules.namedParameterNames(sd), "same names, no 'block.' prefix");
        assertEquals(ModelInternals.conv1(block).address(), dev.dropkit.core.Modules.namedChildren(sd).get("conv1").address(),
                "the same native module");
        sd.eval();
        assertFalse(ModelInternals.bn1(block).is_training(), "eval() on the wrapper reaches the block's BatchNorm");
        sd.train(true);
        assertTrue(ModelInternals.bn1(block).is_training());
    }

    @Test
    void aBlocksOwnParametersAndBuffersStayInTheModel() {
        TestBlocks.AffineBlock block = new TestBlocks.AffineBlock(3, Devices.cpu()); // weight, bias on the block
        Tensor count = torch.zeros(1);
        block.register_buffer("count", count);
        StochasticDepth sd = new StochasticDepth(block, 0.1);
        assertEquals(List.of("weight", "bias"), dev.dropkit.core.Modules.namedParameterNames(sd));
        assertEquals(block.weight.unsafeGetTensorImpl().address(),
                sd.named_parameters(false).get(0).value().unsafeGetTensorImpl().address(), "the same tensor");
        assertTrue(sd.named_parameters(false).get(1).value().requires_grad());
        var buffers = sd.named_buffers(false);
        assertEquals(1, buffers.size());
        assertEquals("count", buffers.get(0).key().getString());
        assertEquals(count.unsafeGetTensorImpl().address(), buffers.get(0).value().unsafeGetTensorImpl().address());
    }

    @Test
    void emptyBatchesPassAndBadScalesOrNullsAreRejectedByName() {
        TestBlocks.AffineBlock block = new TestBlocks.AffineBlock(3, Devices.cpu());
        Tensor empty = torch.zeros(0, 3, 2, 2);
        for (DepthMethod m : DepthMethod.values()) {
            Tensor y = StochasticDepthOps.forward(block, empty, 0.5, m, DepthScaling.COMPOSER, true);
            assertEquals(List.of(0L, 3L, 2L, 2L), java.util.Arrays.stream(Tensors.shape(y)).boxed().toList(), m.id());
        }
        Tensor x = torch.ones(4, 3, 2, 2);
        Tensor keep = torch.ones(4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthOps.sampleWise(block, x, keep, Double.NaN));
        assertEquals("scale must be finite and > 0, got NaN", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StochasticDepthOps.keptOnly(block, x, keep, -1.0));
        assertTrue(e.getMessage().contains("-1.0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StochasticDepthOps.evaluate(block, x, 0.5, null));
        assertTrue(e.getMessage().contains("scaling"), e.getMessage());
    }

    /** A half-kept sample would be scaled by the masked mode and kept whole by the fast mode: both refuse it. */
    @Test
    void masksOtherThanZeroAndOneAreRejectedByBothModes() {
        TestBlocks.AffineBlock block = new TestBlocks.AffineBlock(3, Devices.cpu());
        Tensor x = torch.ones(4, 3, 2, 2);
        for (float bad : new float[] {0.5f, -1f, 2f, Float.NaN}) {
            Tensor mask = Tensors.fromFloats(new float[] {1f, 0f, bad, 1f}, 4);
            for (boolean fast : new boolean[] {false, true}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
                    if (fast) {
                        StochasticDepthOps.keptOnly(block, x, mask, 1.0);
                    } else {
                        StochasticDepthOps.sampleWise(block, x, mask, 1.0);
                    }
                });
                assertEquals("keepMask must hold only 0 and 1 (drop or keep a sample), got " + bad + " at index 2",
                        e.getMessage());
            }
        }
    }

    @Test
    void toStringShowsRateMethodAndWhichScaling() {
        Bottleneck block = new Bottleneck(4, 2, 1);
        StochasticDepth sd = new StochasticDepth(block, 0.1);
        assertEquals("StochasticDepth(rate=0.1, method=sample, scaling=composer [train unscaled, eval shortcut"
                + " + (1-rate)*branch], block=Bottleneck(in=4, width=2, out=8, stride=1, projection))", sd.toString());
        StochasticDepth timm = new StochasticDepth(block, 0.2, DepthMethod.BLOCK, DepthScaling.INVERTED);
        assertTrue(timm.toString().contains("rate=0.2, method=block, scaling=inverted [train kept branch*1/(1-rate),"
                + " eval shortcut + branch]"), timm.toString());
        timm.setRate(0.05);
        assertTrue(timm.toString().contains("rate=0.05 (target 0.2)"), timm.toString());
        assertEquals(0.2, timm.targetRate());
    }

    @ParameterizedTest
    @ValueSource(doubles = {-0.1, 1.5, Double.NaN, Double.POSITIVE_INFINITY})
    void badRatesAreRejectedWithTheirValue(double rate) {
        Bottleneck block = new Bottleneck(4, 2, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new StochasticDepth(block, rate));
        assertEquals("drop_rate must be in [0, 1], got " + rate, e.getMessage());
        StochasticDepth sd = new StochasticDepth(block, 0.1);
        e = assertThrows(IllegalArgumentException.class, () -> sd.setRate(rate));
        assertTrue(e.getMessage().contains(String.valueOf(rate)), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StochasticDepthOptions.builder().dropRate(rate));
        assertEquals("drop_rate must be in [0, 1], got " + rate, e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StochasticDepthOptions.builder().warmup(rate));
        assertEquals("drop_warmup must be in [0, 1], got " + rate, e.getMessage());
    }

    @Test
    void unknownNamesAndNonBlocksAreRejectedByName() {
        var b = StochasticDepthOptions.builder();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.method("row"));
        assertEquals("stochastic_method must be 'sample', 'block' or 'sample_fast', got 'row'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.distribution("cubic"));
        assertEquals("drop_distribution must be 'uniform' or 'linear', got 'cubic'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.scaling("classic"));
        assertTrue(e.getMessage().contains("'classic'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.targetLayerName(" "));
        assertTrue(e.getMessage().contains("target_layer_name"), e.getMessage());
        assertEquals(DepthMethod.SAMPLE_FAST, DepthMethod.parse("Sample-Fast"));
        assertEquals(DropDistribution.LINEAR, DropDistribution.parse("LINEAR"));
        assertEquals(DepthScaling.INVERTED, DepthScaling.parse("timm"));

        LinearImpl notABlock = new LinearImpl(2, 2);
        e = assertThrows(IllegalArgumentException.class, () -> new StochasticDepth(notABlock, 0.1));
        assertEquals("block must implement ResidualBlock, got org.bytedeco.pytorch.LinearImpl", e.getMessage());
        StochasticDepth once = new StochasticDepth(new BasicBlock(2, 2, 1), 0.1);
        e = assertThrows(IllegalArgumentException.class, () -> new StochasticDepth(once, 0.1));
        assertTrue(e.getMessage().startsWith("block is already wrapped"), e.getMessage());
    }

    @Test
    void optionsMadeWithoutTheBuilderAreCheckedAlike() {
        BlockTarget all = BlockTarget.residualBlocks();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new StochasticDepthOptions(
                all, DepthMethod.BLOCK, 1.5, DropDistribution.LINEAR, 0, DepthScaling.COMPOSER));
        assertEquals("drop_rate must be in [0, 1], got 1.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new StochasticDepthOptions(
                all, null, 0.2, DropDistribution.LINEAR, 0, DepthScaling.COMPOSER));
        assertEquals("stochastic_method must not be null", e.getMessage());
    }

    @Test
    void optionsDefaultToComposersAndPrintThemselves() {
        StochasticDepthOptions o = StochasticDepthOptions.builder().build();
        assertEquals(DepthMethod.BLOCK, o.method());
        assertEquals(0.2, o.dropRate());
        assertEquals(DropDistribution.LINEAR, o.distribution());
        assertEquals(0.0, o.warmup());
        assertEquals(DepthScaling.COMPOSER, o.scaling());
        String s = StochasticDepthOptions.builder().targetLayerName("ResNetBottleneck").method("sample").dropRate(0.1)
                .build().toString();
        assertEquals("StochasticDepthOptions(target=blocks named 'ResNetBottleneck' (class Bottleneck),"
                + " stochastic_method=sample, drop_rate=0.1, drop_distribution=linear, drop_warmup=0.0,"
                + " scaling=composer [train unscaled, eval shortcut + (1-rate)*branch])", s);
        assertNotEquals(o.toString(), s);
    }
}
