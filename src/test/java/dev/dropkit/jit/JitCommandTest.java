package dev.dropkit.jit;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.cli.DropkitCli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JitCommandTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    @Test
    void inspectPrintsTreeAndCounts() {
        String out = capture(() -> assertEquals(0,
                DropkitCli.run("jit", "inspect", dir.resolve("resnet_scripted.pt").toString(), "--device", "cpu")));
        assertTrue(out.contains("modules (27):"), out);
        assertTrue(out.contains("torch.nn.modules.batchnorm.BatchNorm2d"), out);
        assertTrue(out.contains("residual blocks: 3"), out);
        assertTrue(out.contains("  layer2.0  "), out);
        assertTrue(out.contains("dropout nodes: 0"), out);
    }

    @Test
    void inspectJsonHasTheCounts() {
        String out = capture(() -> assertEquals(0,
                DropkitCli.run("jit", "inspect", dir.resolve("mlp_scripted.pt").toString(), "--json")));
        assertTrue(out.contains("\"dropoutCounts\": {\"aten::dropout\": 3, \"aten::dropout_\": 3}"), out);
        assertTrue(out.trim().startsWith("{") && out.trim().endsWith("}"), out);
    }

    @Test
    void badFilesGiveExitCodesNotCrashes(@TempDir Path tmp) throws IOException {
        capture(() -> assertEquals(2, DropkitCli.run("jit", "inspect", tmp.resolve("nope.pt").toString())));
        Path junk = Files.writeString(tmp.resolve("junk.pt"), "junk");
        capture(() -> assertEquals(1, DropkitCli.run("jit", "inspect", junk.toString())));
    }
}
