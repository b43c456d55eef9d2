package dev.dropkit.ffm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Tensors;
import dev.dropkit.testing.TestDevices;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorSegmentsTest {

    @Test
    void tensorToSegmentToTensorRoundTripSharesMemory() {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = torch.arange(new Scalar(12)).to(ScalarType.Float).reshape(3, 4).contiguous();
            MemorySegment view = TensorSegments.view(t);
            assertEquals(48, view.byteSize());
            assertEquals(11f, view.getAtIndex(ValueLayout.JAVA_FLOAT, 11));
            Tensor back = TensorSegments.wrap(view, ScalarType.Float, 3, 4);
            assertTrue(back.equal(t), "round trip keeps the values");
            assertEquals(t.data_ptr().address(), back.data_ptr().address(), "and the very same bytes");
            back.mul_(new Scalar(2));
            assertEquals(22f, t.get(2).get(3).item_float(), "a write through the wrapped tensor is seen by the original");
        }
    }

    @Test
    void writesThroughTheViewAreSeenByTheTensor() {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = torch.zeros(new long[] {5}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Double));
            MemorySegment view = TensorSegments.view(t);
            view.setAtIndex(ValueLayout.JAVA_DOUBLE, 3, 7.5);
            assertEquals(7.5, t.get(3).item_double());
            t.add_(new Scalar(1));
            assertEquals(1.0, view.getAtIndex(ValueLayout.JAVA_DOUBLE, 0));
        }
    }

    @Test
    void segmentToTensorToSegmentRoundTrip() {
        try (Arena arena = Arena.ofConfined(); PointerScope scope = new PointerScope()) {
            MemorySegment seg = arena.allocate(ValueLayout.JAVA_INT, 6);
            for (int i = 0; i < 6; i++) {
                seg.setAtIndex(ValueLayout.JAVA_INT, i, i * i);
            }
            Tensor t = TensorSegments.wrap(seg, ScalarType.Int, 2, 3);
            assertEquals(25, t.get(1).get(2).item_int());
            MemorySegment again = TensorSegments.view(t);
            assertEquals(seg.address(), again.address());
            assertArrayEquals(seg.toArray(ValueLayout.JAVA_INT), again.toArray(ValueLayout.JAVA_INT));
        }
    }

    @Test
    void wrapsAMemoryMappedFileWithoutCopying(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("floats.bin");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(ValueLayout.JAVA_FLOAT, 1000);
            for (int i = 0; i < 1000; i++) {
                src.setAtIndex(ValueLayout.JAVA_FLOAT, i, i / 10f);
            }
            Files.write(file, src.toArray(ValueLayout.JAVA_BYTE));
        }
        try (Arena arena = Arena.ofConfined();
                FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
                PointerScope scope = new PointerScope()) {
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, 4000, arena);
            Tensor t = TensorSegments.wrap(mapped, ScalarType.Float, 10, 100);
            assertEquals(mapped.address(), t.data_ptr().address());
            assertEquals(99.9f, t.get(9).get(99).item_float(), 1e-6);
            assertEquals(49950.0, t.sum().item_double(), 0.1);
        }
    }

    @Test
    void copyDetachesFromTheSegment() {
        Tensor t;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(ValueLayout.JAVA_FLOAT, 4);
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, 2, 3f);
            t = TensorSegments.copy(seg, ScalarType.Float, 4);
            assertTrue(t.data_ptr().address() != seg.address());
        }
        assertEquals(3f, t.get(2).item_float(), "the copy outlives the closed arena");
        float[] heap = {1f, 2f};
        Tensor h = TensorSegments.copy(MemorySegment.ofArray(heap), ScalarType.Float, 2);
        assertArrayEquals(heap, Tensors.toFloatArray(h));
    }

    @Test
    void refusesWhatItCannotBridgeSafely() {
        Tensor nonContiguous = torch.ones(3, 4).t();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TensorSegments.view(nonContiguous));
        assertTrue(e.getMessage().contains("not contiguous"), e.getMessage());

        MemorySegment heap = MemorySegment.ofArray(new float[4]);
        e = assertThrows(IllegalArgumentException.class, () -> TensorSegments.wrap(heap, ScalarType.Float, 4));
        assertTrue(e.getMessage().contains("heap segment"), e.getMessage());

        MemorySegment closed;
        try (Arena arena = Arena.ofConfined()) {
            closed = arena.allocate(16);
        }
        MemorySegment finalClosed = closed;
        e = assertThrows(IllegalArgumentException.class, () -> TensorSegments.wrap(finalClosed, ScalarType.Float, 4));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());

        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16);
            e = assertThrows(IllegalArgumentException.class, () -> TensorSegments.wrap(seg, ScalarType.Float, 5));
            assertTrue(e.getMessage().contains("needs 20 bytes but the segment has 16"), e.getMessage());
            MemorySegment odd = seg.asSlice(1, 8);
            e = assertThrows(IllegalArgumentException.class, () -> TensorSegments.wrap(odd, ScalarType.Float, 2));
            assertTrue(e.getMessage().contains("not aligned"), e.getMessage());
        }
    }

    @Test
    void refusesCudaTensors() {
        Device cuda = TestDevices.device("cuda");
        Tensor t = torch.ones(new long[] {4}, Tensors.options(ScalarType.Float, cuda));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TensorSegments.view(t));
        assertTrue(e.getMessage().contains("cpu()"), e.getMessage());
    }
}
