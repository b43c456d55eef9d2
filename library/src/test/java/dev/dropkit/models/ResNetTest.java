package dev.dropkit.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Modules;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class ResNetTest {

    /** Standard-normal float CPU inputs. */
    static Tensor randn(long... shape) {
        return torch.randn(shape, Tensors.options(torch.ScalarType.Float, Devices.cpu()));
    }

    static long parameterCount(Module m) {
        var params = m.parameters();
        long n = 0;
        for (long i = 0; i < params.size(); i++) {
            n += params.get(i).numel();
        }
        return n;
    }

    /** torchvision's counts for 1000 classes: the layouts, widths and projections are theirs. */
    @Test
    void standardLayoutsHaveTorchvisionsParameterCountsAndNames() {
        try (PointerScope scope = new PointerScope()) {
            ResNet r18 = ResNet.resnet18(1000);
            assertEquals(11_689_512L, parameterCount(r18));
            assertEquals(8, r18.blocks().size());
            ResNet r34 = ResNet.resnet34(1000);
            assertEquals(21_797_672L, parameterCount(r34));
            ResNet r50 = ResNet.resnet50(1000);
            assertEquals(25_557_032L, parameterCount(r50));
            List<String> names = Modules.namedParameterNames(r50);
            assertEquals("conv1.weight", names.get(0));
            assertTrue(names.contains("layer1.0.downsample.0.weight"), "torchvision's projection names");
            assertTrue(names.contains("layer4.2.bn3.bias"));
            assertEquals("fc.bias", names.get(names.size() - 1));
        }
    }

    @Test
    void smallVersionsClassify28And32PixelImagesWithOneOrThreeChannels() {
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Seeds.seed(1);
            ResNet grey = ResNet.small(ResNet.Layout.RESNET18, 4, 1, 10);
            grey.eval();
            assertArrayEquals(new long[] {2, 10}, Tensors.shape(grey.forward(randn(2, 1, 28, 28))));
            ResNet rgb = ResNet.small(ResNet.Layout.RESNET50, 4, 3, 10);
            rgb.eval();
            assertEquals(16, rgb.blocks().size());
            assertTrue(rgb.blocks().stream().allMatch(b -> b instanceof Bottleneck));
            assertArrayEquals(new long[] {2, 10}, Tensors.shape(rgb.forward(randn(2, 3, 32, 32))));
            assertEquals("ResNet(block=Bottleneck, depths=[3, 4, 6, 3], widths=[4, 8, 16, 32], in=3, classes=10,"
                    + " stem=small)", rgb.toString());
        }
    }

    @Test
    void blocksProjectExactlyWhenTheShapeChanges() {
        assertEquals("BasicBlock(in=8, out=8, stride=1)", new BasicBlock(8, 8, 1).toString());
        assertEquals("BasicBlock(in=8, out=16, stride=2, projection)", new BasicBlock(8, 16, 2).toString());
        assertEquals("Bottleneck(in=32, width=8, out=32, stride=1)", new Bottleneck(32, 8, 1).toString());
        assertEquals("Bottleneck(in=16, width=8, out=32, stride=1, projection)", new Bottleneck(16, 8, 1).toString());
        Tensor x = randn(2, 8, 6, 6);
        BasicBlock identity = new BasicBlock(8, 8, 1);
        assertTrue(identity.shortcut(x).equal(x), "identity shortcut");
        assertArrayEquals(new long[] {2, 16, 3, 3}, Tensors.shape(new BasicBlock(8, 16, 2).forward(x)));
        assertArrayEquals(new long[] {2, 16, 3, 3}, Tensors.shape(new Bottleneck(8, 4, 2).forward(x)));
    }

    @Test
    void badConfigurationsAreRejectedWithTheirValues() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ResNet.builder().depths(3, 4).widths(8, 16, 32).build());
        assertEquals("widths has 3 entries but depths has 2; give one width per stage", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ResNet.builder().depths(2, 0));
        assertEquals("depths must all be positive, got [2, 0]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ResNet.builder().baseWidth(-8));
        assertEquals("baseWidth must be positive, got -8", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Bottleneck(8, 0, 1));
        assertEquals("width must be positive, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ResidualStage(List.of(new org.bytedeco.pytorch.LinearImpl(2, 2))));
        assertTrue(e.getMessage().contains("must implement ResidualBlock"), e.getMessage());
    }
}
