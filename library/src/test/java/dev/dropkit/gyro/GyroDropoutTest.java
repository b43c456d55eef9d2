package dev.dropkit.gyro;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.dropout.DropoutOps;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

@ExtendWith(NativeScopePerTest.class)
class GyroDropoutTest {


    static GyroDropoutOptions.Builder opts(double p, int sigma, int tau, int itersPerEpoch, int maxEpoch) {
        return GyroDropoutOptions.builder().p(p).sigma(sigma).tau(tau).itersPerEpoch(itersPerEpoch).maxEpoch(maxEpoch);
    }

    static GyroDropout module(GyroDropoutOptions options, Device dev) {
        GyroDropout g = new GyroDropout(options);
        g.to(dev, false);
        g.train(true);
        return g;
    }

    static Tensor ones(Device dev, long... shape) {
        return torch.ones(shape, Tensors.options(torch.ScalarType.Float, dev));
    }

    /** Inputs in [1, 2): never zero, so an output zero means exactly "dropped". */
    static Tensor positive(Device dev, long... shape) {
        return torch.rand(shape, Tensors.options(torch.ScalarType.Float, dev)).add_(new Scalar(1.0));
    }

    /** The mask index behind each row of a [N, C] output (nonzero = kept); fails if a row matches no mask. */
    static int[] maskOfEachRow(Tensor y, GyroDropout g) {
        int c = (int) y.size(1);
        float[] masks = Tensors.toFloatArray(g.masks());
        Map<BitSet, Integer> byPattern = new HashMap<>();
        for (int i = 0; i < g.sigma(); i++) {
            Integer before = byPattern.put(pattern(masks, i, c), i);
            assertEquals(null, before, "masks " + before + " and " + i + " are identical; use more features");
        }
        float[] out = Tensors.toFloatArray(y);
        int[] rows = new int[(int) y.size(0)];
        for (int r = 0; r < rows.length; r++) {
            Integer id = byPattern.get(pattern(out, r, c));
            assertTrue(id != null, "row " + r + " matches none of the masks");
            rows[r] = id;
        }
        return rows;
    }

    static BitSet pattern(float[] values, int row, int c) {
        BitSet bits = new BitSet(c);
        for (int j = 0; j < c; j++) {
            if (values[row * c + j] != 0f) {
                bits.set(j);
            }
        }
        return bits;
    }

