package dev.dropkit.jit;

import static dev.dropkit.jit.JitDropoutRewriteTest.fwd;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.gyro.GyroDropoutOptions;
import java.io.IOException;
import java.nio.file.Path;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rewrites on real torchvision models they were not written against: resnet18 scripted and
 * traced, efficientnet_b0 (which already holds torchvision's StochasticDepth) and a traced
 * mobilenet_v3_small. Each keeps its evaluation output bit for bit, trains a step, and the saved
 * archive trains in Python.
 */
class JitZooRewriteTest {
    static final StochasticDepthOptions SD = StochasticDepthOptions.builder().dropRate(0.2).distribution("linear")
            .method("sample").scaling("inverted").build();
    static final GyroDropoutOptions GYRO = GyroDropoutOptions.builder().p(0.2).sigma(16).tau(4)
            .itersPerEpoch(100).maxEpoch(1).build();

    @Test
    void resnet18ScriptedAndTracedGetStochasticDepthOnAllEightBlocks(@TempDir Path tmp) throws IOException {
        for (String name : new String[] {"resnet18_scripted.pt", "resnet18_traced.pt"}) {
            JitModule original = JitModels.load(JitFixtures.zoo(name), Devices.cpu());
            JitModule m = JitModels.load(JitFixtures.zoo(name), Devices.cpu());
            JitRewriteReport r = JitRewrites.stochasticDepth(m, SD);
            assertEquals(8, r.count(), name + ": " + r.toJson());
            assertEquals("layer4.1", r.changes().get(7).module());
            assertEquals(0.2, JitInspector.namedModules(m).get("layer4.1").attr("dropkit_depth_rate").toDouble());
            evalIdenticalAndTrainsAStep(original, m, torch.randn(4, 3, 64, 64), name);
            Path saved = tmp.resolve("sd_" + name);
            m.save(saved.toString());
            pythonTrainsAStep(saved, "4, 3, 64, 64");
        }
    }

    @Test
    void efficientNetHasItsStochasticDepthRetunedAndItsClassifierDropoutMadeGyro(@TempDir Path tmp) throws IOException {
        Path file = JitFixtures.zoo("efficientnet_b0_scripted.pt");
        JitModule original = JitModels.load(file, Devices.cpu());
        JitModule m = JitModels.load(file, Devices.cpu());
        JitRewriteReport sd = JitRewrites.stochasticDepth(m, SD);
        assertEquals(16, sd.count(), sd.toJson());
        assertTrue(sd.notes().get(0).contains("retuned"), sd.toJson());
        JitRewriteReport gyro = JitRewrites.gyroDropout(m, GYRO);
        assertEquals(1, gyro.count(), gyro.toJson());
        assertEquals("classifier.0", gyro.changes().get(0).module());
        evalIdenticalAndTrainsAStep(original, m, torch.randn(8, 3, 64, 64), "efficientnet_b0");
        Path saved = tmp.resolve("effnet.pt");
        m.save(saved.toString());
        pythonTrainsAStep(saved, "8, 3, 64, 64");
    }

    @Test
    void tracedMobileNetGetsGyroDropoutThatRespectsEval(@TempDir Path tmp) throws IOException {
        Path file = JitFixtures.zoo("mobilenet_v3_small_traced.pt");
        JitModule m = JitModels.load(file, Devices.cpu());
        JitRewriteReport r = JitRewrites.gyroDropout(m, GYRO);
        assertEquals(1, r.count(), r.toJson());
        m.eval();
        Tensor x = torch.randn(4, 3, 64, 64);
        assertTrue(torch.equal(fwd(m, x), fwd(m, x)), "the traced dropout now follows eval()");
        m.train(true);
        fwd(m, x).sum().backward();
        Path saved = tmp.resolve("mnv3.pt");
        m.save(saved.toString());
        pythonTrainsAStep(saved, "4, 3, 64, 64");
    }

    /**
     * DenseNet calls {@code F.dropout} inside {@code if self.drop_rate > 0} with p read from an attribute,
     * in overloaded forward methods; SqueezeNet drops a 4-D feature map before a convolution.
     */
    @Test
    void denseNetAndSqueezeNetDropoutsBecomeGyro(@TempDir Path tmp) throws IOException {
        GyroDropoutOptions o = GYRO.toBuilder().sigma(16).build();
        Path dense = JitFixtures.zoo("densenet121_scripted.pt");
        JitModule original = JitModels.load(dense, Devices.cpu());
        JitModule m = JitModels.load(dense, Devices.cpu());
        JitRewriteReport r = JitRewrites.gyroDropout(m, o, true, null);
        assertEquals(2 * 58, r.count(), "58 dense layers, a dropout in each of two forward overloads");
        assertTrue(r.changes().stream().allMatch(c -> c.detail().contains("p=the call's")), r.toJson());
        evalIdenticalAndTrainsAStep(original, m, torch.randn(4, 3, 64, 64), "densenet121");
        Path saved = tmp.resolve("densenet.pt");
        m.save(saved.toString());
        pythonTrainsAStep(saved, "4, 3, 64, 64");

        Path squeeze = JitFixtures.zoo("squeezenet1_1_scripted.pt");
        JitModule sq0 = JitModels.load(squeeze, Devices.cpu());
        JitModule sq = JitModels.load(squeeze, Devices.cpu());
        assertEquals("classifier.0", JitRewrites.gyroDropout(sq, o).changes().get(0).module());
        evalIdenticalAndTrainsAStep(sq0, sq, torch.randn(8, 3, 64, 64), "squeezenet1_1");
    }

    private static void evalIdenticalAndTrainsAStep(JitModule original, JitModule m, Tensor x, String name) {
        original.eval();
        m.eval();
        assertTrue(torch.equal(fwd(original, x), fwd(m, x)), name + ": evaluation output unchanged");
        m.train(true);
        torch.manual_seed(1);
        fwd(m, x).square().mean().backward();
        Tensor g = JitModels.namedParameters(m).values().iterator().next().grad();
        assertTrue(g.defined() && g.abs().sum().item_double() > 0, name + ": gradients flow through the rewrite");
    }

    private static void pythonTrainsAStep(Path saved, String shape) throws IOException {
        JitFixtures.Result r = JitFixtures.run("""
                import torch
                m = torch.jit.load('%s')
                torch.manual_seed(0)
                m.train()
                opt = torch.optim.SGD(m.parameters(), lr=0.01)
                m(torch.randn(%s)).square().mean().backward()
                opt.step()
                m.eval()
                print('ok', tuple(m(torch.randn(%s)).shape))
                """.formatted(saved, shape, shape), "-");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("ok ("), r.output());
    }
}
