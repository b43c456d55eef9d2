package dev.dropkit.gyro;

import static dev.dropkit.gyro.GyroDropoutTest.assertGroups;
import static dev.dropkit.gyro.GyroDropoutTest.load;
import static dev.dropkit.gyro.GyroDropoutTest.maskOfEachRow;
import static dev.dropkit.gyro.GyroDropoutTest.module;
import static dev.dropkit.gyro.GyroDropoutTest.ones;
import static dev.dropkit.gyro.GyroDropoutTest.opts;
import static dev.dropkit.gyro.GyroDropoutTest.positive;
import static dev.dropkit.gyro.GyroDropoutTest.save;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.testing.CudaSyncs;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The training path as one multiply by a ready mask: exact values and gradients, a mask that changes
 * exactly at the active-set boundaries (and is rebuilt only then), the sigma/tau semantics, state that
 * round-trips through save and load, seeds that reproduce, a {@code p} that changes at the next active-set
 * change, and no host synchronization in a CUDA step.
 */
@ExtendWith(NativeScopePerTest.class)
class GyroReadyMaskTest {

    /** The mask the paper's definition gives for the module's current masks and active set, built independently. */
    static Tensor expectedMask(GyroDropout g, Tensor x, boolean featuresLast) {
        long n = x.size(0);
        int dims = (int) x.dim();
        long[] sizes = GyroDropoutOps.groupSizes(n, g.tau());
        long[] active = g.activeSet();
        long[] rowMask = new long[(int) n];
        int r = 0;
        for (int group = 0; group < sizes.length; group++) {
            for (long k = 0; k < sizes[group]; k++) {
                rowMask[r++] = active[group];
            }
        }
        Tensor masks = g.masks();
        Tensor index = torch.tensor(rowMask).to(masks.device(), torch.ScalarType.Long);
        Tensor perRow = masks.index_select(0, index).to(x.scalar_type()).mul(new Scalar(1.0 / (1.0 - g.effectiveP())));
        long[] shape = new long[dims];
        Arrays.fill(shape, 1);
        shape[0] = n;
        shape[featuresLast ? dims - 1 : 1] = masks.size(1);
        return perRow.view(shape);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void outputAndGradientAreTheInputTimesTheReadyMaskExactly(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(21);
        GyroDropout g = module(opts(0.3, 16, 4, 10, 10).build(), dev);
        for (long[] shape : new long[][] {{16, 64}, {10, 64}, {8, 64, 3, 5}, {7, 64, 4}, {12, 64}}) {
            for (torch.ScalarType type : new torch.ScalarType[] {torch.ScalarType.Float, torch.ScalarType.Double}) {
                Tensor x = positive(dev, shape).to(type).requires_grad_(true);
                Tensor y = g.forward(x);
                Tensor m = expectedMask(g, x, false);
                String what = Arrays.toString(shape) + " " + type;
                assertTrue(y.detach().equal(x.detach().mul(m)), what + ": y == x * mask exactly");
                y.sum().backward();
                assertTrue(x.grad().equal(m.expand_as(x)), what + ": dL/dx == mask exactly");
            }
        }
        GyroDropout last = module(opts(0.5, 16, 4, 10, 10).featuresLast(true).build(), dev);
        for (long[] shape : new long[][] {{8, 5, 64}, {10, 3, 64}}) {
            Tensor x = positive(dev, shape);
            assertTrue(last.forward(x).equal(x.mul(expectedMask(last, x, true))), "features last " + Arrays.toString(shape));
        }
    }

    /** One build per active set (plus one per new batch layout or type), and a mask that changes exactly at iterNum. */
    @Test
    void theMaskChangesExactlyAtIterNumBoundariesAndIsBuiltOnlyThen() {
        Device dev = TestDevices.device("cpu");
        for (GyroSelection selection : GyroSelection.values()) {
            Seeds.seed(22);
            GyroDropout g = module(opts(0.5, 16, 4, 8, 6).selection(selection).build(), dev); // iterNum 12
            assertEquals(12, g.iterNum());
            Tensor x = ones(dev, 8, 64);
            Tensor previous = null;
            for (int step = 0; step < 60; step++) {
                Tensor y = g.forward(x);
                if (previous != null) {
                    assertEquals(step % 12 == 0, !y.equal(previous), selection.id() + " step " + step);
                }
                assertEquals(step / 12 + 1, g.readyBuilds(), selection.id() + " step " + step + ": builds");
                previous = y;
            }
            g.forward(x); // step 60: a new active set, then layouts within it
            long builds = g.readyBuilds();
            g.forward(ones(dev, 16, 64)); // another even batch: the [tau, 1, C] mask still fits
            assertEquals(builds, g.readyBuilds(), "even batches share one mask");
            g.forward(ones(dev, 10, 64)); // uneven: a per-sample mask
            g.forward(ones(dev, 10, 64));
            assertEquals(builds + 1, g.readyBuilds(), "built once for the new layout");
            g.forward(ones(dev, 8, 64).to(torch.ScalarType.Double));
            assertEquals(builds + 2, g.readyBuilds(), "and once for the new type");
            g.setStep(1000); // another draw
            g.forward(ones(dev, 8, 64).to(torch.ScalarType.Double));
            assertEquals(builds + 3, g.readyBuilds(), "and once for a new active set");
        }
    }

    /** Exactly tau of the sigma sub-networks act on a step, one per group, and a permutation cycle uses all sigma. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void exactlyTauOfSigmaSubNetworksAreActive(String name) {
        Device dev = TestDevices.device(name);
        for (int[] st : new int[][] {{16, 4}, {12, 3}, {8, 8}, {6, 1}}) {
            int sigma = st[0];
            int tau = st[1];
            Seeds.seed(23);
            GyroDropout g = module(opts(0.5, sigma, tau, sigma, 1).build(), dev); // iterNum = tau
            Set<Long> used = new HashSet<>();
            for (int step = 0; step < sigma; step++) {
                int[] rows = maskOfEachRow(g.forward(ones(dev, 3L * tau + 1, 128)), g);
                long[] active = g.activeSet();
                assertGroups(rows, active, tau);
                assertEquals(tau, Arrays.stream(rows).distinct().count(), sigma + "/" + tau + ": tau masks in the batch");
                Arrays.stream(active).forEach(used::add);
            }
            assertEquals(sigma, used.size(), sigma + "/" + tau + ": sigma steps = one cycle over every sub-network");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void stateRoundTripsThroughSaveAndLoadAndItsBuffersStayOnTheCpu(String name, @TempDir Path dir) {
        Device dev = TestDevices.device(name);
        GyroDropoutOptions options = opts(0.4, 8, 3, 4, 4).build(); // iterNum 6
        Seeds.seed(24);
        GyroDropout g = module(options, dev);
        for (int s = 0; s < 9; s++) {
            g.forward(positive(dev, 7, 32));
        }
        g.setP(0.2); // asked for, not yet in force: both values must survive
        g.forward(positive(dev, 7, 32));
        TensorVector buffers = g.buffers(false);
        int onCpu = 0;
        for (int i = 0; i < buffers.size(); i++) {
            onCpu += buffers.get(i).is_cuda() ? 0 : 1;
        }
        assertEquals(dev.is_cuda() ? 3 : 4, onCpu, "state, active and p stay on the CPU; masks follow the module");
        Path file = dir.resolve("gyro.pt");
        save(g, file);
        List<Tensor> want = new ArrayList<>();
        List<Tensor> inputs = new ArrayList<>();
        for (int s = 0; s < 14; s++) {
            inputs.add(positive(dev, 7, 32));
            want.add(g.forward(inputs.get(s)));
        }

        Seeds.seed(999);
        GyroDropout back = module(options, dev);
        load(back, file, dev);
        assertEquals(10, back.step());
        assertEquals(0.4, back.effectiveP(), 0.0, "the p in force round-trips exactly");
        back.setP(0.2); // the schedule asks again after a resume, as ScheduleCallback does
        for (int s = 0; s < 14; s++) {
            assertTrue(want.get(s).equal(back.forward(inputs.get(s))), "step " + (10 + s));
        }
        assertEquals(0.2, back.effectiveP(), 0.0, "the new p came in at step 12");
        assertTrue(g.masks().equal(back.masks()));
        assertArrayEquals(g.activeSet(), back.activeSet());
        assertEquals(g.scheduleSeed(), back.scheduleSeed());

        save(back, file); // and the new p round-trips as well
        GyroDropout again = module(options, dev);
        load(again, file, dev);
        assertEquals(0.2, again.effectiveP(), 0.0);
        assertEquals(0.2, again.p(), 0.0);
    }

    /** A checkpoint from before the p buffer existed is refused by libtorch, naming the missing buffer. */
    @Test
    void aCheckpointWithoutThePBufferIsRefusedNamingIt(@TempDir Path dir) {
        GyroDropout g = module(opts(0.5, 8, 2, 4, 4).build(), TestDevices.device("cpu"));
        g.forward(ones(TestDevices.device("cpu"), 4, 16));
        OutputArchive old = new OutputArchive(); // what a GyroDropout wrote before: masks, active, state
        old.write("masks", g.masks(), true);
        old.write("active", torch.tensor(g.activeSet()), true);
        old.write("state", torch.tensor(new long[] {1, 0, g.scheduleSeed()}), true);
        Path file = dir.resolve("old.pt");
        old.save_to(file.toString());
        GyroDropout fresh = module(opts(0.5, 8, 2, 4, 4).build(), TestDevices.device("cpu"));
        RuntimeException e = assertThrows(RuntimeException.class, () -> load(fresh, file, TestDevices.device("cpu")));
        assertTrue(e.getMessage().contains("No such serialized tensor 'p'"), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void aSeedReproducesMasksScheduleAndOutputs(String name) {
        Device dev = TestDevices.device(name);
        List<List<Tensor>> runs = new ArrayList<>();
        for (long seed : new long[] {25, 25, 26}) {
            Seeds.seed(seed);
            GyroDropout g = module(opts(0.5, 16, 4, 4, 4).build(), dev); // iterNum 4
            List<Tensor> outputs = new ArrayList<>();
            for (int s = 0; s < 12; s++) {
                outputs.add(g.forward(ones(dev, 8, 128)));
            }
            runs.add(outputs);
        }
        for (int s = 0; s < 12; s++) {
            assertTrue(runs.get(0).get(s).equal(runs.get(1).get(s)), "same seed, step " + s);
            assertFalse(runs.get(0).get(s).equal(runs.get(2).get(s)), "another seed, step " + s);
        }
    }

    /** The drop fraction over all sigma masks (the masks hold one value per unit). */
    static double dropFraction(GyroDropout g) {
        Tensor kept = g.masks().to(torch.ScalarType.Double).mean(new long[] {0, 1}, false, new ScalarTypeOptional());
        return 1.0 - kept.item_double();
    }

    @Test
    void aNewPTakesEffectAtTheNextActiveSetChangeWithMasksRedrawnForIt() {
        Device dev = TestDevices.device("cpu");
        int sigma = 64;
        int c = 512;
        Seeds.seed(26);
        GyroDropout g = module(opts(0.5, sigma, 4, 10, 8).build(), dev); // 80 steps / 64 -> iterNum 4
        assertEquals(4, g.iterNum());
        Tensor x = ones(dev, 8, c);
        g.forward(x);
        Tensor before = g.forward(x); // step 1
        Tensor masksBefore = g.masks();
        g.setP(0.2);
        assertEquals(0.2, g.p(), 0.0, "asked for");
        assertEquals(0.5, g.effectiveP(), 0.0, "still in force until the active set changes");
        for (int step = 2; step < 4; step++) {
            assertTrue(before.equal(g.forward(x)), "step " + step + ": the same masks");
            assertEquals(0.5, g.effectiveP(), 0.0);
        }
        long seed = g.scheduleSeed();
        Tensor y = g.forward(x); // step 4: the active set changes, and the masks are redrawn for 0.2
        assertEquals(0.2, g.effectiveP(), 0.0);
        assertFalse(masksBefore.equal(g.masks()), "masks redrawn");
        assertEquals(seed, g.scheduleSeed(), "the schedule goes on");
        assertArrayEquals(new GyroSchedule(sigma, 4, GyroSelection.PERMUTATION, seed).activeSet(1), g.activeSet());
        double tolerance = 5 * TestDevices.bernoulliSigma(0.2, (long) sigma * c);
        assertEquals(0.2, dropFraction(g), tolerance, "drop fraction of the new masks");
        long kept = y.ne(new Scalar(0.0)).sum().item_long();
        assertEquals(kept, y.eq(new Scalar(1.25)).sum().item_long(), "kept units are exactly 1/(1-0.2)");
        assertTrue(y.equal(x.mul(expectedMask(g, x, false))));

        g.setP(0.0); // early dropout's second phase: the identity from the next change on
        for (int step = 5; step < 8; step++) {
            assertTrue(y.equal(g.forward(x)), "step " + step);
        }
        assertTrue(g.forward(x).equal(x), "step 8: p = 0 is the identity");
        assertEquals(0.0, g.effectiveP(), 0.0);
        g.setP(0.35);
        for (int step = 9; step < 12; step++) {
            assertTrue(g.forward(x).equal(x), "step " + step + ": still 0 until the change");
        }
        g.forward(x); // step 12
        assertEquals(0.35, g.effectiveP(), 0.0);
        assertEquals(0.35, dropFraction(g), 5 * TestDevices.bernoulliSigma(0.35, (long) sigma * c));
        assertEquals(13, g.step());

        assertThrows(IllegalArgumentException.class, () -> g.setP(1.0));
        assertThrows(IllegalArgumentException.class, () -> g.setP(-0.1));
        assertNotEquals(0.0, g.effectiveP());
    }

    /** On CUDA a training step, including one that changes the active set and p, never waits for the GPU. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = "cuda")
    void aForwardBackwardStepDoesNotSynchronizeOnCuda(String name) {
        Device dev = TestDevices.device(name);
        Seeds.seed(27);
        GyroDropout g = module(opts(0.5, 16, 4, 8, 8).build(), dev); // iterNum 16
        Tensor x = positive(dev, 64, 1024).requires_grad_(true);
        Tensor uneven = positive(dev, 10, 1024).requires_grad_(true);
        g.forward(x).sum().backward(); // the first step reads the buffers that to(device) moved, once
        g.forward(uneven).sum().backward();
        CudaSyncs.assertNoSync("Gyro Dropout steps", () -> {
            for (int step = 0; step < 20; step++) { // crosses the boundary at step 16
                if (step == 5) {
                    g.setP(0.3);
                }
                g.forward(step % 7 == 3 ? uneven : x).sum().backward();
            }
        });
        assertEquals(0.3, g.effectiveP(), 0.0);
        assertEquals(22, g.step());
    }
}
