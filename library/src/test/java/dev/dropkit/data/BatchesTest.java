package dev.dropkit.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Tensors;
import dev.dropkit.ffm.TensorSegments;
import dev.dropkit.testing.TestDevices;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class BatchesTest {
    static final int N = 103;

    @TempDir
    static Path dir;

    static IdxDataset ds;

    @BeforeAll
    static void load() throws IOException {
        // 2 x 2 images whose first two pixels encode the sample index; labels are index % 10.
        Path[] files = TestIdx.write(dir, Split.TRAIN, N, 2, 2, false);
        ds = IdxDataset.load(files[0], files[1], dir.resolve("cache"));
    }

    @AfterAll
    static void close() {
        ds.close();
    }

    /** The sample indices of one epoch, batch by batch, decoded from the pixels; checks targets on the way. */
    static List<int[]> indices(Batches batches, int epoch) {
        List<int[]> out = new ArrayList<>();
        Iterator<Batch> it = batches.epoch(epoch);
        while (it.hasNext()) {
            NativeMemory.run(() -> {
                Batch b = it.next();
                float[] x = Tensors.toFloatArray(b.inputs());
                long[] y = TensorSegments.view(b.targets().cpu()).toArray(ValueLayout.JAVA_LONG);
                int[] idx = new int[b.size()];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = Math.round(x[4 * i] * 255) + 256 * Math.round(x[4 * i + 1] * 255);
                    assertEquals(idx[i] % 10, y[i], "target belongs to the same sample");
                }
                out.add(idx);
            });
        }
        return out;
    }

    static int[] flat(List<int[]> batches) {
        return batches.stream().flatMapToInt(Arrays::stream).toArray();
    }

    @Test
    void everySampleExactlyOncePerEpoch() {
        Batches batches = Batches.builder(ds).batchSize(10).seed(7).flatten(true).build();
        assertEquals(11, batches.batchesPerEpoch());
        assertEquals(N, batches.samples());
        for (int epoch = 0; epoch < 2; epoch++) {
            List<int[]> got = indices(batches, epoch);
            assertEquals(11, got.size());
            assertEquals(3, got.get(10).length, "the last batch holds the remainder");
            int[] all = flat(got);
            int[] sorted = all.clone();
            Arrays.sort(sorted);
            int[] expected = new int[N];
            Arrays.setAll(expected, i -> i);
            assertArrayEquals(expected, sorted, "epoch " + epoch + " visits 0.." + (N - 1) + " once each");
        }
    }

    @Test
    void aBatchSizeOfIntegerMaxIsOneWholeBatch() {
        Batches batches = Batches.builder(ds).batchSize(Integer.MAX_VALUE).flatten(true).build();
        assertEquals(1, batches.batchesPerEpoch(), "(samples + batchSize - 1) overflowed an int to 0 batches");
        assertEquals(List.of(N), indices(batches, 0).stream().map(b -> b.length).toList());
        TensorBatches tensors = new TensorBatches(torch.zeros(N, 2), torch.zeros(N).to(ScalarType.Long), Integer.MAX_VALUE - 5, false, 0, Devices.cpu());
        assertEquals(1, tensors.batchesPerEpoch());
    }

    @Test
    void tensorBatchesWantClassIndicesAndKeepTheirOwnDevice() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TensorBatches(torch.zeros(4, 2), torch.zeros(4), 2, false, 0, Devices.cpu()));
        assertEquals("targets must be int64 class indices, got Float", e.getMessage()); // 0.9 became class 0
        Tensor x = torch.zeros(4, 2);
        Tensor y = torch.zeros(4).to(ScalarType.Long);
        TensorBatches b;
        try (PointerScope scope = new PointerScope()) {
            Device cpu = new Device(torch.DeviceType.CPU); // freed when the scope closes
            b = new TensorBatches(x, y, 2, false, 0, cpu);
        }
        assertEquals(2, b.epoch(0).next().size(), "a Device freed with its scope is not used after free");
    }

    @Test
    void dropLastDropsTheRemainder() {
        Batches batches = Batches.builder(ds).batchSize(10).dropLast(true).flatten(true).build();
        assertEquals(10, batches.batchesPerEpoch());
        List<int[]> got = indices(batches, 0);
        assertEquals(10, got.size());
        assertTrue(got.stream().allMatch(b -> b.length == 10));
        assertEquals(100, Arrays.stream(flat(got)).distinct().count());
    }

    @Test
    void theOrderIsSeededFisherYatesPerEpoch() {
        Batches a = Batches.builder(ds).batchSize(16).seed(42).flatten(true).build();
        Batches b = Batches.builder(ds).batchSize(16).seed(42).flatten(true).build();
        int[] a0 = flat(indices(a, 0));
        assertArrayEquals(a0, flat(indices(b, 0)), "same seed, same epoch: same order");
        assertArrayEquals(a0, flat(indices(a, 0)), "and again");
        assertFalse(Arrays.equals(a0, flat(indices(a, 1))), "another epoch: another order");
        Batches c = Batches.builder(ds).batchSize(16).seed(43).flatten(true).build();
        assertFalse(Arrays.equals(a0, flat(indices(c, 0))), "another seed: another order");
        // The documented recipe, independently: Fisher-Yates with Random(seed * 1_000_003 + epoch).
        for (int epoch : new int[] {0, 5}) {
            int[] expected = new int[N];
            Arrays.setAll(expected, i -> i);
            Random rnd = new Random(42 * 1_000_003L + epoch);
            for (int i = N - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = expected[i];
                expected[i] = expected[j];
                expected[j] = t;
            }
            assertArrayEquals(expected, flat(indices(a, epoch)));
        }
    }

    @Test
    void withoutShuffleAndWithALimitSamplesComeInFileOrder() {
        Batches batches = Batches.builder(ds).batchSize(8).shuffle(false).limit(20).flatten(true).build();
        assertEquals(20, batches.samples());
        assertEquals(3, batches.batchesPerEpoch());
        int[] expected = new int[20];
        Arrays.setAll(expected, i -> i);
        assertArrayEquals(expected, flat(indices(batches, 0)));
        assertArrayEquals(expected, flat(indices(batches, 3)), "no shuffle: every epoch the same");
        Batches limited = Batches.builder(ds).batchSize(8).seed(1).limit(20).flatten(true).build();
        assertTrue(Arrays.stream(flat(indices(limited, 0))).allMatch(i -> i < 20), "only the first 20 samples");
    }

    @Test
    void shapesAndTypes() {
        try (PointerScope scope = new PointerScope()) {
            Batch image = Batches.builder(ds).batchSize(5).build().epoch(0).next();
            assertArrayEquals(new long[] {5, 1, 2, 2}, Tensors.shape(image.inputs()));
            assertEquals(ScalarType.Float, image.inputs().scalar_type().intern());
            assertEquals(ScalarType.Long, image.targets().scalar_type().intern());
            assertArrayEquals(new long[] {5}, Tensors.shape(image.targets()));
            assertEquals(5, image.size());
            assertTrue(image.inputs().device().is_cpu());
            assertFalse(image.inputs().is_pinned(), "the CPU path never pins");
            Batch flat = Batches.builder(ds).batchSize(5).flatten(true).build().epoch(0).next();
            assertArrayEquals(new long[] {5, 4}, Tensors.shape(flat.inputs()));
        }
    }

    @Test
    void batchTensorsBelongToTheScopeOpenAtNext() {
        Iterator<Batch> it = Batches.builder(ds).batchSize(4).build().epoch(0);
        Batch b;
        try (PointerScope scope = new PointerScope()) {
            b = it.next();
            assertFalse(b.inputs().isNull());
        }
        assertTrue(b.inputs().isNull() && b.targets().isNull(), "freed with the scope that was open at next()");
    }

    @Test
    void normalizationIsExactOnKnownPixels() {
        byte[] px = {0, 1, 73, (byte) 128, (byte) 200, (byte) 255};
        Normalization fm = Normalization.FASHION_MNIST;
        try (PointerScope scope = new PointerScope()) {
            Tensor u8 = TensorSegments.copy(MemorySegment.ofArray(px), ScalarType.Byte, px.length);
            float[] unit = Tensors.toFloatArray(Normalization.UNIT.apply(u8));
            float[] norm = Tensors.toFloatArray(fm.apply(u8));
            for (int i = 0; i < px.length; i++) {
                int p = Byte.toUnsignedInt(px[i]);
                // libtorch does the same float32 operations in the same order, each correctly rounded,
                // so the results are bit-identical to Java's float arithmetic.
                float x = p / 255f;
                assertEquals(x, unit[i], 0f, "UNIT at " + p);
                assertEquals((x - (float) fm.mean()) / (float) fm.std(), norm[i], 0f, "FASHION_MNIST at " + p);
            }
            assertEquals(0f, unit[0]);
            assertEquals(1f, unit[5]);
            assertArrayEquals(px, TensorSegments.view(u8).toArray(ValueLayout.JAVA_BYTE), "input untouched");
        }
    }

    @Test
    void normalizationChecksItsArguments() {
        assertThrows(IllegalArgumentException.class, () -> new Normalization(0.5, 0.0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Normalization(Double.NaN, 1));
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Normalization(0.1, -2));
        assertTrue(e.getMessage().contains("-2.0"), e.getMessage());
        try (PointerScope scope = new PointerScope()) {
            Tensor floats = torch.ones(3);
            e = assertThrows(IllegalArgumentException.class, () -> Normalization.UNIT.apply(floats));
            assertTrue(e.getMessage().contains("Float"), e.getMessage());
        }
    }

    @Test
    void theBuilderRejectsBadValues() {
        Batches.Builder b = Batches.builder(ds);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.batchSize(0));
        assertTrue(e.getMessage().contains("batchSize") && e.getMessage().contains("0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.limit(-1));
        assertTrue(e.getMessage().contains("limit") && e.getMessage().contains("-1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Batches.builder(ds).limit(N + 1).build());
        assertTrue(e.getMessage().contains(String.valueOf(N + 1)) && e.getMessage().contains(String.valueOf(N)),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> b.device(null));
        assertThrows(IllegalArgumentException.class, () -> b.normalization(null));
        assertThrows(IllegalArgumentException.class, () -> Batches.builder(null));
        Batches ok = b.batchSize(200).build();
        assertEquals(1, ok.batchesPerEpoch(), "one short batch");
        e = assertThrows(IllegalArgumentException.class, () -> ok.epoch(-1));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
        Iterator<Batch> it = ok.epoch(0);
        NativeMemory.run(it::next);
        assertThrows(NoSuchElementException.class, it::next);
        assertEquals(0, Batches.builder(ds).batchSize(200).dropLast(true).build().batchesPerEpoch());
        if (!Devices.cudaAvailable()) {
            Device cuda = new Device(torch.DeviceType.CUDA, (byte) 0);
            IllegalStateException s = assertThrows(IllegalStateException.class, () -> Batches.builder(ds).device(cuda).build());
            assertTrue(s.getMessage().contains("cuda:0"), s.getMessage());
        }
    }

    @Test
    void aClosedDatasetFailsClearly() throws IOException {
        Path[] files = TestIdx.write(dir.resolve("closing"), Split.TRAIN, 10, 2, 2, false);
        IdxDataset closing = IdxDataset.load(files[0], files[1], dir.resolve("cache"));
        Iterator<Batch> it = Batches.builder(closing).batchSize(4).build().epoch(0);
        closing.close();
        assertThrows(IllegalStateException.class, it::next);
        assertThrows(IllegalStateException.class, () -> Batches.builder(closing).build());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.dropkit.testing.TestDevices#names")
    void batchesOnADeviceMatchTheCpu(String name) {
        Device device = TestDevices.device(name);
        Batches cpu = Batches.builder(ds).batchSize(32).seed(3).normalization(Normalization.FASHION_MNIST).build();
        Batches dev = Batches.builder(ds).batchSize(32).seed(3).normalization(Normalization.FASHION_MNIST)
                .device(device).build();
        Iterator<Batch> a = cpu.epoch(1);
        Iterator<Batch> b = dev.epoch(1);
        while (a.hasNext()) {
            NativeMemory.run(() -> {
                Batch x = a.next();
                Batch y = b.next();
                assertEquals(Devices.describe(device), Devices.describe(y.inputs().device()));
                assertEquals(Devices.describe(device), Devices.describe(y.targets().device()));
                // CUDA divides by a scalar as a multiplication by its reciprocal: within 1 ulp (~2.4e-7 at 2.0).
                assertArrayEquals(Tensors.toFloatArray(x.inputs()), Tensors.toFloatArray(y.inputs()), 1e-6f);
                assertTrue(x.targets().equal(y.targets().cpu()));
            });
        }
        assertFalse(b.hasNext());
    }
}
