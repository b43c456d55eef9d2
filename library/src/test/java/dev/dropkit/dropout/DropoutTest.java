package dev.dropkit.dropout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.testing.CudaSyncs;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

@ExtendWith(NativeScopePerTest.class)
class DropoutTest {
    static final long N = 1L << 21; // 2,097,152 elements: >= 1e6 as the statistics need


    static Tensor ones(Device dev, long n) {
        return torch.ones(new long[] {n}, Tensors.options(torch.ScalarType.Float, dev));
    }

    /** Inputs in [1, 2): never zero, so an output zero means exactly "dropped". */
    static Tensor positive(Device dev, long n) {
        return torch.rand(new long[] {n}, Tensors.options(torch.ScalarType.Float, dev)).add_(new Scalar(1.0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void dropFractionIsWithinFiveSigmaOfP(String name) {
        Device dev = TestDevices.device(name);
        for (DropoutMode mode : DropoutMode.values()) {
            for (double p : new double[] {0.1, 0.5, 0.8}) {
                Seeds.seed(1);
                Tensor y = DropoutOps.dropout(positive(dev, N), p, mode, true);
                double fraction = (double) Tensors.countZeros(y) / N;
                double tolerance = 5 * TestDevices.bernoulliSigma(p, N);
                assertEquals(p, fraction, tolerance, mode + " p=" + p);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void invertedTrainingPreservesTheMeanAndScalesSurvivorsExactly(String name) {
        Device dev = TestDevices.device(name);
        double p = 0.3;
        Seeds.seed(2);
        Tensor y = DropoutOps.dropout(ones(dev, N), p, DropoutMode.INVERTED, true);
        // Each output is 1/(1-p) with probability 1-p, else 0: mean 1, variance p/(1-p).
        double sigmaOfMean = Math.sqrt(p / (1 - p) / N);
        assertEquals(1.0, y.mean().item_double(), 5 * sigmaOfMean);
        float survivor = (float) (1.0 / (1.0 - p));
        Tensor kept = y.ne(new Scalar(0.0));
        long keptCount = kept.sum().item_long();
        long exact = y.eq(new Scalar(survivor)).sum().item_long();
        assertEquals(keptCount, exact, "every survivor is exactly 1/(1-p)");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void classicTrainingDoesNotScaleAndItsMeanIsTheKeepProbability(String name) {
        Device dev = TestDevices.device(name);
        double p = 0.2;
        Seeds.seed(3);
        Tensor x = positive(dev, N);
        Tensor y = DropoutOps.dropout(x, p, DropoutMode.CLASSIC, true);
        Tensor kept = y.ne(new Scalar(0.0));
        assertTrue(y.masked_select(kept).equal(x.masked_select(kept)), "survivors are unscaled");
        Tensor onesOut = DropoutOps.dropout(ones(dev, N), p, DropoutMode.CLASSIC, true);
        assertEquals(1 - p, onesOut.mean().item_double(), 5 * TestDevices.bernoulliSigma(p, N));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void evaluationIsIdentityWhenInvertedAndExactlyScaledWhenClassic(String name) {
        Device dev = TestDevices.device(name);
        Tensor x = positive(dev, 10_000);
        Dropout inverted = new Dropout(0.4);
        inverted.eval();
        assertSame(x, inverted.forward(x), "inverted eval returns the input itself");
        Dropout classic = new Dropout(0.4, DropoutMode.CLASSIC);
        classic.eval();
        assertTrue(classic.forward(x).equal(x.mul(new Scalar(0.6))), "classic eval is exactly x * (1 - p)");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void gradientIsMaskedExactlyWhereTheOutputIs(String name) {
        Device dev = TestDevices.device(name);
        double p = 0.5;
        for (DropoutMode mode : DropoutMode.values()) {
            Seeds.seed(4);
            Tensor x = positive(dev, 100_000).requires_grad_(true);
            Tensor y = DropoutOps.dropout(x, p, mode, true);
            y.sum().backward();
            Tensor dropped = y.detach().eq(new Scalar(0.0));
            Tensor grad = x.grad();
            assertTrue(grad.eq(new Scalar(0.0)).equal(dropped), mode + ": zero gradient exactly where dropped");
            float scale = mode == DropoutMode.INVERTED ? (float) (1 / (1 - p)) : 1f;
            Tensor keptGrad = grad.masked_select(dropped.logical_not());
            assertEquals(keptGrad.numel(), keptGrad.eq(new Scalar(scale)).sum().item_long(),
                    mode + ": kept gradient is exactly " + scale);
        }
    }

    /** The one-byte classic mask must not leak into the result: the output and gradient keep the input's type. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void classicKeepsTheInputsTypeForOutputAndGradient(String name) {
        Device dev = TestDevices.device(name);
        for (torch.ScalarType type : new torch.ScalarType[] {torch.ScalarType.Float, torch.ScalarType.Double}) {
            Tensor x = positive(dev, 1000).to(type).requires_grad_(true);
            Tensor y = DropoutOps.dropout(x, 0.3, DropoutMode.CLASSIC, true);
            y.sum().backward();
            assertEquals(type.value, y.scalar_type().value, "output type"); // native enums compare by value
            assertEquals(type.value, x.grad().scalar_type().value, "gradient type");
        }
    }

    /** A training step's dropout on CUDA queues its kernels and never waits for the GPU. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = "cuda")
    void forwardAndBackwardDoNotSynchronizeOnCuda(String name) {
        Device dev = TestDevices.device(name);
        Tensor x = positive(dev, 1 << 16).requires_grad_(true);
        for (DropoutMode mode : DropoutMode.values()) {
            for (boolean shared : new boolean[] {false, true}) {
                CudaSyncs.assertNoSync(mode + (shared ? " shared" : ""), () -> {
                    for (int step = 0; step < 3; step++) {
                        DropoutOps.dropout(x.view(256, 256), 0.3, mode, true, shared).sum().backward();
                    }
                });
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void zeroPIsTheIdentityInBothModesAndPhases(String name) {
        Device dev = TestDevices.device(name);
        Tensor x = positive(dev, 1000);
        for (DropoutMode mode : DropoutMode.values()) {
            for (boolean training : new boolean[] {true, false}) {
                assertSame(x, DropoutOps.dropout(x, 0.0, mode, training), mode + " training=" + training);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void pOneDropsEverything(String name) {
        Device dev = TestDevices.device(name);
        Tensor x = positive(dev, 1000);
        for (DropoutMode mode : DropoutMode.values()) {
            assertEquals(1000, Tensors.countZeros(DropoutOps.dropout(x, 1.0, mode, true)), mode.id());
        }
        assertEquals(1000, Tensors.countZeros(DropoutOps.dropout(x, 1.0, DropoutMode.CLASSIC, false)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void aFixedSeedReproducesTheMask(String name) {
        Device dev = TestDevices.device(name);
        for (DropoutMode mode : DropoutMode.values()) {
            Tensor x = ones(dev, 100_000);
            Seeds.seed(123);
            Tensor a = DropoutOps.dropout(x, 0.5, mode, true);
            Seeds.seed(123);
            Tensor b = DropoutOps.dropout(x, 0.5, mode, true);
            Seeds.seed(124);
            Tensor c = DropoutOps.dropout(x, 0.5, mode, true);
            assertTrue(a.equal(b), mode + ": same seed, same mask");
            assertFalse(a.equal(c), mode + ": another seed, another mask");
        }
    }

    @ParameterizedTest
    @ValueSource(doubles = {-0.1, 1.0000001, 2, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
    void badPIsRejectedWithItsValue(double p) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Dropout(p));
        assertTrue(e.getMessage().contains(String.valueOf(p)), e.getMessage());
        Tensor x = torch.ones(3);
        e = assertThrows(IllegalArgumentException.class, () -> DropoutOps.dropout(x, p, true));
        assertTrue(e.getMessage().contains("p must be in [0, 1]"), e.getMessage());
    }

    @Test
    void modeParsingNamesTheBadValue() {
        assertEquals(DropoutMode.CLASSIC, DropoutMode.parse("Classic"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DropoutMode.parse("gyro"));
        assertTrue(e.getMessage().contains("'gyro'"));
        assertThrows(IllegalArgumentException.class, () -> new Dropout(0.5, null));
    }

    @Test
    void toStringShowsPAndMode() {
        assertEquals("Dropout(p=0.2, mode=inverted)", new Dropout(0.2).toString());
        assertEquals("Dropout(p=0.1, mode=classic)", new Dropout(0.1, DropoutMode.CLASSIC).toString());
        Dropout notebook = Dropout.classicWithKeepProbability(0.8);
        assertEquals(DropoutMode.CLASSIC, notebook.mode());
        assertEquals(0.2, notebook.p(), 1e-12);
    }

    @Test
    void isADropoutImplSoItFitsFieldsOfThatTypeAndKeepsItsOwnForward() {
        org.bytedeco.pytorch.DropoutImpl field = new Dropout(0.3, DropoutMode.CLASSIC);
        field.eval();
        Tensor x = torch.ones(4);
        assertTrue(field.forward(x).equal(x.mul(new Scalar(0.7))), "the Java override runs, not C++ dropout");
        assertTrue(field.name().getString().contains("DropoutImpl"));
    }

    /** A Java model that holds a Dropout like any other child module. */
    static final class TinyNet extends Module {
        final LinearImpl fc;
        final Dropout drop;

        TinyNet() {
            fc = register_module("fc", new LinearImpl(16, 16));
            drop = register_module("drop", new Dropout(0.5));
        }

        Tensor forward(Tensor x) {
            return drop.forward(fc.forward(x));
        }
    }

    @Test
    void worksInsideAJavaModelAndFollowsItsTrainingFlag() {
        TinyNet net = new TinyNet();
        Tensor x = positive(dev.dropkit.core.Devices.cpu(), 64 * 16).reshape(64, 16);
        net.train(true);
        assertTrue(net.drop.is_training(), "train() reaches the registered child");
        Seeds.seed(5);
        Tensor trained = net.forward(x);
        assertTrue(Tensors.countZeros(trained) > 0, "training drops units");
        net.eval();
        assertFalse(net.drop.is_training(), "eval() reaches the registered child");
        assertTrue(net.forward(x).equal(net.fc.forward(x)), "eval is the identity");
        assertEquals(2, net.named_children().size());
    }

    /** The notebook's Dropout1D: one mask per feature, the same for every row of the batch (issue 19). */
    @ParameterizedTest
    @ValueSource(strings = {"inverted", "classic"})
    void aSharedMaskDropsTheSameFeaturesInEveryRow(String modeId) {
        DropoutMode mode = DropoutMode.parse(modeId);
        double p = 0.3;
        Dropout drop = new Dropout(p, mode, true);
        assertEquals("Dropout(p=0.3, mode=" + modeId + ", shared_across_batch)", drop.toString());
        drop.train(true);
        Seeds.seed(5);
        int rows = 64;
        int features = 4096;
        Tensor x = torch.rand(rows, features).add(new Scalar(0.5)); // no zeros of its own
        Tensor y = drop.forward(x);
        Tensor kept = y.ne(new Scalar(0)).to(torch.ScalarType.Float); // [rows, features]
        Tensor first = kept.narrow(0, 0, 1).expand(rows, features);
        assertTrue(kept.equal(first), "every row keeps exactly the features row 0 keeps");
        // kept values: x / (1 - p) in inverted mode, x itself in classic mode, exactly where the mask is 1
        double scale = mode == DropoutMode.INVERTED ? 1.0 / (1.0 - p) : 1.0;
        Tensor expected = x.mul(kept).mul(new Scalar((float) scale));
        assertTrue(y.allclose(expected, 1e-6, 0, false), "kept values scaled as the mode says");
        // the fraction of features dropped is Binomial(features, p): within 5 standard deviations
        double dropped = 1.0 - kept.narrow(0, 0, 1).mean().item_double();
        double sigma = Math.sqrt(p * (1 - p) / features);
        assertTrue(Math.abs(dropped - p) < 5 * sigma, "dropped " + dropped + ", expected " + p + " +- " + 5 * sigma);
        drop.eval();
        Tensor evaluated = drop.forward(x);
        assertTrue(evaluated.equal(mode == DropoutMode.INVERTED ? x : x.mul(new Scalar(1.0 - p))), "eval as unshared");
        assertThrows(IllegalArgumentException.class, () -> {
            drop.train(true);
            drop.forward(torch.ones(new long[0]));
        }, "a 0-dimensional input has no batch to share a mask across");
    }
}
