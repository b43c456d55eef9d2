package dev.dropkit.dropgrad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.testing.CudaSyncs;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.testing.TestDevices;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The optimizer wrapper's flat gradient buffers: every gradient of a rate group is a slice of one buffer,
 * autograd accumulates into it in place, a step masks each group at once, and zero_grad keeps the slices.
 * On the CPU flat buffers are off unless asked for, so these cases turn them on.
 */
@ExtendWith(NativeScopePerTest.class)
class FlatGradientsTest {

    /** Builds with flat buffers on for the CPU too (the property is read when DropGrad is built). */
    static DropGrad flat(Supplier<DropGrad> build) {
        String before = System.getProperty(FlatGradients.PROPERTY);
        System.setProperty(FlatGradients.PROPERTY, "true");
        try {
            return build.get();
        } finally {
            if (before == null) {
                System.clearProperty(FlatGradients.PROPERTY);
            } else {
                System.setProperty(FlatGradients.PROPERTY, before);
            }
        }
    }

    /** Whether every parameter's gradient is its slice of its group's buffer, checked by data pointer and range. */
    static boolean allAliased(DropGrad dropGrad) {
        RateGroups groups = dropGrad.groups();
        FlatGradients flat = dropGrad.flatGradients();
        List<Tensor> params = dropGrad.parameters();
        for (RateGroups.Group g : groups.groups) {
            if (!flat.aliased(groups, g, params)) {
                return false;
            }
            Tensor buffer = flat.flat(g);
            long base = buffer.data_ptr().address();
            long end = base + buffer.numel() * buffer.element_size();
            for (int m : g.members) {
                Tensor grad = params.get(m).grad();
                long at = grad.data_ptr().address();
                if (at < base || at + grad.numel() * grad.element_size() > end) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Two batches summed without DropGrad: the reference an accumulated, masked gradient is compared with. */
    static Map<String, Tensor> rawSum(DropGradTest.Net net, Tensor x1, Tensor y1, Tensor x2, Tensor y2) {
        net.zeroGrad();
        net.backward(x1, y1);
        net.backward(x2, y2);
        Map<String, Tensor> raw = DropGradTest.grads(net);
        net.zeroGrad();
        return raw;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void gradientsStayInTheBufferOverTwoBackwardPassesAndTheStepMasksTheSumExactly(String name) {
        Device dev = TestDevices.device(name);
        DropGradTest.Net net = DropGradTest.net(dev, 31);
        Tensor x1 = DropGradTest.inputs(dev, 16, 32);
        Tensor y1 = DropGradTest.targets(dev, 16, 10);
        Tensor x2 = DropGradTest.inputs(dev, 16, 32);
        Tensor y2 = DropGradTest.targets(dev, 16, 10);
        Map<String, Tensor> raw = rawSum(net, x1, y1, x2, y2);

        double rate = 0.3;
        DropGrad dropGrad = flat(() -> DropGrad.builder().rate(rate).build(net));
        DropGradOptimizer wrapper = dropGrad.wrap(new SGD(net.parameters(), new SGDOptions(0.0)));
        wrapper.zero_grad();
        assertTrue(allAliased(dropGrad), "zero_grad makes every gradient a slice of the buffer");
        net.backward(x1, y1);
        assertTrue(allAliased(dropGrad), "after one backward pass");
        net.backward(x2, y2);
        assertTrue(allAliased(dropGrad), "after a second, accumulating one");
        Map<String, Tensor> accumulated = DropGradTest.grads(net);
        for (String p : raw.keySet()) {
            assertTrue(accumulated.get(p).equal(raw.get(p)), p + ": accumulated in place, the same sum");
        }

        wrapper.step(); // lr 0: masks, moves nothing
        assertTrue(allAliased(dropGrad), "the step masks the buffer in place");
        Map<String, Tensor> masked = DropGradTest.grads(net);
        DropGradTest.assertMaskedAtRate(raw, masked, rate); // survivors are exactly the sum * 1/(1-p)
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void eachRateGroupIsMaskedAtItsOwnRate(String name) {
        Device dev = TestDevices.device(name);
        DropGradTest.Net net = DropGradTest.net(dev, 32);
        Tensor x = DropGradTest.inputs(dev, 16, 32);
        Tensor y = DropGradTest.targets(dev, 16, 10);
        DropGrad dropGrad = flat(() -> DropGrad.builder().rate(0.5).rate("fc1.*", 0.2).build(net));
        assertEquals(2, dropGrad.groups().groups.length, "two schedules, one device, one dtype: two groups");
        DropGradOptimizer wrapper = dropGrad.wrap(new SGD(net.parameters(), new SGDOptions(0.0)));
        wrapper.zero_grad();
        net.backward(x, y);
        assertTrue(allAliased(dropGrad));
        wrapper.step();
        Map<String, Tensor> masked = DropGradTest.grads(net);
        long[] elements = new long[2];
        long[] dropped = new long[2];
        for (var e : masked.entrySet()) {
            int g = e.getKey().startsWith("fc1.") ? 0 : 1;
            elements[g] += e.getValue().numel();
            dropped[g] += Tensors.countZeros(e.getValue());
        }
        assertEquals(8192 + 256, elements[0]);
        assertEquals(2560 + 10 + 10, elements[1]);
        assertEquals(0.2, (double) dropped[0] / elements[0], 5 * TestDevices.bernoulliSigma(0.2, elements[0]), "fc1.*");
        assertEquals(0.5, (double) dropped[1] / elements[1], 5 * TestDevices.bernoulliSigma(0.5, elements[1]), "others");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void zeroGradZeroesTheBufferInPlaceAndKeepsTheSlices(String name) {
        Device dev = TestDevices.device(name);
        DropGradTest.Net net = DropGradTest.net(dev, 33);
        DropGrad dropGrad = flat(() -> DropGrad.builder().rate(0.1).build(net));
        DropGradOptimizer wrapper = dropGrad.wrap(new SGD(net.parameters(), new SGDOptions(0.01)));
        wrapper.zero_grad();
        RateGroups.Group g = dropGrad.groups().groups[0];
        long buffer = dropGrad.flatGradients().flat(g).data_ptr().address();
        long[] before = gradAddresses(dropGrad);
        for (int step = 0; step < 3; step++) {
            net.backward(DropGradTest.inputs(dev, 8, 32), DropGradTest.targets(dev, 8, 10));
            wrapper.step();
            wrapper.zero_grad();
            assertEquals(buffer, dropGrad.flatGradients().flat(g).data_ptr().address(), "the same buffer");
            assertTrue(java.util.Arrays.equals(before, gradAddresses(dropGrad)), "the same slices, step " + step);
            Tensor buf = dropGrad.flatGradients().flat(g);
            assertEquals(buf.numel(), Tensors.countZeros(buf), "zeroed, step " + step);
            assertTrue(allAliased(dropGrad));
        }
        net.backward(DropGradTest.inputs(dev, 8, 32), DropGradTest.targets(dev, 8, 10));
        wrapper.zero_grad(false); // libtorch's detach_() and zero_() on each slice: works, slices kept
        assertTrue(allAliased(dropGrad), "zero_grad(false) keeps the slices");
        Tensor buf = dropGrad.flatGradients().flat(g);
        assertEquals(buf.numel(), Tensors.countZeros(buf));
    }

    /** Why the slices are made with set_: a narrow view as .grad makes libtorch's zero_grad(false) throw (detach_). */
    @Test
    void aViewAsGradientBreaksLibtorchsZeroGradWhichIsWhySlicesAreMadeWithSet() {
        Tensor p = org.bytedeco.pytorch.global.torch.ones(4);
        p.set_requires_grad(true);
        Tensor buffer = org.bytedeco.pytorch.global.torch.zeros(8);
        p.mutable_grad().put(buffer.narrow(0, 2, 4));
        SGD sgd = new SGD(new org.bytedeco.pytorch.TensorVector(p), new SGDOptions(0.1));
        RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> sgd.zero_grad(false));
        assertTrue(e.getMessage().contains("view"), e.getMessage());
    }

    static long[] gradAddresses(DropGrad dropGrad) {
        List<Tensor> params = dropGrad.parameters();
        long[] out = new long[params.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = params.get(i).grad().data_ptr().address();
        }
        return out;
    }

    /**
     * When libtorch replaces the gradients (the inner optimizer set them to undefined, so backward stole new
     * ones), the step masks parameter by parameter with the same masks, and the next zero_grad restores the slices.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void replacedGradientsAreMaskedOneByOneWithTheSameBitsAndTheSlicesComeBack(String name) {
        Device dev = TestDevices.device(name);
        DropGradTest.Net net = DropGradTest.net(dev, 34);
        Tensor x = DropGradTest.inputs(dev, 16, 32);
        Tensor y = DropGradTest.targets(dev, 16, 10);
        DropGrad dropGrad = flat(() -> DropGrad.builder().rate(0.3).rate("fc1.bias", 0.99).build(net));
        DropGradOptimizer wrapper = dropGrad.wrap(new SGD(net.parameters(), new SGDOptions(0.0)));

        wrapper.zero_grad();
        Seeds.seed(5);
        net.backward(x, y);
        assertTrue(allAliased(dropGrad));
        wrapper.step();
        Map<String, Tensor> viaFlat = DropGradTest.grads(net);

        wrapper.zero_grad(true); // undefined: backward steals fresh gradients outside the buffer
        Seeds.seed(5);
        net.backward(x, y);
        assertFalse(allAliased(dropGrad), "libtorch replaced them");
        wrapper.step();
        Map<String, Tensor> oneByOne = DropGradTest.grads(net);
        for (String p : viaFlat.keySet()) {
            assertTrue(viaFlat.get(p).equal(oneByOne.get(p)), p + ": flat and one-by-one masks agree bit for bit");
        }
        wrapper.zero_grad();
        assertTrue(allAliased(dropGrad), "zero_grad puts the slices back");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void hooksAndTheFlatWrapperGiveIdenticalGradientsForTheSameSeed(String name) {
        Device dev = TestDevices.device(name);
        DropGradTest.Net net = DropGradTest.net(dev, 35);
        Tensor x = DropGradTest.inputs(dev, 16, 32);
        Tensor y = DropGradTest.targets(dev, 16, 10);
        // fc1.bias above the CPU hash's range: a group mask drawn in the round, applied to its buffer in one multiply.
        DropGrad dropGrad = flat(() -> DropGrad.builder().rate(0.2).rate("fc2.*", 0.6).rate("fc1.bias", 0.99)
                .build(net));
        net.zeroGrad();
        Seeds.seed(78);
        try (DropGradHooks hooks = dropGrad.attach()) {
            net.backward(x, y);
        }
        Map<String, Tensor> viaHooks = DropGradTest.grads(net);

        DropGradOptimizer wrapper = dropGrad.wrap(new SGD(net.parameters(), new SGDOptions(0.0)));
        wrapper.zero_grad();
        Seeds.seed(78);
        net.backward(x, y);
        assertTrue(allAliased(dropGrad));
        wrapper.step();
        Map<String, Tensor> viaWrapper = DropGradTest.grads(net);
        for (String p : viaHooks.keySet()) {
            assertTrue(viaHooks.get(p).equal(viaWrapper.get(p)), p + ": hooks and flat wrapper agree bit for bit");
        }
        assertTrue(Tensors.countZeros(viaHooks.get("fc1.bias")) > 200, "rate 0.99 drops nearly all of fc1.bias");
    }

    /** On CUDA neither form waits for the GPU during a step, with flat buffers (off by default) or without. */
    @Test
    void aCudaStepMakesNoHostSync() {
        assumeTrue(Devices.cudaAvailable(), "[cuda] no CUDA device here");
        Device dev = Devices.parse("cuda");
        DropGradTest.Net net = DropGradTest.net(dev, 36);
        Tensor x = DropGradTest.inputs(dev, 16, 32);
        Tensor y = DropGradTest.targets(dev, 16, 10);
        for (boolean flatBuffers : new boolean[] {false, true}) {
            Supplier<DropGrad> build = () -> DropGrad.builder().rate(0.1).rate("*.bias", 0.01).build(net);
            DropGrad dropGrad = flatBuffers ? flat(build) : build.get();
            DropGradOptimizer wrapper = dropGrad.wrap(new SGD(net.parameters(), new SGDOptions(0.01)));
            wrapper.zero_grad();
            net.backward(x, y);
            wrapper.step(); // first step: buffers allocated, groups made
            CudaSyncs.assertNoSync("a DropGrad wrapper step, flat buffers " + flatBuffers, () -> {
                wrapper.zero_grad();
                net.backward(x, y);
                wrapper.step();
            });
            assertEquals(flatBuffers, allAliased(dropGrad), "gradients live in flat buffers exactly when asked");
        }
        DropGrad dropGrad = DropGrad.builder().rate(0.1).rate("*.bias", 0.01).build(net);
        try (DropGradHooks hooks = dropGrad.attach()) {
            net.zeroGrad();
            CudaSyncs.assertNoSync("a DropGrad hooks step", () -> net.backward(x, y));
        }
    }
}
