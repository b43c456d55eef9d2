package dev.dropkit.cli.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.cli.bundle.FatbinPruner.Count;
import dev.dropkit.cli.bundle.FatbinPruner.Entry;
import dev.dropkit.cli.bundle.FatbinPruner.Report;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pruner on small ELF files made here, whose every byte is known. */
class FatbinPrunerTest {
    @TempDir
    Path dir;

    private static final int PTX = FatbinPruner.KIND_PTX;
    private static final int ELF = FatbinPruner.KIND_ELF;

    /** An entry to write: kind, arch, header size (at least 32), payload size. */
    record Spec(int kind, int arch, int header, int payload) {}

    /** Where each entry's payload went in the file. */
    record Written(Spec spec, int payloadOffset) {}

    /** An ELF64 file: 100 bytes of "code", then {@code .nv_fatbin} (fatbins 8-aligned, zero padded), then the section table. */
    static final class FakeElf {
        final List<Written> written = new ArrayList<>();
        byte[] bytes;
        int sectionOffset;
        int sectionSize;

        FakeElf(List<List<Spec>> fatbins, Random rnd) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(new byte[64]); // the ELF header, filled in below
            byte[] code = new byte[100];
            rnd.nextBytes(code);
            out.writeBytes(code);
            while (out.size() % 8 != 0) {
                out.write(0);
            }
            sectionOffset = out.size();
            for (List<Spec> fatbin : fatbins) {
                int entriesSize = fatbin.stream().mapToInt(s -> s.header() + s.payload()).sum();
                out.writeBytes(le(16).putInt(FatbinPruner.FATBIN_MAGIC).putShort((short) 1).putShort((short) 16)
                        .putLong(entriesSize).array());
                for (Spec s : fatbin) {
                    ByteBuffer h = le(s.header()).putShort((short) s.kind()).putShort((short) 0x101).putInt(s.header())
                            .putLong(s.payload());
                    h.putInt(28, s.arch());
                    out.writeBytes(h.array());
                    written.add(new Written(s, out.size()));
                    byte[] payload = new byte[s.payload()];
                    for (int i = 0; i < payload.length; i++) {
                        payload[i] = (byte) (1 + rnd.nextInt(255)); // never zero: zeroing shows
                    }
                    out.writeBytes(payload);
                }
                while (out.size() % 8 != 0) {
                    out.write(0);
                }
            }
            out.writeBytes(new byte[8]); // trailing padding inside the section
            sectionSize = out.size() - sectionOffset;
            int strtab = out.size();
            byte[] names = "\0.nv_fatbin\0.shstrtab\0.text\0".getBytes(StandardCharsets.US_ASCII);
            out.writeBytes(names);
            while (out.size() % 8 != 0) {
                out.write(0);
            }
            int shoff = out.size();
            out.writeBytes(new byte[64]); // section 0: null
            out.writeBytes(section(22, 1, 64, 100)); // .text
            out.writeBytes(section(1, 1, sectionOffset, sectionSize)); // .nv_fatbin
            out.writeBytes(section(12, 3, strtab, names.length)); // .shstrtab
            bytes = out.toByteArray();
            ByteBuffer header = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            header.put(0, new byte[] {0x7F, 'E', 'L', 'F', 2, 1, 1});
            header.putShort(16, (short) 3).putShort(18, (short) 62).putInt(20, 1);
            header.putLong(0x28, shoff).putShort(0x34, (short) 64).putShort(0x3A, (short) 64).putShort(0x3C, (short) 4)
                    .putShort(0x3E, (short) 3);
        }

        private static byte[] section(int name, int type, long offset, long size) {
            ByteBuffer b = le(64).putInt(name).putInt(type);
            b.putLong(24, offset).putLong(32, size);
            return b.array();
        }

