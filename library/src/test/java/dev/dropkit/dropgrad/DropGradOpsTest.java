package dev.dropkit.dropgrad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

@ExtendWith(NativeScopePerTest.class)
class DropGradOpsTest {
    static final long N = 1L << 21; // 2,097,152 elements


    /** A stand-in gradient in [1, 2): never zero, so a zero after DropGrad means exactly "dropped". */
    static Tensor gradient(Device dev, long... shape) {
        return torch.rand(shape, Tensors.options(torch.ScalarType.Float, dev)).add_(new Scalar(1.0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void droppedFractionIsWithinFiveSigmaOfTheRate(String name) {
        Device dev = TestDevices.device(name);
        for (double rate : new double[] {0.01, 0.1, 0.5, 0.9}) {
            Seeds.seed(1);
            Tensor out = DropGradOps.drop(gradient(dev, N), rate);
            double fraction = (double) Tensors.countZeros(out) / N;
            assertEquals(rate, fraction, 5 * TestDevices.bernoulliSigma(rate, N), "rate " + rate);
            assertEquals(Devices.describe(dev), Devices.describe(out.device()), "stays on the gradient's device");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void survivorsAreTheGradientTimesExactlyOneOverOneMinusRate(String name) {
        Device dev = TestDevices.device(name);
        double rate = 0.3;
        Tensor g = gradient(dev, 1 << 16);
        Seeds.seed(2);
        Tensor out = DropGradOps.drop(g, rate);
        Tensor kept = out.ne(new Scalar(0.0));
        Tensor expected = g.mul(new Scalar(1.0 / (1.0 - rate)));
        assertTrue(out.masked_select(kept).equal(expected.masked_select(kept)), "survivors: g * (1/(1-p)), bit for bit");
        assertTrue(g.ge(new Scalar(1.0)).all().item_bool(), "the input gradient is untouched");
    }

    @Test
    void theAverageOfManyMaskedGradientsApproachesTheGradientAsTheSampleSizePredicts() {
        // Each masked element is g/(1-p) with probability 1-p, else 0: mean g, sd g*sqrt(p/(1-p)).
        // The mean of K independent masks therefore misses g by g*sqrt(p/((1-p)K)) (one sigma): the
        // standardized errors must have mean square 1 (within 5 sigma of its own sampling error, sqrt(2/n)),
        // and no single one may pass 6 sigma.
        double p = 0.2;
        int n = 4096;
        Seeds.seed(3);
        Tensor g = gradient(Devices.cpu(), n);
        for (int k : new int[] {16, 256}) {
            Tensor many = DropGradOps.drop(g.unsqueeze(0).expand(new long[] {k, n}).contiguous(), p);
            Tensor mean = many.mean(new long[] {0}, false, new ScalarTypeOptional());
            Tensor z = mean.sub(g).div(g.mul(new Scalar(Math.sqrt(p / ((1 - p) * k)))));
            double meanSquare = z.square().mean().item_double();
            assertEquals(1.0, meanSquare, 5 * Math.sqrt(2.0 / n), "K=" + k);
            assertTrue(z.abs().max().item_double() < 6, "K=" + k + " max |z| " + z.abs().max().item_double());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void inPlaceGivesTheSameBitsAndWritesIntoTheGradient(String name) {
        Device dev = TestDevices.device(name);
        Tensor g = gradient(dev, 10_000);
        Seeds.seed(4);
        Tensor out = DropGradOps.drop(g, 0.25);
        Tensor copy = g.clone();
        Seeds.seed(4);
        Tensor same = DropGradOps.dropInPlace(copy, 0.25);
        assertSame(copy, same);
        assertTrue(out.equal(copy));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void aFixedSeedFixesTheMask(String name) {
        Device dev = TestDevices.device(name);
        Tensor g = gradient(dev, 100_000);
        Seeds.seed(5);
        Tensor a = DropGradOps.drop(g, 0.5);
        Seeds.seed(5);
        Tensor b = DropGradOps.drop(g, 0.5);
        Seeds.seed(6);
        Tensor c = DropGradOps.drop(g, 0.5);
        assertTrue(a.equal(b));
        assertFalse(a.equal(c));
    }

    @Test
    void theMaskDoesNotDependOnTheGradientsDtype() {
        Tensor g = gradient(Devices.cpu(), 10_000);
        Seeds.seed(7);
        Tensor f = DropGradOps.drop(g, 0.4);
        Seeds.seed(7);
        Tensor d = DropGradOps.drop(g.to(torch.ScalarType.Double), 0.4);
        assertTrue(f.eq(new Scalar(0.0)).equal(d.eq(new Scalar(0.0))), "same elements dropped");
        assertEquals(torch.ScalarType.Double, d.scalar_type().intern()); // native enums need intern() (native-notes)
        Seeds.seed(7);
        Tensor h = DropGradOps.drop(g.to(torch.ScalarType.Half), 0.4);
        assertEquals(torch.ScalarType.Half, h.scalar_type().intern(), "a half gradient stays half");
        assertTrue(f.eq(new Scalar(0.0)).equal(h.eq(new Scalar(0.0))), "same elements dropped");
    }

    @Test
    void rateZeroReturnsTheGradientItselfWithoutADraw() {
        Tensor g = gradient(Devices.cpu(), 1000);
        Seeds.seed(8);
        assertSame(g, DropGradOps.drop(g, 0.0));
        assertSame(g, DropGradOps.dropInPlace(g, 0.0));
        double next = torch.rand(1).item_double();
        Seeds.seed(8);
        assertEquals(torch.rand(1).item_double(), next, "libtorch's generator was not touched");
    }

    @Test
    void nonFiniteGradientsStayNonFinite() {
        Tensor g = torch.full(new long[] {1000}, new Scalar(Float.POSITIVE_INFINITY), Tensors.options(
                torch.ScalarType.Float, Devices.cpu()));
        Seeds.seed(9);
        Tensor out = DropGradOps.drop(g, 0.5);
        assertEquals(0, out.isfinite().sum().item_long(), "inf survives as inf, a dropped inf becomes NaN");
    }

    @ParameterizedTest
    @ValueSource(doubles = {-0.1, 1.0, 1.5, Double.NaN, Double.POSITIVE_INFINITY})
    void badRatesAreRejectedWithTheirValue(double rate) {
        Tensor g = torch.ones(3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DropGradOps.drop(g, rate));
        assertEquals("rate must be in [0, 1), got " + rate, e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DropGradOps.dropInPlace(g, rate));
        assertThrows(IllegalArgumentException.class, () -> DropGradOps.drop(null, 0.1));
    }

    @Test
    void gradientsThatAreNotDenseFloatingPointAreRejectedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DropGradOps.drop(torch.ones(3).to(torch.ScalarType.Long), 0.1));
        assertTrue(e.getMessage().contains("floating-point") && e.getMessage().contains("Long"), e.getMessage());
        Tensor sparse = torch.eye(3).to_sparse();
        e = assertThrows(IllegalArgumentException.class, () -> DropGradOps.dropInPlace(sparse, 0.1));
        assertTrue(e.getMessage().contains("sparse"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DropGradOps.drop(new Tensor(), 0.1));
        assertTrue(e.getMessage().contains("undefined"), e.getMessage());
    }

    @Test
    void ratesAboveTheHashsRangeGetExactMasksOnTheCpu() {
        // Rounded to 2^-16 (and capped at 65535/65536), 0.999999 would keep 1.5e-5 of the elements, 15 times
        // the 1e-6 it promises; an exact mask keeps n * 1e-6 on average (Poisson, sigma = its square root).
        assertTrue(CpuMasks.hashes(CpuMasks.MAX_HASHED_RATE));
        assertFalse(CpuMasks.hashes(Math.nextUp(CpuMasks.MAX_HASHED_RATE)));
        long n = 1L << 23;
        double rate = 0.999999;
        Seeds.seed(12);
        Tensor out = DropGradOps.drop(torch.ones(n), rate);
        long kept = n - Tensors.countZeros(out);
        double mean = n * (1 - rate);
        assertEquals(mean, kept, 5 * Math.sqrt(mean), "kept " + kept + " of " + n);
        assertTrue(kept > 0, "some survive at this size (P(none) = e^-8.4)");
        float survivor = out.masked_select(out.ne(new Scalar(0.0))).get(0).item_float();
        assertEquals((float) (1.0 / (1.0 - rate)), survivor, "survivors scaled by exactly 1 / (1 - rate)");
        double high = 0.98;
        Tensor g = torch.ones(N);
        assertEquals(high, Tensors.countZeros(DropGradOps.dropInPlace(g, high)) / (double) N,
                5 * TestDevices.bernoulliSigma(high, N));
    }

    @Test
    void cpuMasksAreIndependentBetweenNeighboursAndBetweenDraws() {
        // Both elements of a pair are dropped with probability p^2 if the mask bits are independent: for
        // neighbours at several distances within one mask, and for the same element in two masks drawn one
        // after the other (two keys). Two draws: a binomial over n pairs, 5 sigma of p^2. Lagged pairs within
        // one mask overlap (pair i shares an element with pairs i - lag and i + lag), which adds two
        // covariances of p^3 - p^4 to each pair's variance p^2 (1 - p^2).
        long n = N;
        for (double p : new double[] {0.1, 0.5}) {
            Seeds.seed(10);
            Tensor g = torch.ones(n);
            Tensor a = DropGradOps.drop(g, p).eq(new Scalar(0.0));
            Tensor b = DropGradOps.drop(g, p).eq(new Scalar(0.0));
            double pairVariance = p * p * (1 - p * p) + 2 * (p * p * p - p * p * p * p);
            // 2048: the two elements one hash word decides; 4096: the same word position in the next block
            for (long lag : new long[] {1, 2, 3, 8, 16, 64, 2048, 4096}) {
                Tensor both = a.narrow(0, 0, n - lag).logical_and(a.narrow(0, lag, n - lag));
                double sigma = Math.sqrt(pairVariance / (n - lag));
                assertEquals(p * p, both.sum().item_long() / (double) (n - lag), 5 * sigma, "p " + p + ", lag " + lag);
            }
            assertEquals(p * p, a.logical_and(b).sum().item_long() / (double) n,
                    5 * TestDevices.bernoulliSigma(p * p, n), "p " + p + ", two draws");
            assertFalse(a.equal(b), "a new key per draw");
        }
    }

    @Test
    void theCpuDropProbabilityIsTheRateRoundedToAMultipleOfTwoToTheMinus16() {
        for (double rate : new double[] {1e-9, 0.01, 0.1, 0.3, 0.5, 0.9, CpuMasks.MAX_HASHED_RATE}) {
            double effective = CpuMasks.effectiveRate(rate);
            assertEquals(rate, effective, Math.scalb(1.0, -16), "rate " + rate);
            assertEquals(effective, Math.rint(effective * Math.scalb(1.0, 16)) * Math.scalb(1.0, -16));
        }
        assertEquals(0.0, CpuMasks.effectiveRate(Math.scalb(1.0, -18)), "below 2^-17 nothing is dropped");
        assertEquals(0.1, CpuMasks.effectiveRate(0.1), Math.scalb(1.0, -17), "nearest multiple of 2^-16");
    }

    @ParameterizedTest(name = "{0} elements")
    @ValueSource(longs = {1, 31, 2048, 2049, 4096, 4097, 3 * 4096 + 100, 65536})
    void theSimdKernelAndThePlainLoopGiveTheSameBits(long n) {
        // The same mask whatever the kernel, every block layout (partial halves, whole blocks, a tail).
        Tensor g = torch.randn(n).mul_(new Scalar(3.0));
        g.narrow(0, 0, Math.min(n, 3)).fill_(new Scalar(Double.POSITIVE_INFINITY)); // dropped infinities stay NaN
        for (double rate : new double[] {0.1, 0.5}) {
            Tensor simd = torch.empty(n);
            Tensor plain = torch.empty(n);
            CpuMasks.drop(g, simd, rate, 42L, true);
            CpuMasks.drop(g, plain, rate, 42L, false);
            assertTrue(simd.view(torch.ScalarType.Int).equal(plain.view(torch.ScalarType.Int)), "rate " + rate);
            Tensor reference = g.mul(CpuMasks.keepMask(new long[] {n}, rate, 42L)).mul_(new Scalar(1.0 / (1.0 - rate)));
            assertTrue(reference.view(torch.ScalarType.Int).equal(plain.view(torch.ScalarType.Int)), "keep mask, rate " + rate);
            Tensor inPlace = g.clone();
            CpuMasks.drop(inPlace, inPlace, rate, 42L, true);
            assertTrue(inPlace.view(torch.ScalarType.Int).equal(plain.view(torch.ScalarType.Int)), "in place, rate " + rate);
        }
    }

    @Test
    void theTestJvmRunsTheSimdKernel() {
        // surefire passes --add-modules=jdk.incubator.vector (as ./dropkit does); without it the plain loop
        // runs, which the test above already covers, but the fast path would go untested
        assertTrue(CpuMasks.vectorized(), "jdk.incubator.vector is not loaded in the test JVM");
    }

    @Test
    void aNonContiguousGradientGetsTheMaskOfItsElementsLogicalPositions() {
        Tensor g = gradient(Devices.cpu(), 300, 200).t(); // a transposed view: not contiguous
        assertFalse(g.is_contiguous());
        Seeds.seed(11);
        Tensor viaView = DropGradOps.drop(g, 0.3);
        Seeds.seed(11);
        Tensor viaCopy = DropGradOps.drop(g.contiguous(), 0.3);
        assertTrue(viaView.equal(viaCopy));
        Seeds.seed(11);
        Tensor inPlace = DropGradOps.dropInPlace(g.clone(), 0.3);
        assertTrue(inPlace.equal(viaCopy));
    }

    @Test
    void emptyGradientsAreFine() {
        Tensor g = torch.ones(0, 5);
        assertEquals(0, DropGradOps.drop(g, 0.5).numel());
        assertSame(g, DropGradOps.dropInPlace(g, 0.5));
    }
}
