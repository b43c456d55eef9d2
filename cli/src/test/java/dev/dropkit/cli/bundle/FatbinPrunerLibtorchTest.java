package dev.dropkit.cli.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dropkit.cli.bundle.FatbinPruner.Count;
import dev.dropkit.cli.bundle.FatbinPruner.Entry;
import dev.dropkit.cli.bundle.FatbinPruner.Report;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.JarURLConnection;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pruner on the real {@code libtorch_cuda.so} of the natives on the classpath, pruned to sm_90 in a copy:
 * the file keeps its size, kept payloads and everything outside the payloads are byte-identical, zeroed
 * payloads are all zero, and the counts per kind and architecture match a listing made here without the pruner.
 */
class FatbinPrunerLibtorchTest {
    @TempDir
    Path dir;

    @Test
    void libtorchCudaPrunedToSm90() throws IOException, InterruptedException {
        URL url = FatbinPrunerLibtorchTest.class.getResource(
                "/org/bytedeco/pytorch/" + Loader.getPlatform() + "-gpu/libtorch_cuda.so");
        assumeTrue(url != null, "skipped: no libtorch_cuda.so on the classpath (the CPU-only natives of -Pcpu)");
        Path original = original(url);
        Path pruned = dir.resolve("libtorch_cuda.so");
        Files.copy(original, pruned);

        Listing listing = listing(original);
        Report r = FatbinPruner.prune(pruned, 90);

        assertEquals(Files.size(original), Files.size(pruned), "the file keeps its size");
        assertEquals(listing.offset(), r.section().offset(), "section offset");
        assertEquals(listing.size(), r.section().size(), "section size");
        assertEquals(listing.fatbins(), r.fatbins(), "fatbins");
        Map<String, long[]> fromPruner = new TreeMap<>();
        for (Count c : r.counts()) {
            fromPruner.put(c.kind() + "/" + c.arch(), new long[] {c.kept() + c.zeroed(), c.keptBytes() + c.zeroedBytes()});
            boolean runs = FatbinPruner.runsOn(c.kind(), c.arch(), 90);
            assertEquals(runs ? 0 : c.kept() + c.zeroed(), c.zeroed(), c.label() + " zeroed");
        }
        assertEquals(toString(listing.counts()), toString(fromPruner), "entries and payload bytes per kind/arch");
        Count sm90 = r.counts().stream().filter(c -> c.kind() == FatbinPruner.KIND_ELF && c.arch() == 90).findFirst()
                .orElseThrow();
        assertTrue(sm90.kept() > 0 && sm90.zeroed() == 0, "every sm_90 cubin is kept");
        assertTrue(r.counts().stream().anyMatch(c -> c.zeroed() > 0), "other architectures are zeroed");
        assertTrue(r.zeroedBytes() > r.section().size() / 2, r.table());

        // byte for byte: zeroed payloads are zero, everything else is the original
        List<Entry> zeroed = r.zeroed().stream().sorted(Comparator.comparingLong(Entry::payloadOffset)).toList();
        try (Arena arena = Arena.ofConfined(); FileChannel a = FileChannel.open(original);
                FileChannel b = FileChannel.open(pruned)) {
            MemorySegment before = a.map(FileChannel.MapMode.READ_ONLY, 0, a.size(), arena);
            MemorySegment after = b.map(FileChannel.MapMode.READ_ONLY, 0, b.size(), arena);
            long largest = zeroed.stream().mapToLong(Entry::payloadSize).max().orElse(0);
            MemorySegment zeros = arena.allocate(Math.max(1, largest));
            long pos = 0;
            for (Entry e : zeroed) {
                assertEquals(-1, MemorySegment.mismatch(before, pos, e.payloadOffset(), after, pos, e.payloadOffset()),
                        "bytes before the payload at " + e.payloadOffset());
                long end = e.payloadOffset() + e.payloadSize();
                assertEquals(-1, MemorySegment.mismatch(after, e.payloadOffset(), end, zeros, 0, e.payloadSize()),
                        "zeroed payload at " + e.payloadOffset());
                pos = end;
            }
            assertEquals(-1, MemorySegment.mismatch(before, pos, before.byteSize(), after, pos, after.byteSize()),
                    "bytes after the last zeroed payload");
        }
    }

