package dev.dropkit.cli.bundle;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Keeps only the GPU code one architecture can run in a CUDA library's {@code .nv_fatbin} section.
 *
 * <p>A CUDA library carries its kernels in the ELF section {@code .nv_fatbin}: fatbins one after another,
 * each a 16-byte header (magic {@code 0xBA55ED50} as a little-endian u32, version u16, header size u16,
 * size of the entries u64) followed by entries. An entry is a header (kind u16: 1 PTX, 2 ELF cubin;
 * version u16; header size u32; payload size u64; ...; the architecture as a u32 at offset 28, e.g. 90
 * for sm_90) and its payload; the next entry starts right after the payload. libtorch 2.10's
 * {@code libtorch_cuda.so} holds every kernel for sm_75, 80, 90, 100, 103, 120 and 121: 345 of its 504 MB.
 *
 * <p>{@link #prune} zeroes the payload of every entry that can never run on {@code sm_N} and leaves
 * everything else, every header included, as it was; the file keeps its size and layout, so it loads
 * exactly as before and the zeroes compress to almost nothing. What runs on {@code sm_N}
 * ({@link #runsOn}): an ELF cubin of the same major version and an architecture at most {@code N} (CUDA's
 * binary compatibility: sm_80 code runs on sm_86, sm_90 code never on sm_100), and PTX of an architecture
 * at most {@code N} (the driver can compile it for {@code sm_N}). PTX for newer architectures is zeroed
 * too: the bundle is for {@code sm_N}, and a newer GPU needs a bundle of its own.
 */
public final class FatbinPruner {
    /** The fatbin header's magic number. */
    public static final int FATBIN_MAGIC = 0xBA55ED50;
    /** Entry kinds. */
    public static final int KIND_PTX = 1;
    /** An ELF cubin. */
    public static final int KIND_ELF = 2;
    /** The section that holds the fatbins. */
    public static final String SECTION = ".nv_fatbin";

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private FatbinPruner() {}

    /** Where a section lies in the file. */
    public record Section(long offset, long size) {}

    /**
     * One fatbin entry.
     *
     * @param fatbin the index of its fatbin in the section
     * @param offset where its header starts in the file
     * @param kind {@link #KIND_PTX}, {@link #KIND_ELF} or another kind (left alone)
     * @param arch the architecture, e.g. 90 for sm_90
     * @param payloadOffset where its payload starts in the file
     * @param payloadSize the payload's length in bytes
     */
    public record Entry(int fatbin, long offset, int kind, int arch, long payloadOffset, long payloadSize) {}

    /** Entries and payload bytes of one kind and architecture, kept and zeroed. */
    public record Count(int kind, int arch, int kept, long keptBytes, int zeroed, long zeroedBytes) {
        /** "ELF sm_90", "PTX compute_90" or "kind 7 arch 90". */
        public String label() {
            return switch (kind) {
                case KIND_ELF -> "ELF sm_" + arch;
                case KIND_PTX -> "PTX compute_" + arch;
                default -> "kind " + kind + " arch " + arch;
            };
        }
    }

    /**
     * What {@link #prune} did to one file.
     *
     * @param file the library
     * @param section its {@code .nv_fatbin} section, or null when it has none (then nothing changed)
     * @param fatbins the number of fatbins in the section
     * @param entries every entry, in file order
     * @param zeroed the entries whose payload was zeroed (a subset of {@code entries}, same order)
     * @param counts per kind and architecture, sorted by kind then architecture
     */
    public record Report(Path file, Section section, int fatbins, List<Entry> entries, List<Entry> zeroed,
            List<Count> counts) {
        /** Payload bytes zeroed. */
        public long zeroedBytes() {
            return zeroed.stream().mapToLong(Entry::payloadSize).sum();
        }

        /** Whether any PTX or ELF entry was kept: code that runs on the architecture the file was pruned for. */
        public boolean keptCode() {
            return counts.stream().anyMatch(c -> c.kept() > 0 && (c.kind() == KIND_ELF || c.kind() == KIND_PTX));
        }

        /** The architectures with ELF code in the file, e.g. "sm_75, sm_80, sm_90". */
        public String elfArchitectures() {
            return String.join(", ", counts.stream().filter(c -> c.kind() == KIND_ELF).map(c -> "sm_" + c.arch())
                    .distinct().toList());
        }

        /** One line per kind and architecture: entries and MB kept or zeroed. */
        public String table() {
            StringBuilder sb = new StringBuilder();
            for (Count c : counts) {
                sb.append(String.format(Locale.ROOT, "  %-16s %5d kept (%7.1f MB)  %5d zeroed (%7.1f MB)%n", c.label(),
                        c.kept(), c.keptBytes() / 1e6, c.zeroed(), c.zeroedBytes() / 1e6));
            }
            return sb.toString();
        }
    }

    /**
     * Whether code of this kind and architecture can run on {@code sm}: an ELF cubin of the same major
     * version and at most {@code sm}, PTX of at most {@code sm}. Other kinds are always kept.
     */
    public static boolean runsOn(int kind, int arch, int sm) {
        return switch (kind) {
            case KIND_ELF -> arch / 10 == sm / 10 && arch <= sm;
            case KIND_PTX -> arch <= sm;
            default -> true;
        };
    }

    /**
     * The section called {@code name} of an ELF64 little-endian file, if it has one.
     *
     * @throws IOException if the file is not a 64-bit little-endian ELF file or its section table is cut short
     */
    public static Optional<Section> findSection(Path file, String name) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            return findSection(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena), name, file);
        }
    }

    private static Optional<Section> findSection(MemorySegment elf, String name, Path file) throws IOException {
        long size = elf.byteSize();
        if (size < 64 || elf.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 0) != 0x7F454C46) {
            throw new IOException(file + " is not an ELF file");
        }
        if (elf.get(ValueLayout.JAVA_BYTE, 4) != 2 || elf.get(ValueLayout.JAVA_BYTE, 5) != 1) {
            throw new IOException(file + " is not a 64-bit little-endian ELF file");
        }
        long shoff = elf.get(U64, 0x28);
        int shentsize = Short.toUnsignedInt(elf.get(U16, 0x3A));
        long shnum = Short.toUnsignedInt(elf.get(U16, 0x3C));
        int shstrndx = Short.toUnsignedInt(elf.get(U16, 0x3E));
        if (shoff == 0) {
            return Optional.empty();
        }
        if (shentsize < 64 || shoff + 64 > size) {
            throw new IOException(file + ": the section header table lies outside the file");
        }
        // more than 0xff00 sections: the real count and string table index are in section 0
        if (shnum == 0) {
            shnum = elf.get(U64, shoff + 32);
        }
        if (shstrndx == 0xFFFF) {
            shstrndx = elf.get(U32, shoff + 40);
        }
        if (shoff + shnum * shentsize > size || shstrndx >= shnum) {
            throw new IOException(file + ": the section header table lies outside the file");
        }
        long strtab = elf.get(U64, shoff + (long) shstrndx * shentsize + 24);
        long strsize = elf.get(U64, shoff + (long) shstrndx * shentsize + 32);
        byte[] wanted = name.getBytes(StandardCharsets.US_ASCII);
        for (long i = 0; i < shnum; i++) {
            long header = shoff + i * shentsize;
            long nameOffset = Integer.toUnsignedLong(elf.get(U32, header));
            if (nameOffset + wanted.length >= strsize || strtab + nameOffset + wanted.length >= size) {
                continue;
            }
            boolean match = elf.get(ValueLayout.JAVA_BYTE, strtab + nameOffset + wanted.length) == 0;
            for (int k = 0; match && k < wanted.length; k++) {
                match = elf.get(ValueLayout.JAVA_BYTE, strtab + nameOffset + k) == wanted[k];
            }
            if (match) {
                int type = elf.get(U32, header + 4);
                long offset = elf.get(U64, header + 24);
                long length = elf.get(U64, header + 32);
                if (type == 8) { // SHT_NOBITS: nothing in the file
                    return Optional.empty();
                }
                if (offset < 0 || length < 0 || offset + length > size) {
                    throw new IOException(file + ": section " + name + " lies outside the file");
                }
                return Optional.of(new Section(offset, length));
            }
        }
        return Optional.empty();
    }

    /** The entries of every fatbin in the file's {@code .nv_fatbin} section (none when it has no such section). */
    public static List<Entry> entries(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment elf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Optional<Section> section = findSection(elf, SECTION, file);
            return section.isEmpty() ? List.of() : walk(elf, section.get(), file, new int[1]);
        }
    }

    private static List<Entry> walk(MemorySegment elf, Section section, Path file, int[] fatbins) throws IOException {
        List<Entry> entries = new ArrayList<>();
        long p = section.offset();
        long end = section.offset() + section.size();
        int fatbin = 0;
        while (p + 16 <= end) {
            int magic = elf.get(U32, p);
            if (magic != FATBIN_MAGIC) {
                // fatbins are aligned: zeroes between them (or at the end) are padding
                if (elf.get(ValueLayout.JAVA_BYTE, p) == 0) {
                    p++;
                    continue;
                }
                throw new IOException(String.format(Locale.ROOT, "%s: no fatbin at offset %d of %s (magic 0x%08X)",
                        file, p - section.offset(), SECTION, magic));
            }
            int headerSize = Short.toUnsignedInt(elf.get(U16, p + 6));
            long entriesSize = elf.get(U64, p + 8);
            long e = p + headerSize;
            long fatbinEnd = e + entriesSize;
            if (headerSize < 16 || entriesSize < 0 || fatbinEnd > end) {
                throw new IOException(file + ": fatbin " + fatbin + " runs past the end of " + SECTION);
            }
            while (e < fatbinEnd) {
                if (e + 32 > fatbinEnd) {
                    throw new IOException(file + ": fatbin " + fatbin + " ends inside an entry header");
                }
                int kind = Short.toUnsignedInt(elf.get(U16, e));
                long entryHeader = Integer.toUnsignedLong(elf.get(U32, e + 4));
                long payload = elf.get(U64, e + 8);
                int arch = elf.get(U32, e + 28);
                if (entryHeader < 32 || payload < 0 || e + entryHeader + payload > fatbinEnd) {
                    throw new IOException(file + ": an entry of fatbin " + fatbin + " runs past the fatbin's end");
                }
                entries.add(new Entry(fatbin, e, kind, arch, e + entryHeader, payload));
                e += entryHeader + payload;
            }
            fatbin++;
            p = fatbinEnd;
        }
        fatbins[0] = fatbin;
        return entries;
    }

    /**
     * Zeroes, in place, the payload of every entry of the file's fatbins that cannot run on {@code sm}
     * ({@link #runsOn}); headers, everything outside the payloads and the file's size stay as they were.
     * A file without a {@code .nv_fatbin} section is left alone.
     *
     * @param file the library, written in place: prune a copy
     * @param sm the architecture to keep, e.g. 90
     * @return what was kept and zeroed, per kind and architecture
     * @throws IOException if the file cannot be read or written, or its fatbins are malformed (then it is unchanged)
     */
    public static Report prune(Path file, int sm) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
                Arena arena = Arena.ofConfined()) {
            MemorySegment elf = ch.map(FileChannel.MapMode.READ_WRITE, 0, ch.size(), arena);
            Optional<Section> section = findSection(elf, SECTION, file);
            if (section.isEmpty()) {
                return new Report(file, null, 0, List.of(), List.of(), List.of());
            }
            int[] fatbins = new int[1];
            List<Entry> entries = walk(elf, section.get(), file, fatbins); // all checked before anything is written
            List<Entry> zeroed = new ArrayList<>();
            Map<Long, long[]> counts = new TreeMap<>(); // (kind << 32 | arch) -> kept, keptBytes, zeroed, zeroedBytes
            for (Entry entry : entries) {
                long[] c = counts.computeIfAbsent(((long) entry.kind() << 32) | Integer.toUnsignedLong(entry.arch()),
                        k -> new long[4]);
                if (runsOn(entry.kind(), entry.arch(), sm)) {
                    c[0]++;
                    c[1] += entry.payloadSize();
                } else {
                    elf.asSlice(entry.payloadOffset(), entry.payloadSize()).fill((byte) 0);
                    zeroed.add(entry);
                    c[2]++;
                    c[3] += entry.payloadSize();
                }
            }
            elf.force();
            List<Count> list = new ArrayList<>();
            counts.forEach((key, c) -> list.add(new Count((int) (key >>> 32), (int) (long) key, (int) c[0], c[1],
                    (int) c[2], c[3])));
            return new Report(file, section.get(), fatbins[0], List.copyOf(entries), List.copyOf(zeroed), List.copyOf(list));
        }
    }
}
