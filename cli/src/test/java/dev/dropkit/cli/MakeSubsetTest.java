package dev.dropkit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.IdxWriter;
import dev.dropkit.data.Split;
import dev.dropkit.ffm.TensorSegments;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class MakeSubsetTest {
    @TempDir
    Path dir;

    /** A plain (not .gz) source whose pixel 0 is the sample index; labels cycle 0..9. */
    private Path source(int train, int test) throws IOException {
        Path src = Files.createDirectories(dir.resolve("src"));
        for (Split split : Split.values()) {
            int n = split == Split.TRAIN ? train : test;
            byte[] px = new byte[n * 4];
            byte[] labels = new byte[n];
            for (int i = 0; i < n; i++) {
                px[i * 4] = (byte) i;
                labels[i] = (byte) (i % 10);
            }
            IdxWriter.writeImages(src.resolve(split.imagesName()), 2, 2, px);
            IdxWriter.writeLabels(src.resolve(split.labelsName()), labels);
        }
        return src;
    }

    private Path gunzip(Path out, Split split) throws IOException {
        Path plain = Files.createDirectories(dir.resolve("plain"));
        for (String name : new String[] {split.imagesName(), split.labelsName()}) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(out.resolve(name + ".gz")))) {
                Files.write(plain.resolve(name), in.readAllBytes());
            }
        }
        return plain;
    }

    @Test
    void writesAStratifiedSubsetInOriginalOrder() throws IOException {
        Path src = source(100, 50);
        Path out = dir.resolve("out");
        int rc = new CommandLine(new MakeSubset()).execute("--source", src.toString(), "--out", out.toString(),
                "--train-per-class", "3", "--test-per-class", "2", "--seed", "5");
        assertEquals(0, rc);
        assertTrue(Files.isRegularFile(out.resolve("train-images-idx3-ubyte.gz")));
        Path plain = gunzip(out, Split.TRAIN); // keeps the user's .gz cache out of this test
        try (IdxDataset train = IdxDataset.load(plain, Split.TRAIN); PointerScope scope = new PointerScope()) {
            assertEquals(30, train.size());
            byte[] px = TensorSegments.view(train.images()).toArray(ValueLayout.JAVA_BYTE);
            long[] labels = TensorSegments.view(train.labels()).toArray(ValueLayout.JAVA_LONG);
            int[] picked = new int[30];
            int[] perClass = new int[10];
            for (int i = 0; i < 30; i++) {
                picked[i] = px[i * 4];
                assertEquals(picked[i] % 10, labels[i], "each image keeps its label");
                perClass[(int) labels[i]]++;
            }
            int[] sorted = picked.clone();
            Arrays.sort(sorted);
            assertArrayEquals(sorted, picked, "original order");
            assertEquals(30, Arrays.stream(picked).distinct().count());
            int[] three = new int[10];
            Arrays.fill(three, 3);
            assertArrayEquals(three, perClass);
        }
        byte[] first = Files.readAllBytes(out.resolve("t10k-images-idx3-ubyte.gz"));
        new CommandLine(new MakeSubset()).execute("--source", src.toString(), "--out", out.toString(),
                "--train-per-class", "3", "--test-per-class", "2", "--seed", "5");
        assertArrayEquals(first, Files.readAllBytes(out.resolve("t10k-images-idx3-ubyte.gz")), "deterministic");
    }

    @Test
    void tooFewSamplesOfAClassIsAnError() throws IOException {
        Path src = source(20, 20);
        int rc = new CommandLine(new MakeSubset()).execute("--source", src.toString(),
                "--out", dir.resolve("out").toString(), "--train-per-class", "3");
        assertEquals(1, rc);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MakeSubset.stratified(new long[] {0, 1, 1}, 1, new Random(0)));
        assertTrue(e.getMessage().contains("class 2 has only 0"), e.getMessage());
    }

    @Test
    void theBundledSubsetIsTheDocumentedSelection() throws IOException {
        Path debian = dev.dropkit.data.DataLocator.DEBIAN_FASHION_MNIST;
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(debian)
                && dev.dropkit.data.DataLocator.missing(debian).isEmpty(),
                "Fashion-MNIST is not installed at " + debian + " (apt-get install dataset-fashion-mnist): skipped");
        Path subset = Path.of("../examples/data/fashion-mnist-subset");
        Random rnd = new Random(20140101L); // one generator: train first, then test (see MakeSubset)
        for (Split split : Split.values()) {
            int perClass = split == Split.TRAIN ? 600 : 100;
            try (IdxDataset full = IdxDataset.load(debian, split); IdxDataset sub = IdxDataset.load(subset, split);
                    PointerScope scope = new PointerScope()) {
                org.bytedeco.pytorch.Tensor fullLabels = full.labels();
                long[] labels = TensorSegments.view(fullLabels).toArray(ValueLayout.JAVA_LONG);
                int[] keep = MakeSubset.stratified(labels, perClass, rnd);
                assertEquals(sub.size(), keep.length);
                org.bytedeco.pytorch.Tensor index = TensorSegments.copy(java.lang.foreign.MemorySegment.ofArray(
                        Arrays.stream(keep).asLongStream().toArray()), org.bytedeco.pytorch.global.torch.ScalarType.Long,
                        keep.length);
                assertTrue(fullLabels.index_select(0, index).equal(sub.labels()), split + ": labels are the selection");
                assertTrue(full.images().index_select(0, index).equal(sub.images()), split + ": images are the selection");
            }
        }
    }
}
