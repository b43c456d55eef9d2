package dev.dropkit.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real data: Debian's full Fashion-MNIST (when installed) and the subset bundled with the examples. */
class FashionMnistTest {
    static final Path DEBIAN = DataLocator.DEBIAN_FASHION_MNIST;
    static final Path SUBSET = Path.of("../examples/data/fashion-mnist-subset");

    /** One cache for the class, so the 26 MB archive is inflated once per run, away from the user's cache. */
    @TempDir
    static Path cache;

    static void assumeDebian() {
        assumeTrue(Files.isDirectory(DEBIAN) && DataLocator.missing(DEBIAN).isEmpty(),
                "Fashion-MNIST is not installed at " + DEBIAN + " (apt-get install dataset-fashion-mnist): skipped");
    }

    static int[] perClass(IdxDataset ds) {
        int[] counts = new int[10];
        for (byte b : ds.labelBytes()) {
            counts[b]++;
        }
        return counts;
    }

    static int[] filled(int value) {
        int[] a = new int[10];
        java.util.Arrays.fill(a, value);
        return a;
    }

    @Test
    void theFullTrainingSetAndItsMeasuredStatistics() throws IOException {
        assumeDebian();
        try (IdxDataset train = IdxDataset.load(DEBIAN, Split.TRAIN, cache); PointerScope scope = new PointerScope()) {
            assertEquals(60000, train.size());
            assertEquals(28, train.rows());
            assertEquals(28, train.cols());
            assertArrayEquals(filled(6000), perClass(train), "labels in 0..9 (checked at load), 6000 a class");

            // Exact integer sums of the pixels, by histogram over the mapped bytes.
            MemorySegment px = train.pixelSegment();
            long[] hist = new long[256];
            for (long i = 0; i < px.byteSize(); i++) {
                hist[Byte.toUnsignedInt(px.get(ValueLayout.JAVA_BYTE, i))]++;
            }
            long n = px.byteSize();
            long sum = 0;
            long sumSq = 0;
            for (int v = 0; v < 256; v++) {
                sum += hist[v] * v;
                sumSq += hist[v] * v * v;
            }
            assertEquals(47_040_000L, n);
            assertEquals(3_431_114_169L, sum, "pixel sum recorded in Normalization.FASHION_MNIST's comment");
            assertEquals(631_470_052_347L, sumSq);
            // libtorch reads the same bytes through the zero-copy view: an int64 sum is exact, so no tolerance.
            assertEquals(sum, train.images().sum(new ScalarTypeOptional(ScalarType.Long)).item_long());

            // The sums are exact, so mean and std below carry only double rounding (~1e-16 relative); 1e-8
            // pins the 8 digits quoted in the comment. The constants are these rounded to 4 decimals,
            // hence the 5e-5 tolerance.
            double mean = sum / (255.0 * n);
            double std = Math.sqrt(sumSq / (255.0 * 255.0 * n) - mean * mean);
            assertEquals(0.28604060, mean, 1e-8);
            assertEquals(0.35302424, std, 1e-8);
            assertEquals(Normalization.FASHION_MNIST.mean(), mean, 5e-5);
            assertEquals(Normalization.FASHION_MNIST.std(), std, 5e-5);
        }
    }

    @Test
    void theFullTestSet() throws IOException {
        assumeDebian();
        try (IdxDataset test = IdxDataset.load(DEBIAN, Split.TEST, cache)) {
            assertEquals(10000, test.size());
            assertEquals(28, test.rows());
            assertEquals(28, test.cols());
            assertArrayEquals(filled(1000), perClass(test));
        }
    }

    @Test
    void theBundledSubsetLoads() throws IOException {
        try (IdxDataset train = IdxDataset.load(SUBSET, Split.TRAIN, cache);
                IdxDataset test = IdxDataset.load(SUBSET, Split.TEST, cache)) {
            assertEquals(6000, train.size());
            assertEquals(1000, test.size());
            assertEquals(28, train.rows());
            assertEquals(28, test.cols());
            assertArrayEquals(filled(600), perClass(train));
            assertArrayEquals(filled(100), perClass(test));
        }
        long bytes = 0;
        for (Split s : Split.values()) {
            bytes += Files.size(IdxDataset.locate(SUBSET, s.imagesName()));
            bytes += Files.size(IdxDataset.locate(SUBSET, s.labelsName()));
        }
        assertEquals(true, bytes <= 5_000_000, "the bundled subset stays under 5 MB, is " + bytes);
    }

}