        private static ByteBuffer le(int size) {
            return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    private static final List<List<Spec>> FATBINS = List.of(
            List.of(new Spec(ELF, 75, 64, 300), new Spec(ELF, 80, 64, 200), new Spec(ELF, 86, 72, 150),
                    new Spec(ELF, 90, 64, 500), new Spec(ELF, 90, 104, 40), new Spec(PTX, 80, 72, 99),
                    new Spec(PTX, 100, 72, 77), new Spec(ELF, 120, 64, 333), new Spec(7, 0, 48, 20)),
            List.of(new Spec(ELF, 100, 64, 1000), new Spec(PTX, 121, 80, 123), new Spec(ELF, 90, 64, 0)),
            List.of(new Spec(PTX, 75, 64, 64)));

    private Path write(FakeElf elf, String name) throws IOException {
        return Files.write(dir.resolve(name), elf.bytes);
    }

    @Test
    void runsOnFollowsCudaCompatibility() {
        assertTrue(FatbinPruner.runsOn(ELF, 90, 90));
        assertTrue(FatbinPruner.runsOn(ELF, 80, 86), "sm_80 cubins run on sm_86");
        assertFalse(FatbinPruner.runsOn(ELF, 86, 80), "newer minor versions do not run on older GPUs");
        assertFalse(FatbinPruner.runsOn(ELF, 80, 90), "no binary compatibility across major versions");
        assertFalse(FatbinPruner.runsOn(ELF, 100, 90));
        assertTrue(FatbinPruner.runsOn(ELF, 100, 103));
        assertTrue(FatbinPruner.runsOn(ELF, 120, 121));
        assertTrue(FatbinPruner.runsOn(PTX, 75, 90), "the driver compiles older PTX for a newer GPU");
        assertFalse(FatbinPruner.runsOn(PTX, 100, 90));
        assertTrue(FatbinPruner.runsOn(7, 0, 90), "unknown kinds are left alone");
    }

    @Test
    void findsTheSectionAndEveryEntry() throws IOException {
        FakeElf elf = new FakeElf(FATBINS, new Random(1));
        Path file = write(elf, "lib.so");
        assertEquals(new FatbinPruner.Section(elf.sectionOffset, elf.sectionSize),
                FatbinPruner.findSection(file, ".nv_fatbin").orElseThrow());
        assertEquals(new FatbinPruner.Section(64, 100), FatbinPruner.findSection(file, ".text").orElseThrow());
        assertTrue(FatbinPruner.findSection(file, ".nv_fat").isEmpty(), "a prefix of a name is not the name");
        List<Entry> entries = FatbinPruner.entries(file);
        assertEquals(elf.written.size(), entries.size());
        for (int i = 0; i < entries.size(); i++) {
            Spec s = elf.written.get(i).spec();
            Entry e = entries.get(i);
            assertEquals(List.of(s.kind(), s.arch(), (long) s.payload(), (long) elf.written.get(i).payloadOffset()),
                    List.of(e.kind(), e.arch(), e.payloadSize(), e.payloadOffset()), "entry " + i);
        }
        assertEquals(List.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2), entries.stream().map(Entry::fatbin).toList());
    }

    @Test
    void pruningFor90ZeroesExactlyWhatCannotRunOnSm90() throws IOException {
        FakeElf elf = new FakeElf(FATBINS, new Random(2));
        Path file = write(elf, "lib.so");
        Report r = FatbinPruner.prune(file, 90);
        byte[] after = Files.readAllBytes(file);
        assertEquals(elf.bytes.length, after.length, "the file keeps its size");
        byte[] expected = elf.bytes.clone();
        for (Written w : elf.written) {
            if (!FatbinPruner.runsOn(w.spec().kind(), w.spec().arch(), 90)) {
                java.util.Arrays.fill(expected, w.payloadOffset(), w.payloadOffset() + w.spec().payload(), (byte) 0);
            }
        }
        assertArrayEquals(expected, after, "zeroed payloads, and not one byte more");
        assertEquals(3, r.fatbins());
        assertEquals("PTX compute_75 1/0, PTX compute_80 1/0, PTX compute_100 0/1, PTX compute_121 0/1, ELF sm_75 0/1, "
                + "ELF sm_80 0/1, ELF sm_86 0/1, ELF sm_90 3/0, ELF sm_100 0/1, ELF sm_120 0/1, kind 7 arch 0 1/0",
                r.counts().stream().map(c -> c.label() + " " + c.kept() + "/" + c.zeroed()).collect(Collectors.joining(", ")));
        assertEquals(300 + 200 + 150 + 333 + 1000 + 77 + 123, r.zeroedBytes());
        Count sm90 = r.counts().stream().filter(c -> c.kind() == ELF && c.arch() == 90).findFirst().orElseThrow();
        assertEquals(540, sm90.keptBytes());
        assertTrue(r.keptCode());
        assertEquals("sm_75, sm_80, sm_86, sm_90, sm_100, sm_120", r.elfArchitectures());
        assertTrue(r.table().contains("ELF sm_90"), r.table());

        Report again = FatbinPruner.prune(file, 90);
        assertArrayEquals(expected, Files.readAllBytes(file), "pruning twice changes nothing more");
        assertEquals(r.zeroed().size(), again.zeroed().size());
    }

