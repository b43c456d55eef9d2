package dev.dropkit.jit;

import static dev.dropkit.testing.ParsedJson.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dropkit.core.Devices;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.ffm.TensorSegments;
import dev.dropkit.gyro.GyroDropoutOptions;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Dropout -> Gyro Dropout and dropout rate/mode rewrites of TorchScript models. */
class JitDropoutRewriteTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    static Tensor fwd(JitModule m, Tensor x) {
        return m.forward(new IValueVector(new IValue(x))).toTensor();
    }

    static float[] floats(Tensor t) {
        return TensorSegments.view(t.contiguous()).toArray(ValueLayout.JAVA_FLOAT);
    }

    static JitModule load(String name) throws IOException {
        return JitModels.load(dir.resolve(name), Devices.cpu());
    }

    /** sigma 8, tau 4, and a run of 2 x 4 steps: iterNum = floor(8 / 8) * 4 = 4. */
    static GyroDropoutOptions gyro() {
        return GyroDropoutOptions.builder().p(0.5).sigma(8).tau(4).itersPerEpoch(2).maxEpoch(4).build();
    }

    @Test
    void gyroRewritesEveryDropoutCallAndKeepsEvalOutputBitIdentical() throws IOException {
        JitModule original = load("mlp_scripted.pt");
        JitModule m = load("mlp_scripted.pt");
        JitRewriteReport r = JitRewrites.gyroDropout(m, gyro());
        assertEquals(3, r.count(), r.toJson());
        assertEquals(List.of("", "drop1", "drop2"), r.changes().stream().map(JitRewriteReport.Change::module).sorted().toList());
        JsonNode json = parse(r.toJson());
        assertEquals(3, json.get("count").intValue(), r.toJson());
        assertTrue(json.get("changes").valueStream().anyMatch(c -> c.get("site").textValue()
                .equals("torch.nn.functional.dropout")), r.toJson());
        original.eval();
        m.eval();
        Tensor x = torch.randn(16, 16);
        assertTrue(torch.equal(fwd(original, x), fwd(m, x)), "eval output must not change");
        assertEquals(0, JitInspector.inspect(m).dropoutTotal(), "no dropout call left outside dropkit's methods");
    }

    /**
     * The method's statistics: each batch uses exactly tau distinct masks out of the sigma drawn, one per
     * consecutive group; the active set holds for iterNum steps and the next set completes the cycle.
     */
    @Test
    void gyroUsesTauOfSigmaPreselectedMasksPerBatch() throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewrites.gyroDropout(m, gyro());
        JitModule drop1 = JitInspector.namedModules(m).get("drop1");
        m.train(true);
        torch.manual_seed(3);
        int n = 32;
        int c = 32;
        Tensor ones = torch.ones(n, c);
        List<Set<Integer>> activeSets = new java.util.ArrayList<>();
        for (int step = 0; step < 8; step++) {
            float[] y = floats(fwd(drop1, ones));
            float[] masks = floats(drop1.attr("dropkit_gyro_0_masks").toTensor());
            assertEquals(8 * c, masks.length);
            int[] maskOfRow = new int[n];
            for (int row = 0; row < n; row++) {
                maskOfRow[row] = -1;
                for (int k = 0; k < 8 && maskOfRow[row] < 0; k++) {
                    boolean same = true;
                    for (int j = 0; j < c && same; j++) {
                        same = y[row * c + j] == masks[k * c + j] * 2.0f; // kept units scaled by 1/(1-p) = 2 exactly
                    }
                    if (same) {
                        maskOfRow[row] = k;
                    }
                }
                assertTrue(maskOfRow[row] >= 0, "row " + row + " of step " + step + " is not one of the sigma masks");
            }
            Set<Integer> active = new HashSet<>();
            for (int g = 0; g < 4; g++) {
                for (int row = g * 8; row < (g + 1) * 8; row++) {
                    assertEquals(maskOfRow[g * 8], maskOfRow[row], "one mask per group of 8 rows");
                }
                active.add(maskOfRow[g * 8]);
            }
            assertEquals(4, active.size(), "tau distinct masks per batch at step " + step);
            activeSets.add(active);
        }
        for (int step = 1; step < 4; step++) {
            assertEquals(activeSets.get(0), activeSets.get(step), "the active set holds for iterNum = 4 steps");
            assertEquals(activeSets.get(4), activeSets.get(4 + step));
        }
        Set<Integer> all = new HashSet<>(activeSets.get(0));
        all.addAll(activeSets.get(4));
        assertEquals(8, all.size(), "two draws of 4 visit all 8 sub-networks before any repeats");
        assertEquals(8, drop1.attr("dropkit_gyro_0_step").toInt());
        // masks are Bernoulli(1 - p): 256 draws, 5 sigma
        double kept = Arrays.stream(box(floats(drop1.attr("dropkit_gyro_0_masks").toTensor()))).average().orElseThrow();
        assertEquals(0.5, kept, 5 * Math.sqrt(0.25 / 256), "kept fraction of the masks");
    }

    /**
     * A training call is one multiply by the ready mask buffer: y == x * ready exactly, ready == the active
     * masks scaled by 2 on consecutive groups (even and uneven batches), rebuilt only when the active set
     * or the batch layout changes; and with tau not dividing sigma, the draws that straddle two cycles
     * (arranged by a stable sort, not boolean indexing) still hold tau distinct masks and every cycle
     * visits all sigma.
     */
    @Test
    void gyroCallIsOneMultiplyByAReadyMaskRebuiltOnlyWhenTheActiveSetChanges() throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewrites.gyroDropout(m, gyro().toBuilder().tau(3).build()); // iterNum = floor(8 / 8) * 3 = 3
        JitModule drop1 = JitInspector.namedModules(m).get("drop1");
        m.train(true);
        torch.manual_seed(5);
        int c = 32;
        List<Long> stream = new java.util.ArrayList<>();
        long readyAt = -1;
        for (int step = 0; step < 24; step++) {
            int n = step % 3 == 2 ? 10 : 12; // the last call of each draw has uneven groups
            Tensor x = torch.rand(n, c).add_(new Scalar(1.0));
            Tensor y = fwd(drop1, x);
            Tensor ready = drop1.attr("dropkit_gyro_0_ready").toTensor();
            Tensor masks = drop1.attr("dropkit_gyro_0_masks").toTensor();
            long[] active = TensorSegments.view(drop1.attr("dropkit_gyro_0_active").toTensor().contiguous())
                    .toArray(ValueLayout.JAVA_LONG);
            assertEquals(3, Arrays.stream(active).distinct().count(), "tau distinct masks at step " + step);
            long[] rowMask = new long[n];
            long[] sizes = dev.dropkit.gyro.GyroDropoutOps.groupSizes(n, 3);
            for (int g = 0, r = 0; g < 3; g++) {
                for (int k = 0; k < sizes[g]; k++) {
                    rowMask[r++] = active[g];
                }
            }
            Tensor expected = masks.index_select(0, torch.tensor(rowMask)).mul(new Scalar(2.0));
            assertTrue(y.equal(x.mul(expected)), "y = x * (active masks / (1 - p)) at step " + step);
            Tensor product = ready.dim() == x.dim() ? x.mul(ready) : x.reshape(3, n / 3, c).mul(ready).view(n, c);
            assertTrue(y.equal(product), "y is one multiply by the ready buffer at step " + step);
            long address = ready.data_ptr().address();
            if (step % 3 == 0) {
                Arrays.stream(active).forEach(stream::add);
            } else if (step % 3 == 1) {
                assertEquals(readyAt, address, "step " + step + ": same active set and layout, no rebuild");
            } else {
                assertNotEquals(readyAt, address, "step " + step + ": an uneven batch gets its own mask");
            }
            if (step % 3 != 2) {
                readyAt = address;
            }
        }
        for (int cycle = 0; cycle < 3; cycle++) {
            assertEquals(8, new HashSet<>(stream.subList(cycle * 8, cycle * 8 + 8)).size(), "cycle " + cycle);
        }
    }

    private static double[] box(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @Test
    void savedGyroModelReloadsWithItsStateAndContinuesIdentically(@TempDir Path tmp) throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewrites.gyroDropout(m, gyro());
        m.train(true);
        torch.manual_seed(5);
        Tensor x = torch.randn(32, 16);
        for (int i = 0; i < 3; i++) {
            fwd(m, x);
        }
        Path saved = tmp.resolve("gyro.pt");
        m.save(saved.toString());
        JitModule back = JitModels.load(saved, Devices.cpu());
        back.train(true);
        JitModule d1 = JitInspector.namedModules(m).get("drop1");
        JitModule b1 = JitInspector.namedModules(back).get("drop1");
        assertEquals(3, b1.attr("dropkit_gyro_0_step").toInt());
        assertTrue(torch.equal(d1.attr("dropkit_gyro_0_masks").toTensor(), b1.attr("dropkit_gyro_0_masks").toTensor()));
        for (int i = 0; i < 6; i++) { // crosses the re-draw at step 4
            torch.manual_seed(100 + i);
            Tensor a = fwd(m, x);
            torch.manual_seed(100 + i);
            Tensor b = fwd(back, x);
            assertTrue(torch.equal(a, b), "step " + (3 + i) + " differs after the reload");
        }
    }

    @Test
    void gyroArchiveTrainsInPythonPyTorch(@TempDir Path tmp) throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewrites.gyroDropout(m, gyro());
        Path saved = tmp.resolve("gyro_py.pt");
        m.save(saved.toString());
        JitModule java = JitModels.load(saved, Devices.cpu());
        java.eval();
        Tensor probe = JitTrainableTest.probe();
        double javaSum = fwd(java, probe).sum().item_double();
        JitFixtures.Result r = JitFixtures.run("""
                import torch
                m = torch.jit.load('%s')
                torch.manual_seed(0)
                opt = torch.optim.SGD(m.parameters(), lr=0.1)
                m.train()
                for _ in range(5):
                    opt.zero_grad()
                    loss = m(torch.randn(32, 16)).pow(2).mean()
                    loss.backward()
                    opt.step()
                y = m.drop1(torch.ones(8, 32))
                print('step', m.drop1.dropkit_gyro_0_step, 'masks', tuple(m.drop1.dropkit_gyro_0_masks.shape),
                      'rows', len({tuple(r.tolist()) for r in y}))
                """.formatted(saved), "-");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("step 6 masks (8, 32) rows 4"), r.output());
        JitFixtures.Result e = JitFixtures.run("""
                import torch
                m = torch.jit.load('%s').eval()
                x = (torch.arange(32 * 16, dtype=torch.float32).reshape(32, 16) * 0.01) - 2.5
                print(float(m(x).sum()))
                """.formatted(saved), "-");
        assertEquals(0, e.exitCode(), e.output());
        assertEquals(javaSum, Double.parseDouble(e.output().trim()), 1e-4 * Math.max(1, Math.abs(javaSum)));
    }

    @Test
    void tracedModelsGetGyroDropoutThatFollowsTheTrainingFlag() throws IOException {
        JitModule m = load("mlp_traced.pt");
        JitRewriteReport r = JitRewrites.gyroDropout(m, gyro());
        assertEquals(3, r.count());
        assertTrue(r.changes().get(0).detail().contains("follows the module's training flag"), r.toJson());
        m.eval();
        Tensor x = torch.randn(8, 16);
        assertTrue(torch.equal(fwd(m, x), fwd(m, x)), "traced in training mode, now deterministic in eval");
        JitModule drop1 = JitInspector.namedModules(m).get("drop1");
        assertEquals(0, drop1.attr("dropkit_gyro_0_step").toInt(), "evaluation calls do not advance the schedule");
        m.train(true);
        fwd(m, x);
        assertEquals(1, drop1.attr("dropkit_gyro_0_step").toInt());
    }

    /** feature-dim -1: an MLP applied to [N, L, 16] sequences drops hidden units, the same at every position. */
    @Test
    void gyroOverTheLastDimensionOfSequences() throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewriteReport r = JitRewrites.gyroDropout(m, gyro().toBuilder().featuresLast(true).build());
        assertTrue(r.settings().contains("features=last"), r.settings());
        JitModule drop1 = JitInspector.namedModules(m).get("drop1");
        m.train(true);
        Tensor y = fwd(drop1, torch.ones(8, 5, 32));
        assertEquals(32, drop1.attr("dropkit_gyro_0_masks").toTensor().size(1), "masks over the last dimension");
        Tensor first = y.select(1, 0);
        assertTrue(torch.equal(y, first.unsqueeze(1).expand(8, 5, 32)), "the same mask at every position");
        assertEquals(4, torch.unique_dim(first, 0).get0().size(0), "tau distinct masks, one per group of 2 samples");
        fwd(m, torch.randn(8, 5, 16)).sum().backward(); // the whole model runs on sequences
    }

    @Test
    void keepEachPAndModuleFilterLeaveTheRestAsItWas() throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewriteReport r = JitRewrites.gyroDropout(m, gyro(), true, Pattern.compile("drop2"));
        assertEquals(1, r.count(), r.toJson());
        assertEquals("p=each call's, sigma=8, tau=4, itersPerEpoch=2, maxEpoch=4, iterNum=4, selection=permutation,"
                + " modules=drop2", r.settings(), "the options' own form, as GyroDropout prints it");
        assertEquals("drop2", r.changes().get(0).module());
        assertTrue(r.changes().get(0).detail().contains("p=0.2"), r.toJson());
        JitModule drop2 = JitInspector.namedModules(m).get("drop2");
        assertEquals(-1.0, drop2.attr("dropkit_gyro_0_p").toDouble());
        m.train(true);
        float[] y = floats(fwd(drop2, torch.ones(8, 32)));
        for (float v : y) {
            assertTrue(v == 0f || v == 1.25f, "kept units scaled by 1/(1-0.2): " + v);
        }
    }

    @Test
    void classicModeMasksWithoutScalingAndScalesAtEvaluation() throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewriteReport r = JitRewrites.dropout(m, 0.25, DropoutMode.CLASSIC, null);
        assertEquals(3, r.count());
        JitModule drop1 = JitInspector.namedModules(m).get("drop1");
        Tensor x = torch.randn(1000, 32);
        m.eval();
        assertTrue(torch.equal(x.mul(new Scalar(0.75)), fwd(drop1, x)), "eval: x * (1 - p)");
        m.train(true);
        float[] in = floats(x);
        float[] out = floats(fwd(drop1, x));
        int kept = 0;
        for (int i = 0; i < in.length; i++) {
            assertTrue(out[i] == 0f || out[i] == in[i], "classic training keeps units unscaled");
            kept += out[i] == in[i] && in[i] != 0f ? 1 : 0;
        }
        double n = in.length;
        assertEquals(0.75, kept / n, 5 * Math.sqrt(0.75 * 0.25 / n), "keep fraction");
    }

    @Test
    void newRateInInvertedModeKeepsEvalAndChangesTraining() throws IOException {
        JitModule original = load("mlp_scripted.pt");
        JitModule m = load("mlp_scripted.pt");
        JitRewrites.dropout(m, 0.0, DropoutMode.INVERTED, null);
        Tensor x = torch.randn(16, 16);
        original.eval();
        m.eval();
        Tensor eval = fwd(m, x);
        assertTrue(torch.equal(fwd(original, x), eval));
        m.train(true);
        assertTrue(torch.equal(eval, fwd(m, x)), "p = 0 everywhere: training computes the eval output");
    }

    @Test
    void featureDropoutStaysChannelWise() throws IOException {
        JitFixtures.assumeTorchvision();
        JitModule m = load("bottleneck_scripted.pt");
        JitRewriteReport r = JitRewrites.dropout(m, 0.5, DropoutMode.CLASSIC, Pattern.compile("drop"));
        assertEquals(1, r.count(), r.toJson());
        assertTrue(r.changes().get(0).site().equals("torch.nn.functional.dropout2d"), r.toJson());
        JitModule drop = JitInspector.namedModules(m).get("drop");
        m.train(true);
        Tensor x = torch.rand(64, 16, 4, 4).add(new Scalar(1)); // no zeros in the input
        Tensor y = fwd(drop, x);
        Tensor zeroPlanes = y.eq(new Scalar(0)).flatten(2, 3).all(2);
        Tensor intactPlanes = y.eq(x).flatten(2, 3).all(2);
        assertTrue(torch.equal(zeroPlanes.logical_or(intactPlanes), torch.ones_like(zeroPlanes)),
                "each (sample, channel) plane is dropped or kept whole");
        double kept = intactPlanes.to(torch.ScalarType.Float).mean().item_double();
        assertEquals(0.5, kept, 5 * Math.sqrt(0.25 / (64 * 16)));
    }

    @Test
    void aModelWithoutDropoutIsAnErrorNamingWhatWasLookedFor() throws IOException {
        JitModule m = load("resnet_scripted.pt");
        JitRewriteException e = assertThrows(JitRewriteException.class, () -> JitRewrites.gyroDropout(m, gyro()));
        assertTrue(e.getMessage().contains("aten::dropout") && e.getMessage().contains("torch.nn.functional.dropout"),
                e.getMessage());
        JitModule twice = load("mlp_scripted.pt");
        JitRewrites.gyroDropout(twice, gyro());
        JitRewriteException again = assertThrows(JitRewriteException.class, () -> JitRewrites.gyroDropout(twice, gyro()));
        assertTrue(again.getMessage().contains("already carries dropkit rewrites"), again.getMessage());
        JitModule mlp = load("mlp_scripted.pt");
        IllegalArgumentException noLength = assertThrows(IllegalArgumentException.class,
                () -> JitRewrites.gyroDropout(mlp, GyroDropoutOptions.builder().sigma(8).tau(4).build()));
        assertTrue(noLength.getMessage().contains("itersPerEpoch"), noLength.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JitRewrites.dropout(mlp, 1.5, DropoutMode.INVERTED, null));
        assertThrows(IllegalArgumentException.class, () -> JitRewrites.dropout(mlp, Double.NaN, DropoutMode.INVERTED, null));
    }

    /** TorchScript's own checks in the rewritten code surface as Java exceptions, not crashes. */
    @Test
    void errorsInsideTheRewrittenCodeAreJavaExceptions() throws IOException {
        JitModule m = load("mlp_scripted.pt");
        JitRewrites.gyroDropout(m, gyro());
        m.train(true);
        RuntimeException e = assertThrows(RuntimeException.class, () -> fwd(m, torch.randn(2, 16)));
        assertTrue(e.getMessage().contains("at least tau"), e.getMessage());
        assertFalse(e.getMessage().isEmpty());
    }
}
