package dev.dropkit.jit;

import static dev.dropkit.testing.ParsedJson.fieldNames;
import static dev.dropkit.testing.ParsedJson.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dropkit.core.Devices;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.JitModule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JitInspectorTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    @Test
    void scriptedMlpShowsModulesAndEveryDropout() throws IOException {
        JitModule m = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        JitInspector.Report r = JitInspector.inspect(m);
        assertEquals("", r.modules().get(0).path());
        assertEquals("Mlp", r.modules().get(0).type());
        assertTrue(r.modules().contains(new JitInspector.ModuleInfo("drop1", "torch.nn.modules.dropout.Dropout")),
                r.modules().toString());
        assertTrue(r.modules().contains(new JitInspector.ModuleInfo("fc3", "torch.nn.modules.linear.Linear")),
                r.modules().toString());
        assertEquals(6, r.modules().size());
        // two nn.Dropout forwards plus the functional F.dropout in Mlp.forward, each reaching
        // torch.nn.functional.dropout, whose graph holds both branches of its `inplace` flag
        assertEquals(Map.of("aten::dropout", 3, "aten::dropout_", 3), r.dropoutCounts());
        assertTrue(r.dropoutNodes().contains(new JitInspector.DropoutNode("aten::dropout", "", "forward", "torch.nn.functional.dropout")));
        assertTrue(r.dropoutNodes().contains(new JitInspector.DropoutNode("aten::dropout", "drop2", "forward", "torch.nn.functional.dropout")));
        assertEquals(List.of(), r.residualBlocks());
        String text = r.toJson();
        JsonNode json = parse(text);
        assertEquals(List.of("aten::dropout", "aten::dropout_"), fieldNames(json.get("dropoutCounts")), text);
        assertEquals(3, json.get("dropoutCounts").get("aten::dropout").intValue(), text);
        assertEquals(3, json.get("dropoutCounts").get("aten::dropout_").intValue(), text);
        assertEquals(6, json.get("dropoutTotal").intValue(), text);
        assertEquals(6, json.get("dropoutNodes").size(), text);
        assertEquals(6, json.get("modules").size(), text);
        assertTrue(json.get("modules").valueStream().anyMatch(n -> fieldNames(n).equals(List.of("path", "type"))
                && n.get("path").textValue().equals("drop1")
                && n.get("type").textValue().equals("torch.nn.modules.dropout.Dropout")), text);
    }

    @Test
    void resnetBlocksAreFoundByUnmangledName() throws IOException {
        JitModule m = JitModels.load(dir.resolve("resnet_scripted.pt"), Devices.cpu());
        JitInspector.Report r = JitInspector.inspect(m);
        List<String> blocks = r.residualBlocks().stream().map(JitInspector.ModuleInfo::path).toList();
        assertEquals(List.of("layer1.0", "layer1.1", "layer2.0"), blocks);
        // the fixture's BasicBlock is torchvision's when installed, else defined in __main__ (no package)
        assertTrue(r.residualBlocks().get(0).type().matches("(?:.*\\.)?BasicBlock"), r.residualBlocks().toString());
        for (JitInspector.ModuleInfo info : r.modules()) {
            assertTrue(!info.type().contains("mangle") && !info.type().startsWith("__torch__"), info.toString());
        }
        assertEquals(0, r.dropoutTotal());
        assertEquals(List.of(), JitInspector.inspect(m, java.util.regex.Pattern.compile("nothing")).residualBlocks());
    }

    @Test
    void tracedModelsKeepTheirDropoutNodes() throws IOException {
        JitModule m = JitModels.load(dir.resolve("mlp_traced.pt"), Devices.cpu());
        JitInspector.Report r = JitInspector.inspect(m);
        // tracing in training mode records the two module dropouts and the functional one
        assertEquals(3, r.dropoutTotal(), r.toJson());
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("dev.dropkit.testing.TestDevices#names")
    void loadsOntoTheRequestedDevice(String name) throws IOException {
        org.bytedeco.pytorch.Device device = dev.dropkit.testing.TestDevices.device(name);
        JitModule m = JitModels.load(dir.resolve("resnet_scripted.pt"), device);
        for (org.bytedeco.pytorch.Tensor t : JitTensors.namedParameters(m).values()) {
            assertEquals(device.is_cuda(), t.is_cuda());
        }
        for (org.bytedeco.pytorch.Tensor t : JitTensors.namedBuffers(m).values()) {
            assertEquals(device.is_cuda(), t.is_cuda());
        }
    }

    @Test
    void unmangleStripsPrefixAndMangles() {
        assertEquals("torch.nn.modules.dropout.Dropout",
                JitInspector.unmangle("__torch__.torch.nn.modules.dropout.___torch_mangle_12.Dropout"));
        assertEquals("a.B", JitInspector.unmangle("a.B"));
    }

    @Test
    void badFilesAreJavaExceptionsNamingTheFile(@TempDir Path tmp) throws IOException {
        Path missing = tmp.resolve("missing.pt");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JitModels.load(missing, Devices.cpu()));
        assertTrue(e.getMessage().contains("missing.pt"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JitModels.load(tmp, Devices.cpu()));
        Path text = Files.writeString(tmp.resolve("text.pt"), "not a model");
        IOException io = assertThrows(IOException.class, () -> JitModels.load(text, Devices.cpu()));
        assertTrue(io.getMessage().contains("text.pt"), io.getMessage());
        byte[] full = Files.readAllBytes(dir.resolve("mlp_scripted.pt"));
        Path truncated = Files.write(tmp.resolve("truncated.pt"), java.util.Arrays.copyOf(full, full.length / 2));
        IOException t = assertThrows(IOException.class, () -> JitModels.load(truncated, Devices.cpu()));
        assertTrue(t.getMessage().contains("truncated.pt"), t.getMessage());
    }

    /** Blocks of unknown classes with a residual addition are offered as candidates, and the rewrite takes them by name. */
    @Test
    void unknownResidualBlocksAreFoundByStructure() throws IOException {
        JitFixtures.assumeTorchvision();
        JitModule m = JitModels.load(dir.resolve("convnext_sd_scripted.pt"), Devices.cpu());
        JitInspector.Report r = JitInspector.inspect(m);
        assertEquals(0, r.residualBlocks().size());
        assertEquals(java.util.List.of("blocks.0", "blocks.1", "blocks.2"),
                r.otherResidual().stream().map(JitInspector.ModuleInfo::path).toList());
        assertEquals("torchvision.models.convnext.CNBlock", r.otherResidual().get(0).type());
        JsonNode candidates = parse(r.toJson()).get("otherResidualCandidates");
        assertTrue(candidates.isArray(), r.toJson());
        assertEquals(List.of("blocks.0", "blocks.1", "blocks.2"),
                candidates.valueStream().map(n -> n.get("path").textValue()).toList(), r.toJson());
        assertEquals("torchvision.models.convnext.CNBlock", candidates.get(0).get("type").textValue(), r.toJson());
        JitModule mlp = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        assertTrue(JitInspector.inspect(mlp).otherResidual().isEmpty(), "no addition, no candidate");
    }
}