    /** The library as extracted by JavaCPP when its cache has it (read only), else extracted here from the jar. */
    private Path original(URL url) throws IOException {
        if (url.openConnection() instanceof JarURLConnection jar) {
            Path cached = Loader.getCacheDir().toPath().resolve(Path.of(jar.getJarFile().getName()).getFileName().toString())
                    .resolve(jar.getEntryName());
            if (Files.isRegularFile(cached) && Files.size(cached) == jar.getJarEntry().getSize()) {
                return cached;
            }
        }
        Path file = dir.resolve("original.so");
        try (InputStream in = url.openStream()) {
            Files.copy(in, file);
        }
        return file;
    }

    record Listing(long offset, long size, int fatbins, Map<String, long[]> counts) {}

    /**
     * Entries and payload bytes per "kind/arch", walked here: the section from readelf when it is installed (else
     * from the section table, read with a ByteBuffer), then fatbin headers and entry headers.
     */
    private static Listing listing(Path file) throws IOException, InterruptedException {
        long[] section = readelf(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (section == null) {
                section = sectionTable(ch);
            }
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, section[0], section[1]);
            buf.order(ByteOrder.LITTLE_ENDIAN);
            Map<String, long[]> counts = new TreeMap<>();
            int fatbins = 0;
            int p = 0;
            while (p + 16 <= buf.limit()) {
                if (buf.getInt(p) != 0xBA55ED50) {
                    p += 1; // padding between fatbins
                    continue;
                }
                fatbins++;
                int e = p + (buf.getShort(p + 6) & 0xFFFF);
                long end = e + buf.getLong(p + 8);
                while (e < end) {
                    int kind = buf.getShort(e) & 0xFFFF;
                    int header = buf.getInt(e + 4);
                    long payload = buf.getLong(e + 8);
                    int arch = buf.getInt(e + 28);
                    long[] c = counts.computeIfAbsent(kind + "/" + arch, k -> new long[2]);
                    c[0]++;
                    c[1] += payload;
                    e += header + (int) payload;
                }
                p = (int) end;
            }
            return new Listing(section[0], section[1], fatbins, counts);
        }
    }

    /** Offset and size of .nv_fatbin as readelf -SW prints them, or null without readelf. */
    private static long[] readelf(Path file) throws IOException, InterruptedException {
        Path readelf = Tools.onPath("readelf");
        if (readelf == null) {
            return null;
        }
        Process p = new ProcessBuilder(readelf.toString(), "-SW", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(1, TimeUnit.MINUTES));
        for (String line : out.lines().toList()) {
            String[] f = line.replaceAll("^\\s*\\[\\s*\\d+]\\s*", "").trim().split("\\s+");
            if (f.length > 4 && f[0].equals(".nv_fatbin")) { // Name Type Address Off Size
                return new long[] {Long.parseLong(f[3], 16), Long.parseLong(f[4], 16)};
            }
        }
        throw new AssertionError("readelf lists no .nv_fatbin section:\n" + out);
    }

    private static long[] sectionTable(FileChannel ch) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(h, 0);
        long shoff = h.getLong(0x28);
        int num = h.getShort(0x3C) & 0xFFFF;
        int strndx = h.getShort(0x3E) & 0xFFFF;
        ByteBuffer table = ByteBuffer.allocate(num * 64).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(table, shoff);
        ByteBuffer names = ByteBuffer.allocate((int) table.getLong(strndx * 64 + 32));
        ch.read(names, table.getLong(strndx * 64 + 24));
        String strings = new String(names.array(), StandardCharsets.ISO_8859_1);
        for (int i = 0; i < num; i++) {
            int name = table.getInt(i * 64);
            if (strings.startsWith(".nv_fatbin\0", name)) {
                return new long[] {table.getLong(i * 64 + 24), table.getLong(i * 64 + 32)};
            }
        }
        throw new AssertionError("no .nv_fatbin section");
    }

    private static String toString(Map<String, long[]> counts) {
        StringBuilder sb = new StringBuilder();
        counts.forEach((k, v) -> sb.append(k).append('=').append(v[0]).append('/').append(v[1]).append(' '));
        return sb.toString();
    }
}