    /** Checks that the rows use active mask i on group i, in consecutive groups of the documented sizes. */
    static void assertGroups(int[] rows, long[] active, int tau) {
        long[] sizes = GyroDropoutOps.groupSizes(rows.length, tau);
        assertEquals(tau, active.length);
        assertEquals(tau, Arrays.stream(active).distinct().count(), "tau distinct masks: " + Arrays.toString(active));
        int r = 0;
        for (int group = 0; group < tau; group++) {
            for (long k = 0; k < sizes[group]; k++, r++) {
                assertEquals(active[group], rows[r], "row " + r + " (group " + group + ")");
            }
        }
        assertEquals(rows.length, r);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void exactlySigmaMasksExistAfterTheFirstStepEachKeepingAboutOneMinusP(String name) {
        Device dev = TestDevices.device(name);
        int sigma = 64;
        int c = 4096;
        double p = 0.3;
        Seeds.seed(1);
        GyroDropout g = module(opts(p, sigma, 4, 100, 10).build(), dev);
        assertFalse(g.hasMasks(), "masks are drawn lazily");
        assertEquals(List.of(0L, 0L), Arrays.stream(Tensors.shape(g.masks())).boxed().toList());
        g.forward(ones(dev, 8, c));
        assertTrue(g.hasMasks());
        Tensor masks = g.masks();
        assertArrayEquals(new long[] {sigma, c}, Tensors.shape(masks));
        assertEquals(dev.is_cuda(), masks.is_cuda(), "masks live on the module's device");
        double[] kept = Tensors.toDoubleArray(masks.to(torch.ScalarType.Double).mean(new long[] {1}, false,
                new org.bytedeco.pytorch.ScalarTypeOptional()));
        double tolerance = 5 * TestDevices.bernoulliSigma(p, c);
        for (int i = 0; i < sigma; i++) {
            assertEquals(1 - p, kept[i], tolerance, "keep fraction of mask " + i);
        }
        g.forward(ones(dev, 8, c));
        assertTrue(masks.equal(g.masks()), "the masks stay fixed");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void everyStepUsesTauDistinctMasksOnConsecutiveGroupsOfTheDocumentedSizes(String name) {
        Device dev = TestDevices.device(name);
        int tau = 4;
        Seeds.seed(2);
        GyroDropout g = module(opts(0.5, 16, tau, 4, 4).build(), dev); // iterNum = 4
        float scale = 2f;
        for (int batch : new int[] {16, 10, 7, 4, 13, 64, 9, 5}) {
            Tensor y = g.forward(ones(dev, batch, 96));
            long kept = y.ne(new Scalar(0.0)).sum().item_long();
            assertEquals(kept, y.eq(new Scalar(scale)).sum().item_long(), "kept units are exactly 1/(1-p)");
            assertGroups(maskOfEachRow(y, g), g.activeSet(), tau);
        }
        assertArrayEquals(new long[] {3, 3, 2, 2}, GyroDropoutOps.groupSizes(10, 4));
        assertArrayEquals(new long[] {2, 2, 2, 1}, GyroDropoutOps.groupSizes(7, 4));
        assertArrayEquals(new long[] {1, 1, 1, 1}, GyroDropoutOps.groupSizes(4, 4));
        assertArrayEquals(new long[] {5}, GyroDropoutOps.groupSizes(5, 1));
    }

    @Test
    void theActiveSetChangesExactlyEveryIterNumSteps() {
        Device dev = TestDevices.device("cpu");
        for (GyroSelection selection : GyroSelection.values()) {
            Seeds.seed(3);
            // 8 steps x 6 epochs = 48 steps over sigma = 16: iterNum = floor(48 / 16) * 4 = 12.
            GyroDropout g = module(opts(0.5, 16, 4, 8, 6).selection(selection).build(), dev);
            assertEquals(12, g.iterNum());
            long[] previous = null;
            for (int step = 0; step < 60; step++) {
                assertEquals(step, g.step());
                int[] rows = maskOfEachRow(g.forward(ones(dev, 8, 64)), g);
                long[] active = g.activeSet();
                assertGroups(rows, active, 4);
                if (previous != null) {
                    assertEquals(step % 12 == 0, !Arrays.equals(previous, active),
                            selection.id() + ": step " + step + " " + Arrays.toString(previous) + " -> "
                                    + Arrays.toString(active));
                }
                previous = active;
            }
            assertEquals(60, g.step());
        }
    }

    @Test
    void permutationModeUsesEveryMaskOncePerCycleAndIidDrawsAreDistinct() {
        int[][] shapes = {{16, 4}, {12, 5}, {7, 3}, {5, 5}, {6, 1}, {256, 16}, {1024, 8}};
        for (int[] st : shapes) {
            int sigma = st[0];
            int tau = st[1];
            GyroSchedule schedule = new GyroSchedule(sigma, tau, GyroSelection.PERMUTATION, 77);
            List<Long> stream = new ArrayList<>();
            int draws = (3 * sigma + tau - 1) / tau + 2; // a little over three cycles
            for (int d = 0; d < draws; d++) {
                long[] active = schedule.activeSet(d);
                assertEquals(tau, Arrays.stream(active).distinct().count(),
                        sigma + "/" + tau + " draw " + d + ": " + Arrays.toString(active));
                Arrays.stream(active).forEach(stream::add);
            }
            for (int cycle = 0; (cycle + 1) * sigma <= stream.size(); cycle++) {
                Set<Long> used = new HashSet<>(stream.subList(cycle * sigma, (cycle + 1) * sigma));
                assertEquals(sigma, used.size(), sigma + "/" + tau + ": cycle " + cycle + " uses every mask once");
            }
            GyroSchedule again = new GyroSchedule(sigma, tau, GyroSelection.PERMUTATION, 77);
            assertArrayEquals(schedule.activeSet(draws - 1), again.activeSet(draws - 1), "pure function of (seed, draw)");
            assertArrayEquals(schedule.activeSet(1), again.activeSet(1), "also when asked out of order");
        }
        // IID: each draw distinct, and over many draws every mask about equally often.
        int sigma = 8;
        int tau = 3;
        int draws = 2000;
        GyroSchedule iid = new GyroSchedule(sigma, tau, GyroSelection.IID, 5);
        int[] counts = new int[sigma];
        for (int d = 0; d < draws; d++) {
            long[] active = iid.activeSet(d);
            assertEquals(tau, Arrays.stream(active).distinct().count());
            Arrays.stream(active).forEach(i -> counts[(int) i]++);
        }
        double q = (double) tau / sigma;
        for (int i = 0; i < sigma; i++) {
            assertEquals(draws * q, counts[i], 5 * Math.sqrt(draws * q * (1 - q)), "mask " + i);
        }
    }

    @Test
    void theModuleFollowsThePermutationAcrossCycleBoundaries() {
        Device dev = TestDevices.device("cpu");
        Seeds.seed(4);
        // sigma 8, tau 3: T = 8 -> iterNum = 3; 24 steps = 8 draws = 24 stream entries = 3 cycles.
        GyroDropout g = module(opts(0.5, 8, 3, 8, 1).build(), dev);
        assertEquals(3, g.iterNum());
        List<Long> stream = new ArrayList<>();
        for (int step = 0; step < 24; step++) {
            int[] rows = maskOfEachRow(g.forward(ones(dev, 6, 128)), g);
            if (step % 3 == 0) {
                stream.add((long) rows[0]);
                stream.add((long) rows[2]);
                stream.add((long) rows[4]);
            }
        }
        for (int cycle = 0; cycle < 3; cycle++) {
            assertEquals(8, new HashSet<>(stream.subList(cycle * 8, cycle * 8 + 8)).size(), "cycle " + cycle);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void keptValuesAreScaledExactlyGradientsFollowAndEvalIsTheIdentity(String name) {
        Device dev = TestDevices.device(name);
        double p = 0.3;
        Seeds.seed(5);
        GyroDropout g = module(opts(p, 32, 4, 10, 10).build(), dev);
        for (int batch : new int[] {32, 10}) { // even groups (broadcast) and uneven (repeat_interleave)
            Tensor x = positive(dev, batch, 256).requires_grad_(true);
            Tensor y = g.forward(x);
            Tensor kept = y.detach().ne(new Scalar(0.0));
            assertTrue(kept.sum().item_long() > 0 && kept.logical_not().sum().item_long() > 0, "some kept, some dropped");
            assertTrue(y.detach().masked_select(kept).equal(x.detach().masked_select(kept).mul(new Scalar(1 / (1 - p)))),
                    "kept values are exactly x * 1/(1-p)");
            y.sum().backward();
            Tensor grad = x.grad();
            assertTrue(grad.eq(new Scalar(0.0)).equal(kept.logical_not()), "zero gradient exactly where dropped");
            Tensor keptGrad = grad.masked_select(kept);
            assertEquals(keptGrad.numel(), keptGrad.eq(new Scalar((float) (1 / (1 - p)))).sum().item_long());
        }
        g.eval();
        Tensor x = positive(dev, 10, 256);
        assertSame(x, g.forward(x), "eval returns the input itself");
        long step = g.step();
        g.forward(x);
        assertEquals(step, g.step(), "eval does not advance the schedule");
        g.train(true);
        GyroDropout zero = module(opts(0.0, 32, 4, 10, 10).build(), dev);
        assertSame(x, zero.forward(x), "p = 0 is the identity");
        assertFalse(zero.hasMasks());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void convolutionalInputsGetOneValuePerSampleAndChannel(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(6);
        int tau = 4;
        GyroDropout g = module(opts(0.5, 16, tau, 10, 10).build(), dev);
        for (long[] shape : new long[][] {{8, 96, 5, 7}, {10, 96, 5, 7}, {6, 96, 9}, {5, 96, 2, 3, 4}}) {
            Tensor y = g.forward(ones(dev, shape));
            assertArrayEquals(shape, Tensors.shape(y));
            Tensor flat = y.flatten(2, -1); // [N, C, spatial]
            Tensor first = flat.select(2, 0);
            assertTrue(flat.eq(first.unsqueeze(2)).all().item_bool(), "constant over spatial positions");
            assertGroups(maskOfEachRow(first, g), g.activeSet(), tau);
        }
    }

    /** featuresLast: [N, L, D] sequences get one mask over D per sample, the same at every position. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void sequenceInputsWithFeaturesLastGetOneMaskOverTheHiddenUnits(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(8);
        int tau = 4;
        GyroDropout g = module(opts(0.5, 16, tau, 10, 10).featuresLast(true).build(), dev);
        assertTrue(g.toString().contains("features=last"), g.toString());
        for (long[] shape : new long[][] {{8, 5, 96}, {10, 3, 96}, {6, 96}}) {
            Tensor y = g.forward(ones(dev, shape));
            assertArrayEquals(shape, Tensors.shape(y));
            assertEquals(96, g.masks().size(1), "masks are drawn over the last dimension");
            Tensor perPosition = y.dim() == 3 ? y : y.unsqueeze(1); // [N, L, D]
            Tensor first = perPosition.select(1, 0);
            assertTrue(perPosition.eq(first.unsqueeze(1)).all().item_bool(), "the same mask at every position");
            assertGroups(maskOfEachRow(first, g), g.activeSet(), tau);
        }
        assertRejected(() -> g.forward(ones(dev, 8, 96, 5)), "96", "5");
    }

    static void save(GyroDropout g, Path file) {
        OutputArchive out = new OutputArchive();
        g.save(out);
        out.save_to(file.toString());
    }

    static void load(GyroDropout g, Path file, Device dev) {
        InputArchive in = new InputArchive();
        in.load_from(file.toString(), new DeviceOptional(dev));
        g.load(in);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void resumingFromACheckpointIsBitIdenticalToAnUninterruptedRun(String name, @TempDir Path dir) {
        Device dev = TestDevices.device(name);
        // sigma 8, tau 3: T = 16, iterNum = 6; draws straddle permutation cycles (8 is not a multiple of 3).
        for (GyroSelection selection : GyroSelection.values()) {
            GyroDropoutOptions options = opts(0.4, 8, 3, 4, 4).selection(selection).build();
            Seeds.seed(7);
            List<Tensor> inputs = new ArrayList<>();
            for (int s = 0; s < 40; s++) {
                inputs.add(positive(dev, 7, 5, 2));
            }
            int k = 11;
            GyroDropout uninterrupted = module(options, dev);
            for (int s = 0; s < k; s++) {
                uninterrupted.forward(inputs.get(s));
            }
            Path file = dir.resolve("gyro-" + selection.id() + ".pt");
            save(uninterrupted, file);
            List<Tensor> want = new ArrayList<>();
            for (int s = k; s < inputs.size(); s++) {
                want.add(uninterrupted.forward(inputs.get(s)));
            }

            Seeds.seed(999); // another process state: resuming must not depend on it
            torch.rand(1000);
            GyroDropout resumed = module(options, dev);
            assertFalse(resumed.hasMasks());
            load(resumed, file, dev); // a fresh module: no warm-up forward needed
            assertTrue(resumed.hasMasks());
            assertEquals(k, resumed.step());
            for (int s = k; s < inputs.size(); s++) {
                assertTrue(want.get(s - k).equal(resumed.forward(inputs.get(s))), selection.id() + ": step " + s);
            }
            assertTrue(uninterrupted.masks().equal(resumed.masks()));
            assertArrayEquals(uninterrupted.activeSet(), resumed.activeSet());
            assertEquals(uninterrupted.step(), resumed.step());

            // Loading into a module that already trained replaces its masks, schedule and step too.
            GyroDropout rewound = module(options, dev);
            for (int s = 0; s < 5; s++) {
                rewound.forward(positive(dev, 7, 5, 2));
            }
            load(rewound, file, dev);
            assertEquals(k, rewound.step());
            for (int s = k; s < inputs.size(); s++) {
                assertTrue(want.get(s - k).equal(rewound.forward(inputs.get(s))), selection.id() + ": rewound step " + s);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void aSeedFixesMasksAndScheduleAndAnotherSeedChangesThem(String name) {
        Device dev = TestDevices.device(name);
        GyroDropoutOptions options = opts(0.5, 16, 4, 10, 10).build();
        GyroDropout[] g = new GyroDropout[3];
        long[] seeds = {123, 123, 124};
        List<List<Long>> actives = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Seeds.seed(seeds[i]);
            g[i] = module(options, dev);
            List<Long> used = new ArrayList<>();
            for (int s = 0; s < 100; s++) { // iterNum 24: five draws
                g[i].forward(ones(dev, 4, 256));
                Arrays.stream(g[i].activeSet()).forEach(used::add);
            }
            actives.add(used);
        }
        assertTrue(g[0].masks().equal(g[1].masks()), "same seed, same masks");
        assertEquals(g[0].scheduleSeed(), g[1].scheduleSeed());
        assertEquals(actives.get(0), actives.get(1), "same seed, same schedule");
        assertFalse(g[0].masks().equal(g[2].masks()), "another seed, other masks");
        assertNotEquals(actives.get(0), actives.get(2), "another seed, another schedule");
    }

    @Test
    void survivesModuleToDtypeWhichConvertsItsLongBuffers() {
        Device dev = TestDevices.device("cpu");
        Seeds.seed(8);
        GyroDropout g = module(opts(0.3, 16, 4, 10, 10).build(), dev);
        g.forward(ones(dev, 8, 32));
        long[] active = g.activeSet();
        g.to(torch.ScalarType.Double, false); // libtorch converts the long and bool buffers too
        Tensor x = positive(dev, 8, 32).to(torch.ScalarType.Double);
        Tensor y = g.forward(x);
        assertEquals(2, g.step(), "the step counter survived");
        assertArrayEquals(active, g.activeSet());
        Tensor kept = y.ne(new Scalar(0.0));
        assertTrue(y.masked_select(kept).equal(x.masked_select(kept).mul(new Scalar(1 / 0.7))), "exact in double");
    }

    /** Half turned a seed into infinity and BFloat16 into a neighbour: the schedule would change silently. */
    @Test
    void sixteenBitStateIsRefusedNotSilentlyRounded() {
        for (torch.ScalarType type : new torch.ScalarType[] {torch.ScalarType.Half, torch.ScalarType.BFloat16}) {
            Seeds.seed(8);
            GyroDropout g = module(opts(0.3, 16, 4, 10, 10).build(), Devices.cpu());
            g.forward(ones(Devices.cpu(), 8, 32));
            g.to(type, false);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> g.forward(ones(Devices.cpu(), 8,
                    32).to(type)));
            assertTrue(e.getMessage().contains("converted to " + type), e.getMessage());
        }
    }

    @Test
    void undefinedInputsAreRejectedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DropoutOps.dropout(new Tensor(), 0.5, DropoutMode.CLASSIC, true));
        assertEquals("input is an undefined tensor", e.getMessage());
    }

    static final class Net extends Module {
        final LinearImpl fc = register_module("fc", new LinearImpl(8, 8));
        final GyroDropout a = register_module("a", new GyroDropout(GyroDropoutOptions.defaults()));
        final Dropout plain = register_module("plain", new Dropout(0.1));
        final GyroDropout b = register_module("b", new GyroDropout(GyroDropoutOptions.builder().sigma(32).build()));
    }

    @Test
    void isADropoutForDropoutImplFieldsAndIsFoundBehindModuleViews() {
        DropoutImpl field = new GyroDropout(opts(0.5, 16, 4, 10, 10).build());
        field.eval();
        Tensor x = torch.ones(4, 4);
        assertSame(x, field.forward(x), "the Java override runs");
        field.train(true);
        assertTrue(Tensors.countZeros(field.forward(torch.ones(4, 1000))) > 0, "training through the field masks");
        assertTrue(field instanceof Dropout);

        Net net = new Net();
        Module viewOfA = dev.dropkit.core.Modules.namedChildren(net).get("a");
        assertFalse(viewOfA instanceof GyroDropout, "libtorch hands back plain views");
        assertEquals(List.of(net.a, net.b), GyroDropout.findIn(net));
        assertEquals(List.of(net.a), GyroDropout.findIn(net.a));
        assertEquals(List.of(), GyroDropout.findIn(net.fc));
        java.lang.ref.Reference.reachabilityFence(net);
    }

    @Test
    void toStringShowsTheHyperparameters() {
        assertEquals("GyroDropout(p=0.5, sigma=256, tau=16, itersPerEpoch=unset, maxEpoch=unset, selection=permutation)",
                new GyroDropout(GyroDropoutOptions.defaults()).toString());
        GyroDropout g = new GyroDropout(opts(0.2, 1024, 8, 196, 100).selection(GyroSelection.IID).build());
        assertEquals("GyroDropout(p=0.2, sigma=1024, tau=8, itersPerEpoch=196, maxEpoch=100, iterNum=152,"
                + " selection=iid)", g.toString());
        assertEquals(152, GyroSchedule.iterNum(196, 100, 1024, 8)); // floor(19600 / 1024) * 8
        assertEquals(1216, GyroSchedule.iterNum(196, 100, 256, 16));
        assertEquals("p=0.5, sigma=256, tau=16, itersPerEpoch=unset, maxEpoch=unset, selection=permutation",
                GyroDropoutOptions.defaults().toString());
    }

    static void assertRejected(Runnable r, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' missing from: " + e.getMessage());
        }
    }

    @Test
    void optionsMadeWithoutTheBuilderAreCheckedAlike() {
        GyroSelection perm = GyroSelection.PERMUTATION;
        assertRejected(() -> new GyroDropoutOptions(0.5, 4, 8, 0, 0, perm, false), "sigma=4, tau=8");
        assertRejected(() -> new GyroDropoutOptions(1.0, 256, 16, 0, 0, perm, false), "p must be in [0, 1), got 1.0");
        assertRejected(() -> new GyroDropoutOptions(0.5, 256, 16, -1, 0, perm, false), "itersPerEpoch must not be negative");
        assertRejected(() -> new GyroDropoutOptions(0.5, 256, 16, 10, 2, perm, false), "fewer than sigma = 256");
        assertRejected(() -> new GyroDropoutOptions(0.5, 256, 16, 0, 0, null, false), "selection");
        assertEquals(GyroDropoutOptions.defaults(), new GyroDropoutOptions(0.5, 256, 16, 0, 0, perm, false));
    }

    @Test
    void badOptionsAreRejectedWithTheirValues() {
        GyroDropoutOptions.Builder b = GyroDropoutOptions.builder();
        assertRejected(() -> b.p(1.0), "p must be in [0, 1), got 1.0");
        assertRejected(() -> b.p(-0.1), "got -0.1");
        assertRejected(() -> b.p(Double.NaN), "got NaN");
        assertRejected(() -> b.sigma(0), "sigma must be positive, got 0");
        assertRejected(() -> b.tau(-2), "tau must be positive, got -2");
        assertRejected(() -> b.itersPerEpoch(0), "itersPerEpoch must be positive, got 0");
        assertRejected(() -> b.maxEpoch(-1), "maxEpoch must be positive, got -1");
        assertRejected(() -> b.selection(null), "selection");
        assertRejected(() -> GyroDropoutOptions.builder().sigma(4).tau(8).build(), "sigma=4, tau=8");
        assertRejected(() -> GyroDropoutOptions.builder().itersPerEpoch(10).maxEpoch(2).build(),
                "10 * 2 = 20 steps is fewer than sigma = 256", "iterNum");
        assertRejected(() -> GyroSelection.parse("gyro"), "'gyro'");
        assertEquals(GyroSelection.IID, GyroSelection.parse(" IID "));
        assertRejected(() -> new GyroDropout(null), "options");
        GyroDropout g = new GyroDropout(GyroDropoutOptions.defaults());
        assertRejected(() -> g.setTrainingLength(5, 5), "25 steps is fewer than sigma = 256");
        assertRejected(() -> g.setStep(-1), "step must not be negative, got -1");
    }

    /**
     * The functional op with active indices in a tensor and the ready mask built from host indices give the
     * same bits, both equal to each row times its group's mask scaled by 1/(1-p), for even and uneven
     * groups, channels broadcast over spatial positions, and features last.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void theOpAndTheReadyMaskMultiplyEachRowByItsGroupsScaledMask(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(21);
        long[] active = {5, 0, 3, 6};
        double p = 0.3;
        long[][] shapes = {{12, 6}, {10, 6}, {10, 6, 3, 3}, {8, 5, 6}};
        boolean[] last = {false, false, false, true};
        for (int s = 0; s < shapes.length; s++) {
            long[] shape = shapes[s];
            int dims = shape.length;
            int axis = last[s] ? dims - 1 : 1;
            long c = shape[axis];
            Tensor x = torch.randn(shape).to(dev, torch.ScalarType.Float);
            Tensor masks = torch.rand(7, c).lt(new Scalar(0.6)).to(dev, torch.ScalarType.Bool);
            Tensor viaOp = GyroDropoutOps.gyroDropout(x, masks, torch.tensor(active).to(dev, torch.ScalarType.Long), p, true, last[s]);
            Tensor viaReady = GyroDropoutOps.applyReadyMask(x, GyroDropoutOps.readyMask(masks, active, shape[0], dims,
                    last[s], p, torch.ScalarType.Float, x.device()), active.length);
            long[] sizes = GyroDropoutOps.groupSizes(shape[0], active.length);
            long[] rowShape = new long[dims];
            Arrays.fill(rowShape, 1);
            rowShape[axis] = c;
            List<Tensor> rows = new ArrayList<>();
            long row = 0;
            for (int g = 0; g < active.length; g++) {
                Tensor scaled = masks.select(0, active[g]).to(torch.ScalarType.Float).mul(new Scalar(1.0 / (1.0 - p)));
                for (long k = 0; k < sizes[g]; k++, row++) {
                    rows.add(x.narrow(0, row, 1).mul(scaled.view(rowShape)));
                }
            }
            org.bytedeco.pytorch.TensorVector parts = new org.bytedeco.pytorch.TensorVector();
            rows.forEach(parts::push_back);
            Tensor expected = torch.cat(parts, 0);
            String what = Arrays.toString(shape) + (last[s] ? " features last" : "");
            assertTrue(torch.equal(expected, viaOp), what + ": the op is each row times its group's scaled mask");
            assertTrue(torch.equal(expected, viaReady), what + ": the ready mask gives the same bits");
        }
    }

    @Test
    void badInputsAreRejectedWithTheNumbers() {
        Device dev = TestDevices.device("cpu");
        GyroDropout g = module(opts(0.5, 16, 4, 10, 10).build(), dev);
        assertRejected(() -> g.forward(torch.ones(3, 8)), "a batch of 3 samples is smaller than tau = 4");
        assertRejected(() -> g.forward(torch.ones(8)), "[N, C, *]", "[8]");
        g.forward(torch.ones(8, 8));
        assertRejected(() -> g.forward(torch.ones(8, 9)), "drawn for 8 features or channels, got an input with 9");
        assertRejected(() -> GyroDropoutOps.groupSizes(2, 3), "a batch of 2 samples is smaller than tau = 3");
        assertRejected(() -> GyroDropoutOps.gyroDropout(torch.ones(4, 3), torch.ones(5, 2), torch.zeros(2), 0.5, true),
                "[sigma, 3]");

        GyroDropout unset = module(GyroDropoutOptions.defaults(), dev);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> unset.forward(torch.ones(16, 8)));
        assertTrue(e.getMessage().contains("GyroDropoutCallback"), e.getMessage());
        unset.eval();
        Tensor x = torch.ones(16, 8);
        assertSame(x, unset.forward(x), "evaluation needs no schedule");
    }
}
