package dev.dropkit.jit;

import static dev.dropkit.jit.JitDropoutRewriteTest.fwd;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.dropgrad.DropGrad;
import dev.dropkit.dropgrad.DropGradHooks;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.train.TrainableModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rewritten TorchScript models in dropkit's training machinery: DropGrad, checkpoints, bad files. */
class JitTrainingTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    @Test
    void dropGradAttachesToALoadedModelLikeToAJavaOne() throws IOException {
        JitModule m = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        DropGrad dg = DropGrad.builder().rate("*.weight", 0.1).rate("*.bias", 0.01)
                .build(JitModels.namedParameters(m));
        dev.dropkit.core.Seeds.seed(3);
        assertEquals(6, dg.parameterNames().size());
        assertEquals(0.1, dg.rate("fc1.weight"));
        assertEquals(0.01, dg.rate("fc3.bias"));
        m.eval(); // no dropout noise: only DropGrad's masks differ between the two backward passes
        Tensor x = torch.randn(256, 16);
        fwd(m, x).square().sum().backward();
        Tensor raw = JitModels.namedParameters(m).get("fc2.weight").grad().clone();
        JitModels.namedParameters(m).values().forEach(p -> p.grad().zero_());
        try (DropGradHooks hooks = dg.attach()) {
            fwd(m, x).square().sum().backward();
        }
        Tensor masked = JitModels.namedParameters(m).get("fc2.weight").grad();
        Tensor zero = masked.eq(torch.zeros_like(masked)).logical_and(raw.ne(torch.zeros_like(raw)));
        double n = raw.numel();
        double dropped = zero.to(torch.ScalarType.Float).sum().item_double() / n;
        assertEquals(0.1, dropped, 5 * Math.sqrt(0.09 / n), "fc2.weight gradient dropped at 0.1");
        Tensor kept = zero.logical_not();
        assertTrue(torch.allclose(masked.masked_select(kept), raw.masked_select(kept).div(new org.bytedeco.pytorch.Scalar(0.9)),
                1e-5, 1e-6, false), "survivors scaled by 1/(1-p)");
    }

    /** dropkit checkpoints of a rewritten model carry the rewrite's counters, so a resume continues the schedule. */
    @Test
    void checkpointsCarryTheRewriteState(@TempDir Path tmp) throws IOException {
        GyroDropoutOptions o = GyroDropoutOptions.builder().sigma(8).tau(4).itersPerEpoch(2).maxEpoch(4).build();
        JitModule a = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        JitRewrites.gyroDropout(a, o);
        a.train(true);
        Tensor x = torch.randn(32, 16);
        for (int i = 0; i < 5; i++) {
            fwd(a, x);
        }
        TrainableModel ta = JitModels.trainable(a);
        OutputArchive out = new OutputArchive();
        ta.save(out);
        Path ckpt = tmp.resolve("ckpt.pt");
        out.save_to(ckpt.toString());

        JitModule b = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        JitRewrites.gyroDropout(b, o);
        assertEquals(torch.ScalarType.Long, JitInspector.namedModules(b).get("drop1").attr("dropkit_gyro_0_active")
                .toTensor().scalar_type().intern(), "index buffers are int64 before the first forward");
        b.train(true);
        InputArchive in = new InputArchive();
        in.load_from(ckpt.toString());
        JitModels.trainable(b).load(in);
        Map<String, JitModule> mb = JitInspector.namedModules(b);
        assertEquals(5, mb.get("drop1").attr("dropkit_gyro_0_step").toInt());
        assertEquals(JitInspector.namedModules(a).get("drop2").attr("dropkit_gyro_0_cursor").toInt(),
                mb.get("drop2").attr("dropkit_gyro_0_cursor").toInt());
        for (int i = 0; i < 5; i++) {
            torch.manual_seed(40 + i);
            Tensor ya = fwd(a, x);
            torch.manual_seed(40 + i);
            assertTrue(torch.equal(ya, fwd(b, x)), "step " + (5 + i) + " after resuming from the checkpoint");
        }
    }

    @Test
    void liteInterpreterFilesAreRejectedWithAJavaException(@TempDir Path tmp) throws IOException {
        JitFixtures.assumeTorchvision(); // the fixture is written only where torchvision is present
        Path mobile = dir.resolve("mlp_mobile.ptl");
        assertTrue(Files.isRegularFile(mobile));
        try {
            JitModule m = JitModels.load(mobile, Devices.cpu());
            // some lite files still carry full TorchScript code; then they must at least rewrite and run
            JitRewrites.gyroDropout(m, GyroDropoutOptions.builder().sigma(8).tau(4).itersPerEpoch(10).maxEpoch(1).build());
        } catch (IOException e) {
            assertTrue(e.getMessage().contains("mlp_mobile.ptl"), e.getMessage());
        }
        // a bytecode-only file (what lite-interpreter exports hold without their TorchScript sources)
        Path bytecodeOnly = tmp.resolve("bytecode_only.ptl");
        try (var zip = new java.util.zip.ZipFile(mobile.toFile()); // PyTorch's zips have data descriptors
                var out = new java.util.zip.ZipOutputStream(Files.newOutputStream(bytecodeOnly))) {
            for (var e : java.util.Collections.list(zip.entries())) {
                if (!e.getName().contains("/code/")) {
                    out.putNextEntry(new java.util.zip.ZipEntry(e.getName()));
                    try (var in = zip.getInputStream(e)) {
                        in.transferTo(out);
                    }
                    out.closeEntry();
                }
            }
        }
        IOException lite = assertThrows(IOException.class, () -> JitModels.load(bytecodeOnly, Devices.cpu()));
        assertTrue(lite.getMessage().contains("bytecode_only.ptl"), lite.getMessage());
        byte[] full = Files.readAllBytes(mobile);
        Path cut = Files.write(tmp.resolve("cut.ptl"), java.util.Arrays.copyOf(full, full.length / 3));
        IOException e = assertThrows(IOException.class, () -> JitModels.load(cut, Devices.cpu()));
        assertTrue(e.getMessage().contains("cut.ptl"), e.getMessage());
    }

    /** Both rewrites run where the model lives: masks, index buffers and the kept-sample draws on the device. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("dev.dropkit.testing.TestDevices#names")
    void rewrittenModelsTrainOnTheirDevice(String name) throws IOException {
        org.bytedeco.pytorch.Device device = dev.dropkit.testing.TestDevices.device(name);
        JitModule mlp = JitModels.load(dir.resolve("mlp_scripted.pt"), device);
        JitRewrites.gyroDropout(mlp, GyroDropoutOptions.builder().sigma(8).tau(4).itersPerEpoch(2).maxEpoch(4).build());
        JitModule net = JitModels.load(dir.resolve("resnet_scripted.pt"), device);
        JitRewrites.stochasticDepth(net, dev.dropkit.depth.StochasticDepthOptions.builder().dropRate(0.5)
                .method("sample").build());
        mlp.train(true);
        net.train(true);
        org.bytedeco.pytorch.TensorOptions on = dev.dropkit.core.Tensors.options(torch.ScalarType.Float, device);
        for (int i = 0; i < 5; i++) {
            fwd(mlp, torch.randn(new long[] {32, 16}, on)).square().sum().backward();
            fwd(net, torch.randn(new long[] {8, 3, 16, 16}, on)).square().sum().backward();
        }
        Tensor masks = JitInspector.namedModules(mlp).get("drop1").attr("dropkit_gyro_0_masks").toTensor();
        assertEquals(device.is_cuda(), masks.is_cuda());
        assertEquals(5, JitInspector.namedModules(mlp).get("drop1").attr("dropkit_gyro_0_step").toInt());
        for (Tensor p : JitModels.namedParameters(net).values()) {
            assertTrue(p.grad().defined() && p.grad().is_cuda() == device.is_cuda());
        }
    }
}
