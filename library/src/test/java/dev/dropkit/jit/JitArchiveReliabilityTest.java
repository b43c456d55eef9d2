package dev.dropkit.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.testing.TinyDisk;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.JitModule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TorchScript archives: damaged ones are refused by name, and saving never aborts or half-writes. */
class JitArchiveReliabilityTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void fixtures() throws IOException {
        JitFixtures.generate(dir);
    }

    @Test
    void aDamagedArchiveIsCorruptNamingTheFile() throws IOException {
        byte[] bytes = Files.readAllBytes(dir.resolve("resnet_scripted.pt"));
        for (int i = 0; i < 200; i++) {
            bytes[bytes.length / 2 + i] ^= 0x5A;
        }
        Path damaged = Files.write(dir.resolve("damaged.pt"), bytes);
        IOException e = assertThrows(IOException.class, () -> JitModels.load(damaged, Devices.cpu()));
        assertTrue(e.getMessage().contains(damaged.toString()) && e.getMessage().contains("corrupt"), e.getMessage());
        JitModels.load(dir.resolve("resnet_scripted.pt"), Devices.cpu()); // the original still loads
    }

    @Test
    void savingRoundTripsAndAFullDiskLeavesNothing(@TempDir Path out) throws Exception {
        JitModule module = JitModels.load(dir.resolve("resnet_scripted.pt"), Devices.cpu());
        Path copy = out.resolve("copy.pt");
        JitModels.save(module, copy);
        JitModule again = JitModels.load(copy, Devices.cpu());
        assertEquals(JitInspector.namedModules(module).keySet(), JitInspector.namedModules(again).keySet());

        try (TinyDisk disk = TinyDisk.mount(out, "tiny")) {
            Path tiny = disk.dir();
            assertTrue(Files.size(copy) > 64 * 1024, "the archive is larger than the disk");
            Path target = tiny.resolve("model.pt");
            IOException e = assertThrows(IOException.class, () -> JitModels.save(module, target));
            assertTrue(e.getMessage().startsWith("TorchScript archive " + target + " cannot be written"), e.getMessage());
            try (Stream<Path> left = Files.list(tiny)) {
                assertEquals(List.of(), left.toList(), "nothing left behind");
            }
        }
    }
}
