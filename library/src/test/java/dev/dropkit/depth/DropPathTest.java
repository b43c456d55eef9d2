package dev.dropkit.depth;

import static dev.dropkit.depth.TestBlocks.randn;
import static dev.dropkit.depth.TestBlocks.rowsEqual;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.depth.TestBlocks.AffineBlock;
import dev.dropkit.testing.CudaSyncs;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@link StochasticDepthOps#dropPath} and {@link StochasticDepthOps#dropPathAdd} on plain tensors of any shape. */
@ExtendWith(NativeScopePerTest.class)
class DropPathTest {
    static final int N = 20_000; // samples: the keep fraction's sigma is sqrt(p(1-p)/N) <= 0.0036
    static final double RATE = 0.3;

    /** Rate 0 and evaluation: the branch itself, or times (1 - rate) for Composer's scaling, exactly. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void rateZeroAndEvaluationAreTheIdentityOrScaledPerTheScaling(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(31);
        Tensor b = randn(dev, 7, 5);
        Tensor s = randn(dev, 7, 5);
        for (DepthMethod mode : new DepthMethod[] {DepthMethod.SAMPLE, DepthMethod.BLOCK}) {
            for (DepthScaling scaling : DepthScaling.values()) {
                String what = mode + "/" + scaling;
                assertTrue(StochasticDepthOps.dropPath(b, 0.0, mode, scaling, true).equal(b), what + " rate 0 train");
                assertTrue(StochasticDepthOps.dropPathAdd(s, b, 0.0, mode, scaling, true).equal(s.add(b)),
                        what + " rate 0 train, add");
                Tensor eval = StochasticDepthOps.dropPath(b, RATE, mode, scaling, false);
                Tensor evalAdd = StochasticDepthOps.dropPathAdd(s, b, RATE, mode, scaling, false);
                if (scaling == DepthScaling.INVERTED) {
                    assertTrue(eval.equal(b), what + ": evaluation is the branch (torchvision, timm)");
                    assertTrue(evalAdd.equal(s.add(b)), what + ": evaluation is shortcut + branch");
                } else {
                    Tensor expected = b.mul(new Scalar(1.0 - RATE));
                    assertTrue(eval.equal(expected), what + ": evaluation is (1 - rate) * branch");
                    assertTrue(evalAdd.equal(s.add(expected)), what + ": evaluation is shortcut + (1 - rate) * branch");
                }
            }
        }
        Tensor inf = torch.full(new long[] {3, 2}, new Scalar(Double.POSITIVE_INFINITY),
                Tensors.options(torch.ScalarType.Float, dev));
        assertTrue(StochasticDepthOps.dropPath(inf, 1.0, DepthMethod.SAMPLE, DepthScaling.COMPOSER, true)
                .equal(torch.zeros_like(inf)), "rate 1: zeros, no NaN from an infinite branch");
        Tensor s3 = randn(dev, 3, 2);
        Tensor y = StochasticDepthOps.dropPathAdd(s3, inf, 1.0, DepthMethod.SAMPLE, DepthScaling.INVERTED, true);
        assertTrue(y.equal(s3), "rate 1: the shortcut, no NaN");
        y.add_(new Scalar(1));
        assertFalse(y.equal(s3), "dropPathAdd returns a new tensor, even when it equals the shortcut");
    }

    /**
     * Sample-wise on 2-, 3- and 5-dimensional tensors: each row is exactly 0 or exactly branch * scale, the
     * kept fraction is within 5 sigma of 1 - rate, and dropPathAdd drops the same rows as dropPath for the
     * same seed (dropped rows exactly the shortcut; kept rows exact on the CPU and at scale 1, within one
     * fused multiply-add's rounding on CUDA, see {@link TestBlocks#rowsWithinFmaRounding}).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void sampleWiseRowsAreExactlyDroppedOrScaledAndTheKeepFractionIsOneMinusRate(String name) {
        Device dev = TestDevices.device(name);
        long[][] shapes = {{N, 4}, {N, 3, 2}, {N, 2, 1, 2, 1}};
        for (long[] shape : shapes) {
            for (DepthScaling scaling : DepthScaling.values()) {
                String what = java.util.Arrays.toString(shape) + " " + scaling;
                double scale = scaling.trainScale(RATE);
                Seeds.seed(32);
                Tensor b = randn(dev, shape).add_(new Scalar(3)); // no zero elements: a kept row is never 0
                Tensor s = randn(dev, shape);
                Tensor scaled = b.mul(new Scalar(scale));
                Seeds.seed(33);
                Tensor y = StochasticDepthOps.dropPath(b, RATE, DepthMethod.SAMPLE, scaling, true);
                boolean[] kept = rowsEqual(y, scaled);
                boolean[] dropped = rowsEqual(y, torch.zeros_like(y));
                int keptCount = 0;
                for (int i = 0; i < N; i++) {
                    assertTrue(kept[i] ^ dropped[i], what + ": row " + i + " is exactly 0 or exactly branch * scale");
                    keptCount += kept[i] ? 1 : 0;
                }
                assertEquals(1 - RATE, (double) keptCount / N, 5 * TestDevices.bernoulliSigma(RATE, N),
                        what + ": keep fraction");

                Seeds.seed(33);
                Tensor sum = StochasticDepthOps.dropPathAdd(s, b, RATE, DepthMethod.SAMPLE, scaling, true);
                Tensor ref = s.add(scaled);
                boolean exact = !dev.is_cuda() || scale == 1.0;
                boolean[] sumKept = exact ? rowsEqual(sum, ref) : TestBlocks.rowsWithinFmaRounding(sum, ref, scaled);
                boolean[] sumDropped = rowsEqual(sum, s);
                for (int i = 0; i < N; i++) {
                    assertTrue(sumDropped[i] == dropped[i] && sumKept[i] == kept[i], what + ": row " + i
                            + " of dropPathAdd is dropped (exactly the shortcut) when dropPath's is, else kept");
                }
            }
        }
    }

    /** Block-wise: the whole tensor is 0 or branch * scale, at the rate over calls; the same for dropPathAdd. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void blockWiseDropsTheWholeTensorAtTheRate(String name) {
        Device dev = TestDevices.device(name);
        int calls = 2000;
        Seeds.seed(34);
        Tensor b = randn(dev, 4, 3, 2);
        Tensor s = randn(dev, 4, 3, 2);
        for (DepthScaling scaling : DepthScaling.values()) {
            Tensor scaled = b.mul(new Scalar(scaling.trainScale(RATE)));
            Tensor full = s.add(scaled);
            int kept = 0;
            for (int c = 0; c < calls; c++) {
                try (PointerScope step = new PointerScope()) {
                    Tensor y = StochasticDepthOps.dropPath(b, RATE, DepthMethod.BLOCK, scaling, true);
                    boolean isKept = y.equal(scaled);
                    assertTrue(isKept || y.equal(torch.zeros_like(b)), scaling + ": all kept or all dropped");
                    kept += isKept ? 1 : 0;
                    Tensor sum = StochasticDepthOps.dropPathAdd(s, b, RATE, DepthMethod.BLOCK, scaling, true);
                    assertTrue(sum.equal(full) || sum.equal(s), scaling + ": shortcut + scaled branch, or shortcut");
                }
            }
            assertEquals(1 - RATE, (double) kept / calls, 5 * TestDevices.bernoulliSigma(RATE, calls),
                    scaling + ": keep fraction over calls");
        }
    }

    /**
     * Gradients: through dropPath the branch gets upstream * scale on kept rows and exactly 0 on dropped ones;
     * through dropPathAdd the shortcut gets upstream exactly and the branch the same as through dropPath.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void gradientsAreTheUpstreamScaledOnKeptRowsAndZeroOnDroppedRows(String name) {
        Device dev = TestDevices.device(name);
        for (DepthScaling scaling : DepthScaling.values()) {
            Seeds.seed(35);
            Tensor input = randn(dev, 64, 3, 4);
            Tensor upstream = randn(dev, 64, 3, 4);
            Tensor scaledUp = upstream.mul(new Scalar(scaling.trainScale(0.5)));
            Tensor b1 = input.detach().clone().requires_grad_(true);
            Seeds.seed(36);
            Tensor y = StochasticDepthOps.dropPath(b1, 0.5, DepthMethod.SAMPLE, scaling, true);
            y.mul(upstream).sum().backward();
            boolean[] dropped = rowsEqual(y.detach(), torch.zeros_like(input));
            boolean[] gradZero = rowsEqual(b1.grad(), torch.zeros_like(input));
            boolean[] gradScaled = rowsEqual(b1.grad(), scaledUp);
            int droppedCount = 0;
            for (int i = 0; i < 64; i++) {
                assertTrue(dropped[i] ? gradZero[i] : gradScaled[i], scaling + ": dropPath gradient of row " + i);
                droppedCount += dropped[i] ? 1 : 0;
            }
            assertTrue(droppedCount > 0 && droppedCount < 64, "the seed gives a mixed mask: " + droppedCount);

            Tensor b2 = input.detach().clone().requires_grad_(true);
            Tensor s2 = randn(dev, 64, 3, 4).requires_grad_(true);
            Seeds.seed(36);
            StochasticDepthOps.dropPathAdd(s2, b2, 0.5, DepthMethod.SAMPLE, scaling, true).mul(upstream).sum()
                    .backward();
            assertTrue(s2.grad().equal(upstream), scaling + ": the shortcut's gradient is the upstream exactly");
            assertTrue(b2.grad().equal(b1.grad()), scaling + ": the branch's gradient is dropPath's for the same seed");
        }
    }

    /**
     * The CUDA cases hold fused kept rows to {@link TestBlocks#rowsWithinFmaRounding}; this shows on the CPU
     * that the bound is not vacuous: it accepts rows rounded once as an FMA does ({@link Math#fma(float, float,
     * float)} is exactly that), of which many differ from the twice-rounded reference, and rejects rows off by
     * a relative 1e-5 (about 170 units of float32 roundoff). The CPU's addcmul itself equals the reference.
     */
    @Test
    void theFmaRoundingBoundAcceptsOneRoundingAndRejectsMore() {
        Seeds.seed(38);
        int rows = 4096;
        int per = 6;
        float s = (float) (1.0 / 0.7);
        float[] a = Tensors.toFloatArray(randn(Devices.cpu(), rows, per));
        float[] b = Tensors.toFloatArray(randn(Devices.cpu(), rows, per));
        float[] fused = new float[a.length];
        float[] off = new float[a.length];
        float[] ref = new float[a.length];
        float[] p = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            p[i] = s * b[i];
            ref[i] = a[i] + p[i];
            fused[i] = Math.fma(s, b[i], a[i]);
            off[i] = (float) (fused[i] + 1e-5 * (Math.abs(p[i]) + Math.abs(fused[i])));
        }
        Tensor refT = Tensors.fromFloats(ref, rows, per);
        Tensor pT = Tensors.fromFloats(p, rows, per);
        Tensor fusedT = Tensors.fromFloats(fused, rows, per);
        int differing = TestBlocks.rowsDiffering(fusedT, refT);
        assertTrue(differing > rows / 10, "one rounding differs from two in many rows: " + differing);
        boolean[] accepted = TestBlocks.rowsWithinFmaRounding(fusedT, refT, pT);
        boolean[] rejected = TestBlocks.rowsWithinFmaRounding(Tensors.fromFloats(off, rows, per), refT, pT);
        for (int r = 0; r < rows; r++) {
            assertTrue(accepted[r], "row " + r + " rounded once is within the bound");
            assertFalse(rejected[r], "row " + r + " off by 1e-5 relative is outside the bound");
        }
        Tensor at = Tensors.fromFloats(a, rows, per);
        Tensor bt = Tensors.fromFloats(b, rows, per);
        assertTrue(at.addcmul(bt, torch.ones(rows, 1), new Scalar(1.0 / 0.7)).equal(refT),
                "on the CPU addcmul rounds twice, as the reference does");
    }

    /** On the CPU a seed fixes the draws of both modes; another seed gives other draws. */
    @Test
    void aSeedReproducesTheDrawsOnTheCpu() {
        Tensor b = randn(Devices.cpu(), 512, 3);
        Tensor s = randn(Devices.cpu(), 512, 3);
        for (DepthMethod mode : new DepthMethod[] {DepthMethod.SAMPLE, DepthMethod.BLOCK}) {
            Tensor[] runs = new Tensor[3];
            for (int r = 0; r < 3; r++) {
                Seeds.seed(r < 2 ? 40 : 41);
                Tensor out = StochasticDepthOps.dropPathAdd(s, b, 0.5, mode, DepthScaling.COMPOSER, true);
                for (int k = 0; k < 12; k++) { // block-wise needs several draws to differ between seeds
                    out = out.add(StochasticDepthOps.dropPath(b, 0.5, mode, DepthScaling.COMPOSER, true));
                }
                runs[r] = out;
            }
            assertTrue(runs[0].equal(runs[1]), mode + ": same seed, same draws");
            assertFalse(runs[0].equal(runs[2]), mode + ": another seed, other draws");
        }
    }

    /**
     * On CUDA a sample-wise training step queues its work without waiting for the GPU: dropPath, dropPathAdd
     * and the block wrapper (sample, and sample_fast, which runs as sample there), forward and backward.
     */
    @Test
    @SuppressWarnings("deprecation") // SAMPLE_FAST on CUDA runs as SAMPLE
    void aSampleWiseStepOnCudaDoesNotSynchronize() {
        Device cuda = TestDevices.device("cuda");
        Seeds.seed(37);
        Tensor input = randn(cuda, 128, 8, 4, 4);
        Tensor shortcut = randn(cuda, 128, 8, 4, 4);
        AffineBlock block = new AffineBlock(8, cuda);
        StochasticDepth sample = new StochasticDepth(block, 0.2, DepthMethod.SAMPLE, DepthScaling.INVERTED);
        StochasticDepth fast = new StochasticDepth(block, 0.2, DepthMethod.SAMPLE_FAST, DepthScaling.COMPOSER);
        sample.train(true);
        fast.train(true);
        fast.forward(input); // the one-time warning and any lazy CUDA initialization happen outside the check
        CudaSyncs.assertNoSync("a sample-wise stochastic-depth step", () -> {
            Tensor b = input.detach().clone().requires_grad_(true);
            Tensor y = StochasticDepthOps.dropPath(b, 0.2, DepthMethod.SAMPLE, DepthScaling.INVERTED, true);
            Tensor z = StochasticDepthOps.dropPathAdd(shortcut, y, 0.2, DepthMethod.SAMPLE, DepthScaling.COMPOSER, true);
            z.add(sample.forward(b)).add(fast.forward(b)).sum().backward();
        });
    }

    @Test
    void badArgumentsAreRejectedByName() {
        Tensor b = torch.ones(4, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthOps.dropPath(b, 1.5, DepthMethod.SAMPLE, DepthScaling.COMPOSER, true));
        assertEquals("drop_rate must be in [0, 1], got 1.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthOps.dropPath(torch.ones(4, 2).sum(), 0.1, DepthMethod.SAMPLE, DepthScaling.COMPOSER, true));
        assertTrue(e.getMessage().contains("0-dimensional"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthOps.dropPathAdd(null, b, 0.1, DepthMethod.SAMPLE, DepthScaling.COMPOSER, true));
        assertTrue(e.getMessage().contains("shortcut"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthOps.dropPath(b, 0.1, null, DepthScaling.COMPOSER, true));
        assertTrue(e.getMessage().contains("mode"), e.getMessage());
    }
}