    @Test
    void pruningFor86KeepsSm80AndSm86Cubins() throws IOException {
        FakeElf elf = new FakeElf(FATBINS, new Random(3));
        Path file = write(elf, "lib.so");
        Report r = FatbinPruner.prune(file, 86);
        List<String> kept = r.counts().stream().filter(c -> c.kept() > 0).map(Count::label).toList();
        assertEquals(List.of("PTX compute_75", "PTX compute_80", "ELF sm_80", "ELF sm_86", "kind 7 arch 0"), kept);
    }

    @Test
    void anArchitectureWithNoCodeKeepsNoCode() throws IOException {
        FakeElf elf = new FakeElf(List.of(List.of(new Spec(ELF, 90, 64, 10), new Spec(ELF, 100, 64, 10))), new Random(4));
        Report r = FatbinPruner.prune(write(elf, "lib.so"), 80);
        assertFalse(r.keptCode());
        assertEquals("sm_90, sm_100", r.elfArchitectures());
    }

    @Test
    void aLibraryWithoutFatbinsIsLeftAlone() throws IOException {
        FakeElf elf = new FakeElf(List.of(), new Random(5));
        // rename the section: the file has no .nv_fatbin any more
        byte[] bytes = elf.bytes.clone();
        String s = new String(bytes, StandardCharsets.ISO_8859_1);
        int at = s.indexOf(".nv_fatbin");
        bytes[at + 1] = 'x';
        Path file = Files.write(dir.resolve("plain.so"), bytes);
        Report r = FatbinPruner.prune(file, 90);
        assertNull(r.section());
        assertEquals(0, r.zeroedBytes());
        assertArrayEquals(bytes, Files.readAllBytes(file));
        assertEquals(List.of(), FatbinPruner.entries(file));
    }

    @Test
    void malformedFatbinsFailAndLeaveTheFileAlone() throws IOException {
        FakeElf elf = new FakeElf(FATBINS, new Random(6));
        byte[] bytes = elf.bytes.clone();
        // the first fatbin claims more entries than the section holds
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(elf.sectionOffset + 8, elf.sectionSize);
        Path file = Files.write(dir.resolve("bad.so"), bytes);
        IOException e = assertThrows(IOException.class, () -> FatbinPruner.prune(file, 90));
        assertTrue(e.getMessage().contains("runs past the end"), e.getMessage());
        assertArrayEquals(bytes, Files.readAllBytes(file));

        byte[] garbage = elf.bytes.clone();
        garbage[elf.sectionOffset] = 0x55; // not the magic
        Path file2 = Files.write(dir.resolve("garbage.so"), garbage);
        e = assertThrows(IOException.class, () -> FatbinPruner.prune(file2, 90));
        assertTrue(e.getMessage().contains("no fatbin at offset 0"), e.getMessage());
        assertArrayEquals(garbage, Files.readAllBytes(file2));
    }

    @Test
    void notAnElfFile() throws IOException {
        Path file = Files.writeString(dir.resolve("notes.txt"), "not a library, and long enough to have an ELF header in"
                + " the first sixty-four bytes of it");
        IOException e = assertThrows(IOException.class, () -> FatbinPruner.prune(file, 90));
        assertTrue(e.getMessage().contains("is not an ELF file"), e.getMessage());
    }
}
