package dev.dropkit.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Tensors;
import dev.dropkit.ffm.TensorSegments;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxDatasetTest {
    @TempDir
    Path dir;

    @TempDir
    Path cache;

    @Test
    void roundTripsThroughTheWriter() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 37, 3, 4, false);
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache); PointerScope scope = new PointerScope()) {
            assertEquals(37, ds.size());
            assertEquals(3, ds.rows());
            assertEquals(4, ds.cols());
            assertEquals(files[0], ds.imagesFile());
            assertEquals(files[1], ds.labelsFile());
            Tensor images = ds.images();
            assertEquals(ScalarType.Byte, images.scalar_type().intern(), "uint8 is ScalarType.Byte");
            assertArrayEquals(new long[] {37, 3, 4}, Tensors.shape(images));
            assertArrayEquals(TestIdx.pixels(37, 3, 4), TensorSegments.view(images).toArray(ValueLayout.JAVA_BYTE));
            // Reading the read-only mapping through libtorch works (out-of-place ops only).
            assertEquals(36 + 256 * 0, images.get(36).get(0).get(0).item_int());
            long expectedSum = 0;
            for (byte b : TestIdx.pixels(37, 3, 4)) {
                expectedSum += Byte.toUnsignedInt(b);
            }
            assertEquals(expectedSum, images.sum(new ScalarTypeOptional(ScalarType.Long)).item_long());
            Tensor labels = ds.labels();
            assertEquals(ScalarType.Long, labels.scalar_type().intern());
            long[] expected = new long[37];
            Arrays.setAll(expected, i -> i % 10);
            assertArrayEquals(expected, TensorSegments.view(labels).toArray(ValueLayout.JAVA_LONG));
        }
        assertEquals(List.of(), list(cache), "plain files need no cache");
    }

    @Test
    void gzIsInflatedOnceReusedAndRebuiltWhenTheSourceChanges() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 50, 2, 3, true);
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache)) {
            assertEquals(50, ds.size());
            assertArrayEquals(TestIdx.pixels(50, 2, 3), ds.pixelSegment().toArray(ValueLayout.JAVA_BYTE));
            assertEquals(files[0], ds.imagesFile(), "the .gz as given, not its cached copy");
        }
        List<Path> entries = list(cache);
        assertEquals(2, entries.size(), entries.toString());
        Path imagesEntry = entries.stream().filter(p -> p.getFileName().toString().startsWith("train-images-"))
                .findFirst().orElseThrow();
        assertTrue(imagesEntry.getFileName().toString().contains("-" + Files.size(files[0]) + "-"),
                "the cache key holds the source size: " + imagesEntry);

        // Second load: the entry is reused, not rewritten (a marker mtime survives).
        FileTime marker = FileTime.fromMillis(1_000_000_000_000L);
        Files.setLastModifiedTime(imagesEntry, marker);
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache)) {
            assertEquals(50, ds.size());
        }
        assertEquals(marker, Files.getLastModifiedTime(imagesEntry));
        assertEquals(entries, list(cache));

        // A changed source (new size) gets a new entry; the old one is removed.
        files = TestIdx.write(dir, Split.TRAIN, 60, 2, 3, true);
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache)) {
            assertEquals(60, ds.size());
            assertArrayEquals(TestIdx.pixels(60, 2, 3), ds.pixelSegment().toArray(ValueLayout.JAVA_BYTE));
        }
        assertTrue(Files.notExists(imagesEntry), "stale entry removed");
        assertEquals(2, list(cache).size(), list(cache).toString());

        // Same size, different content: the modification time tells them apart.
        byte[] other = TestIdx.pixels(60, 2, 3);
        other[0] = 99;
        IdxWriter.writeImages(files[0], 2, 3, other);
        Files.setLastModifiedTime(files[0], FileTime.fromMillis(Files.getLastModifiedTime(files[0]).toMillis() + 5000));
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache)) {
            assertEquals(99, ds.pixelSegment().get(ValueLayout.JAVA_BYTE, 0));
        }
        assertTrue(list(cache).stream().noneMatch(p -> p.toString().endsWith(".part")), list(cache).toString());
    }

    @Test
    void loadsASplitFromADirectoryPreferringUncompressedFiles() throws IOException {
        TestIdx.write(dir, Split.TEST, 12, 2, 2, true);
        try (IdxDataset ds = IdxDataset.load(dir, Split.TEST, cache)) {
            assertEquals(12, ds.size());
            assertEquals(dir.resolve("t10k-images-idx3-ubyte.gz"), ds.imagesFile());
        }
        TestIdx.write(dir, Split.TEST, 7, 2, 2, false);
        try (IdxDataset ds = IdxDataset.load(dir, Split.TEST, cache)) {
            assertEquals(7, ds.size(), "plain wins over .gz");
            assertEquals(dir.resolve("t10k-images-idx3-ubyte"), ds.imagesFile());
            assertEquals(dir.resolve("t10k-labels-idx1-ubyte"), ds.labelsFile());
        }
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> IdxDataset.load(dir, Split.TRAIN, cache));
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte nor train-images-idx3-ubyte.gz"), e.getMessage());
        e = assertThrows(NoSuchFileException.class, () -> IdxDataset.load(dir.resolve("nope"), Split.TRAIN));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void imagesAreAZeroCopyViewOfTheMappedFile() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 20, 4, 4, false);
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache); PointerScope scope = new PointerScope()) {
            MemorySegment mapped = ds.pixelSegment();
            assertTrue(mapped.isMapped(), "the pixels are a mapped segment");
            assertEquals(20 * 16, mapped.byteSize(), "exactly the data region, after the 16-byte header");
            Tensor images = ds.images();
            long address = images.data_ptr().address();
            assertEquals(mapped.address(), address, "the tensor's data is the mapping itself");
            Tensor row = images.get(19);
            assertTrue(row.data_ptr().address() >= mapped.address()
                    && row.data_ptr().address() + 16 <= mapped.address() + mapped.byteSize());
            assertEquals(19, row.get(0).get(0).item_int());
        }
    }

    @Test
    void closeIsIdempotentAndEndsAccess() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 5, 2, 2, false);
        IdxDataset ds = IdxDataset.load(files[0], files[1], cache);
        ds.close();
        ds.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, ds::images);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, ds::labels);
        assertEquals(5, ds.size(), "metadata stays readable");
    }

    @Test
    void anEmptyDatasetLoads() throws IOException {
        Path images = dir.resolve("e-images");
        Path labels = dir.resolve("e-labels");
        IdxWriter.writeImages(images, 28, 28, new byte[0]);
        IdxWriter.writeLabels(labels, new byte[0]);
        try (IdxDataset ds = IdxDataset.load(images, labels, cache); PointerScope scope = new PointerScope()) {
            assertEquals(0, ds.size());
            assertArrayEquals(new long[] {0, 28, 28}, Tensors.shape(ds.images()));
            assertEquals(0, ds.labels().numel());
        }
    }

    @Test
    void trailingBytesAfterTheDataAreAccepted() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 6, 2, 2, false);
        Files.write(files[0], new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
        Files.write(files[1], new byte[] {42}, java.nio.file.StandardOpenOption.APPEND);
        try (IdxDataset ds = IdxDataset.load(files[0], files[1], cache)) {
            assertEquals(6, ds.size());
            assertEquals(24, ds.pixelSegment().byteSize());
        }
    }

    // ---- bad files: each is an IdxFormatException naming the file and the problem ----

    @Test
    void wrongMagicNumbersShowActualAndExpected() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 4, 2, 2, false);
        IdxFormatException e = bad(files[1], files[1]); // labels given as images
        assertContains(e, files[1].toString(), "wrong magic number 0x00000801, expected 0x00000803",
                "unsigned byte, 3 dimensions", "swapped");
        e = bad(files[0], files[0]);
        assertContains(e, "wrong magic number 0x00000803, expected 0x00000801");
        Path weird = dir.resolve("weird");
        Files.write(weird, new byte[] {0, 0, 0x0D, 0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}); // float, 3-D
        assertContains(bad(weird, files[1]), weird.toString(), "0x00000D03, expected 0x00000803");
        assertEquals(weird, bad(weird, files[1]).file());
    }

    @Test
    void gzipDataUnderAPlainNameGetsAHint() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 4, 2, 2, true);
        Path plainName = dir.resolve("images-without-suffix");
        Files.copy(files[0], plainName);
        assertContains(bad(plainName, files[1]), plainName.toString(), "wrong magic number 0x1F8B", "gzip-compressed");
    }

    @Test
    void truncatedHeadersAreReported() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 4, 2, 2, false);
        Path shortImages = dir.resolve("short-images");
        Files.write(shortImages, Arrays.copyOf(Files.readAllBytes(files[0]), 10));
        assertContains(bad(shortImages, files[1]), shortImages.toString(), "truncated header", "10 bytes", "16");
        Path empty = dir.resolve("empty");
        Files.write(empty, new byte[0]);
        assertContains(bad(empty, files[1]), empty.toString(), "truncated header", "0 bytes");
        Path shortLabels = dir.resolve("short-labels");
        Files.write(shortLabels, Arrays.copyOf(Files.readAllBytes(files[1]), 6));
        assertContains(bad(files[0], shortLabels), shortLabels.toString(), "truncated header", "6 bytes", "8");
    }

    @Test
    void truncatedDataStatesBothSizes() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 5, 3, 4, false);
        Path cut = dir.resolve("cut-images");
        Files.write(cut, Arrays.copyOf(Files.readAllBytes(files[0]), 16 + 59));
        assertContains(bad(cut, files[1]), cut.toString(), "truncated data", "5 x 3 x 4 = 60 bytes", "only 59 bytes");
        Path cutLabels = dir.resolve("cut-labels");
        Files.write(cutLabels, Arrays.copyOf(Files.readAllBytes(files[1]), 8 + 3));
        assertContains(bad(files[0], cutLabels), cutLabels.toString(), "truncated data", "5 labels", "only 3 bytes");
    }

    @Test
    void truncatedOrCorruptGzipIsReportedAndLeavesNoCacheEntry() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 300, 10, 10, true);
        byte[] gz = Files.readAllBytes(files[0]);
        Path cut = dir.resolve("cut-images.gz");
        Files.write(cut, Arrays.copyOf(gz, gz.length / 2));
        assertContains(bad(cut, files[1]), cut.toString(), "truncated or corrupt gzip");
        Path noTrailer = dir.resolve("no-trailer-images.gz");
        Files.write(noTrailer, Arrays.copyOf(gz, gz.length - 4)); // all data, part of the CRC trailer gone
        assertContains(bad(noTrailer, files[1]), noTrailer.toString(), "truncated or corrupt gzip");
        Path flipped = dir.resolve("flipped-images.gz");
        byte[] corrupt = gz.clone();
        for (int i = gz.length / 2; i < gz.length / 2 + 8; i++) {
            corrupt[i] ^= 0x5A;
        }
        Files.write(flipped, corrupt);
        IdxFormatException e = bad(flipped, files[1]);
        assertContains(e, flipped.toString(), "gzip");
        Path notGzip = dir.resolve("not-gzip-images.gz");
        Files.write(notGzip, header(0x803, 300, 10, 10)); // plain IDX bytes under a .gz name
        assertContains(bad(notGzip, files[1]), notGzip.toString(), "truncated or corrupt gzip");
        // A well-formed archive of a truncated IDX file.
        Path gzOfCut = dir.resolve("gz-of-cut-images.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gzOfCut))) {
            out.write(Arrays.copyOf(header(0x803, 300, 10, 10), 16));
            out.write(new byte[100]);
        }
        assertContains(bad(gzOfCut, files[1]), gzOfCut.toString(), "truncated data", "30000 bytes", "only 100");
        // Only the good labels entry may be in the cache; no bad or partial entries.
        assertTrue(list(cache).stream().allMatch(p -> p.getFileName().toString().startsWith("train-labels-")),
                list(cache).toString());
    }

    @Test
    void countsMustMatch() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 5, 2, 2, false);
        Path labels = dir.resolve("six-labels");
        IdxWriter.writeLabels(labels, TestIdx.labels(6));
        assertContains(bad(files[0], labels), files[0].toString(), labels.toString(), "5 images", "6 labels");
    }

    @Test
    void labelsMustBeDigits() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 4, 2, 2, false);
        Path labels = dir.resolve("bad-labels");
        IdxWriter.writeLabels(labels, new byte[] {1, 2, 10, 3});
        assertContains(bad(files[0], labels), labels.toString(), "label 10 at index 2", "0..9");
        IdxWriter.writeLabels(labels, new byte[] {1, 2, 3, (byte) 200});
        assertContains(bad(files[0], labels), "label 200 at index 3");
    }

    @Test
    void absurdDimensionsAreRejectedBeforeAnyMapping() throws IOException {
        Path[] files = TestIdx.write(dir, Split.TRAIN, 4, 2, 2, false);
        Path huge = dir.resolve("huge-count");
        Files.write(huge, header(0x803, -1, 28, 28));
        assertContains(bad(huge, files[1]), huge.toString(), "item count 4294967295", "does not fit");
        Path noRows = dir.resolve("no-rows");
        Files.write(noRows, header(0x803, 4, 0, 28));
        assertContains(bad(noRows, files[1]), "rows 0", "at least 1");
        Path big = dir.resolve("big"); // promises 2^31 - 1 images of 28 x 28 (about 1.7 TB)
        Files.write(big, header(0x803, Integer.MAX_VALUE, 28, 28));
        assertContains(bad(big, files[1]), "truncated data", "2147483647 x 28 x 28 = 1683627179248 bytes", "only 0 bytes");
        // 16 x 2^30 x 2^30 bytes wrapped to 0 in a long: the file "held" all of it and loaded
        byte[] wraps = Arrays.copyOf(header(0x803, 16, 1 << 30, 1 << 30), 16 + 16);
        Path wrapping = dir.resolve("wrapping");
        Files.write(wrapping, wraps);
        Path labels16 = TestIdx.write(dir.resolve("sixteen"), Split.TRAIN, 16, 2, 2, false)[1];
        assertContains(bad(wrapping, labels16), wrapping.toString(), "1073741824 x 1073741824 = 1152921504606846976"
                + " pixels, more than 2^31 - 1");
        Path wrappingGz = dir.resolve("wrapping-images.gz"); // rejected while inflating: no cached copy left
        try (OutputStream os = new GZIPOutputStream(Files.newOutputStream(wrappingGz))) {
            os.write(wraps);
        }
        assertContains(bad(wrappingGz, labels16), wrappingGz.toString(), "pixels, more than 2^31 - 1");
        try (Stream<Path> left = Files.exists(cache) ? Files.list(cache) : Stream.empty()) {
            assertEquals(List.of(), left.filter(f -> f.getFileName().toString().startsWith("wrapping-images")).toList());
        }
    }

    @Test
    void theCacheDirectoryFollowsTheEnvironment() {
        assertEquals(Path.of("/x/c"), IdxCache.dir("/x/c", "/xdg", "/home/u"));
        assertEquals(Path.of("/xdg/dropkit/idx"), IdxCache.dir(null, "/xdg", "/home/u"));
        assertEquals(Path.of("/xdg/dropkit/idx"), IdxCache.dir(" ", "/xdg", "/home/u"));
        assertEquals(Path.of("/home/u/.cache/dropkit/idx"), IdxCache.dir(null, "", "/home/u"));
    }

    @Test
    void splitsNameTheOriginalFiles() {
        assertEquals("train-images-idx3-ubyte", Split.TRAIN.imagesName());
        assertEquals("t10k-labels-idx1-ubyte", Split.TEST.labelsName());
        assertNotEquals(Split.TRAIN.prefix(), Split.TEST.prefix());
    }

    private IdxFormatException bad(Path images, Path labels) {
        return assertThrows(IdxFormatException.class, () -> {
            try (IdxDataset ds = IdxDataset.load(images, labels, cache)) {
                ds.size();
            }
        });
    }

    private static void assertContains(IdxFormatException e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message lacks '" + part + "': " + e.getMessage());
        }
    }

    private static byte[] header(int magic, int count, int rows, int cols) {
        return ByteBuffer.allocate(16).putInt(magic).putInt(count).putInt(rows).putInt(cols).array();
    }

    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }
}
