package dev.dropkit.cli;

import static dev.dropkit.testing.ParsedJson.fieldNames;
import static dev.dropkit.testing.ParsedJson.parse;
import static dev.dropkit.testing.StdoutCapture.capture;

import com.fasterxml.jackson.databind.JsonNode;

import dev.dropkit.jit.JitFixtures;
import dev.dropkit.jit.JitInspector;
import dev.dropkit.jit.JitModels;
import dev.dropkit.testing.StdoutCapture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
        JsonNode json = parse(out); // the whole of stdout is one JSON document
        assertTrue(json.isObject(), out);
        assertEquals(List.of("aten::dropout", "aten::dropout_"), fieldNames(json.get("dropoutCounts")), out);
        assertEquals(3, json.get("dropoutCounts").get("aten::dropout").intValue(), out);
        assertEquals(3, json.get("dropoutCounts").get("aten::dropout_").intValue(), out);
        assertEquals(6, json.get("dropoutTotal").intValue(), out);
    }

    @Test
    void badFilesGiveExitCodesNotCrashes(@TempDir Path tmp) throws IOException {
        capture(() -> assertEquals(2, DropkitCli.run("jit", "inspect", tmp.resolve("nope.pt").toString())));
        Path junk = Files.writeString(tmp.resolve("junk.pt"), "junk");
        // a file that is not an archive is the user's input error: 2, like a missing one
        capture(() -> assertEquals(2, DropkitCli.run("jit", "inspect", junk.toString())));
    }

    @Test
    void rewriteWritesTheArchiveAndPrintsAJsonReport(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out.pt");
        String json = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", dir.resolve("resnet_scripted.pt").toString(),
                "-o", out.toString(), "--stochastic-depth", "rate=0.2,distribution=linear,method=sample,scaling=inverted")));
        assertTrue(Files.isRegularFile(out), json);
        JsonNode parsed = parse(json);
        assertTrue(parsed.isObject(), json);
        assertEquals(List.of("input", "output", "rewrites"), fieldNames(parsed), json);
        assertEquals(out.toString(), parsed.get("output").textValue(), json);
        assertEquals(1, parsed.get("rewrites").size(), json);
        JsonNode depth = parsed.get("rewrites").get(0);
        assertEquals("stochastic-depth", depth.get("rewrite").textValue(), json);
        assertEquals(3, depth.get("count").intValue(), json);
        assertEquals(3, depth.get("changes").size(), json);
        assertTrue(depth.get("changes").valueStream().anyMatch(c -> c.get("module").textValue().equals("layer2.0")), json);
        assertEquals(3, JitInspector.namedModules(JitModels.load(out, dev.dropkit.core.Devices.cpu())).values().stream()
                .filter(m -> m.hasattr("dropkit_depth_rate")).count());

        Path gyro = tmp.resolve("gyro.pt");
        String g = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", dir.resolve("mlp_scripted.pt").toString(),
                "-o", gyro.toString(), "--gyro-dropout", "sigma=8,tau=4,iters-per-epoch=10")));
        JsonNode gyroReport = parse(g).get("rewrites").get(0);
        assertEquals("gyro-dropout", gyroReport.get("rewrite").textValue(), g);
        assertEquals(3, gyroReport.get("count").intValue(), g);
        String d = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", dir.resolve("mlp_traced.pt").toString(),
                "-o", tmp.resolve("classic.pt").toString(), "--dropout", "mode=classic,modules=drop.*")));
        JsonNode dropoutReport = parse(d).get("rewrites").get(0);
        assertEquals("dropout", dropoutReport.get("rewrite").textValue(), d);
        assertEquals(2, dropoutReport.get("count").intValue(), d);
        String inspected = capture(() -> assertEquals(0, DropkitCli.run("jit", "inspect", gyro.toString())));
        assertTrue(inspected.contains("dropout nodes: 0"), inspected);
        assertTrue(inspected.contains("dropkit rewrites already applied") && inspected.contains("drop1.dropkit_gyro_0"),
                inspected);
    }

    /** File names may hold anything but '/' and NUL; the report must still be valid JSON naming them exactly. */
    @Test
    void rewriteReportEscapesPathsThatNeedIt(@TempDir Path tmp) throws IOException {
        Path odd = Files.createDirectories(tmp.resolve("a \"quoted\" back\\slash\tdir"));
        Path model = Files.copy(dir.resolve("mlp_scripted.pt"), odd.resolve("in\nput\u0001.pt"));
        Path out = odd.resolve("out\\\"1\".pt");
        String json = capture(() -> assertEquals(0, DropkitCli.run("jit", "rewrite", model.toString(), "-o", out.toString(),
                "--dropout", "p=0.25,modules=drop\\d")));
        assertTrue(Files.isRegularFile(out), json);
        JsonNode parsed = parse(json);
        assertEquals(model.toString(), parsed.get("input").textValue(), json);
        assertEquals(out.toString(), parsed.get("output").textValue(), json);
        JsonNode report = parsed.get("rewrites").get(0);
        assertEquals("dropout", report.get("rewrite").textValue(), json);
        assertTrue(report.get("settings").textValue().contains("drop\\d"), json);
        assertEquals(2, report.get("count").intValue(), json);
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
        // 2: an input that is not a TorchScript archive; 1: a model dropkit cannot rewrite
        Path junk = Files.writeString(tmp.resolve("junk.pt"), "junk");
        capture(() -> assertEquals(2, DropkitCli.run("jit", "rewrite", junk.toString(), "-o", out, "--dropout", "p=0.1")));
        String err = StdoutCapture.captureErr(() -> assertEquals(1, DropkitCli.run("jit", "rewrite", mlp, "-o", out,
                "--stochastic-depth", "rate=0.1")));
        assertTrue(err.contains("no residual block"), err);
        assertTrue(!Files.exists(tmp.resolve("o.pt")), "nothing is written when the rewrite fails");
    }
}
