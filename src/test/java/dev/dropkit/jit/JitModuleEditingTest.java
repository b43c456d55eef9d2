package dev.dropkit.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import java.io.IOException;
import java.nio.file.Path;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins what the graph rewrites of issue 7 will build on: a loaded module takes new buffers and new
 * TorchScript methods from Java, they survive {@code save}, and Python PyTorch runs them.
 */
class JitModuleEditingTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    @Test
    void buffersAndDefinedMethodsSurviveSaveAndRunInPython() throws IOException {
        JitModule m = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        Tensor steps = torch.zeros(new long[] {1}, new org.bytedeco.pytorch.TensorOptions(
                new org.bytedeco.pytorch.ScalarTypeOptional(torch.ScalarType.Long)));
        m.register_buffer("dk_steps", steps);
        m.define("""
                def dk_step(self) -> int:
                    self.dk_steps += 1
                    return int(self.dk_steps.item())
                """);
        IValue first = m.get_method("dk_step").apply(new IValueVector());
        IValue second = m.get_method("dk_step").apply(new IValueVector());
        assertEquals(1, first.toInt());
        assertEquals(2, second.toInt());
        // a second forward cannot be defined: rewrites must edit graphs or add methods under new names
        assertThrows(RuntimeException.class, () -> m.define("def forward(self, x):\n    return x\n"));
        Path saved = dir.resolve("edited.pt");
        m.save(saved.toString());
        JitFixtures.Result r = JitFixtures.run(
                "import torch\nm = torch.jit.load('" + saved + "')\nprint(m.dk_step(), int(m.dk_steps.item()))\n",
                "-");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().trim().endsWith("3 3"), r.output());
    }

    /**
     * Instances of one scripted class share a ClassType: a buffer registered on one instance adds the
     * attribute to all of them, with no value in the others, and {@code save} then fails. Registering
     * it on every instance of the type makes the module whole again.
     */
    @Test
    void instancesShareTheirClassTypeSoBuffersGoOnEveryInstance(@TempDir Path tmp) throws IOException {
        JitModule m = JitModels.load(dir.resolve("resnet_scripted.pt"), Devices.cpu());
        java.util.Map<String, JitModule> mods = JitInspector.namedModules(m);
        JitModule a = mods.get("layer1.0");
        JitModule b = mods.get("layer1.1");
        assertEquals(a.type().address(), b.type().address());
        a.register_buffer("dk_rate", torch.ones(1));
        assertTrue(b.hasattr("dk_rate"));
        RuntimeException e = assertThrows(RuntimeException.class, () -> m.save(tmp.resolve("bad.pt").toString()));
        assertTrue(e.getMessage().contains("Unknown IValue type for pickling"), e.getMessage());
        b.register_buffer("dk_rate", torch.ones(1));
        m.save(tmp.resolve("good.pt").toString());
        a.define("def dk_probe(self) -> int:\n    return 1\n");
        assertTrue(b.find_method("dk_probe").has_value(), "methods are per type too");
    }
}
