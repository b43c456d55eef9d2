package dev.dropkit.cli;

import static dev.dropkit.testing.StdoutCapture.capture;

import dev.dropkit.jit.JitFixtures;
import dev.dropkit.jit.JitInspector;
import dev.dropkit.jit.JitModels;
import dev.dropkit.testing.StdoutCapture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void rewriteWritesTheArchiveAndPrintsAJsonReport(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out.pt");
        String json = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", dir.resolve("resnet_scripted.pt").toString(),
                "-o", out.toString(), "--stochastic-depth", "rate=0.2,distribution=linear,method=sample,scaling=inverted")));
        assertTrue(Files.isRegularFile(out), json);
        assertTrue(json.contains("\"rewrite\": \"stochastic-depth\"") && json.contains("\"count\": 3"), json);
        assertTrue(json.contains("\"module\": \"layer2.0\""), json);
        assertTrue(json.trim().startsWith("{") && json.trim().endsWith("}"), json);
        assertEquals(3, JitInspector.namedModules(JitModels.load(out, dev.dropkit.core.Devices.cpu())).values().stream()
                .filter(m -> m.hasattr("dropkit_depth_rate")).count());

        Path gyro = tmp.resolve("gyro.pt");
        String g = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", dir.resolve("mlp_scripted.pt").toString(),
                "-o", gyro.toString(), "--gyro-dropout", "sigma=8,tau=4,iters-per-epoch=10")));
        assertTrue(g.contains("\"rewrite\": \"gyro-dropout\"") && g.contains("\"count\": 3"), g);
        String d = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", dir.resolve("mlp_traced.pt").toString(),
                "-o", tmp.resolve("classic.pt").toString(), "--dropout", "mode=classic,modules=drop.*")));
        assertTrue(d.contains("\"count\": 2"), d);
        String inspected = capture(() -> assertEquals(0, DropkitCli.run("jit", "inspect", gyro.toString())));
        assertTrue(inspected.contains("dropout nodes: 0"), inspected);
        assertTrue(inspected.contains("dropkit rewrites already applied") && inspected.contains("drop1.dropkit_gyro_0"),
                inspected);
    }

    @Test
    void rewriteExitCodes(@TempDir Path tmp) throws IOException {
        String mlp = dir.resolve("mlp_scripted.pt").toString();
        String out = tmp.resolve("o.pt").toString();
        // 2: bad arguments
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", mlp, "-o", out, "--gyro-dropout", "sigma=8,tau=4")));
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", mlp, "-o", out, "--gyro-dropout",
                "sigma=8,tau=4,iters-per-epoch=10,colour=red")));
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", mlp, "-o", out, "--dropout", "p=1.5")));
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", mlp, "-o", out, "--gyro-dropout",
                "sigma=8,tau=4,iters-per-epoch=10,feature-dim=2")));
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", mlp, "-o", out, "--stochastic-depth", "rate=0.1,method=zigzag")));
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", mlp, "-o", out)));
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", tmp.resolve("missing.pt").toString(), "-o", out,
                "--dropout", "p=0.1")));
        // 1: a model it cannot load or rewrite
        Path junk = Files.writeString(tmp.resolve("junk.pt"), "junk");
        capture(() -> assertEquals(1, DropkitCli.run("jit", "rewrite", junk.toString(), "-o", out, "--dropout", "p=0.1")));
        String err = StdoutCapture.captureErr(() -> assertEquals(1, DropkitCli.run("jit", "rewrite", mlp, "-o", out,
                "--stochastic-depth", "rate=0.1")));
        assertTrue(err.contains("no residual block"), err);
        assertTrue(!Files.exists(tmp.resolve("o.pt")), "nothing is written when the rewrite fails");
    }
}
