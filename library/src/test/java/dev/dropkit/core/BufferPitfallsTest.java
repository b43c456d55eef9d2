package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins down how libtorch treats registered buffers (native-notes/module-load-replaces-buffers.md and
 * native-notes/module-to-dtype-converts-every-buffer.md), which Gyro Dropout's lazily-sized,
 * checkpointable state relies on, and how dtypes read back from tensors compare
 * (native-notes/native-enums-need-intern.md).
 */
class BufferPitfallsTest {

    /** A module with a lazily-sized buffer, held through the Tensor handle it was registered with. */
    static final class Lazy extends Module {
        final Tensor masks = torch.empty(new long[] {0, 0}, new TensorOptions(torch.ScalarType.Float),
                new MemoryFormatOptional());
        final Tensor step = torch.tensor(new long[] {0}).to(torch.ScalarType.Long);

        Lazy() {
            register_buffer("masks", masks);
            register_buffer("step", step);
        }
    }

    @Test
    void loadReplacesABufferWhateverItsShapeAndTheRegisteredHandleSeesIt(@TempDir Path dir) {
        Lazy written = new Lazy();
        written.masks.set_(torch.ones(3, 4));
        written.step.fill_(new org.bytedeco.pytorch.Scalar(7L));
        OutputArchive out = new OutputArchive();
        written.save(out);
        out.save_to(dir.resolve("m.pt").toString());

        Lazy fresh = new Lazy();
        long version = fresh.step._version();
        long address = fresh.step.data_ptr().address();
        InputArchive in = new InputArchive();
        in.load_from(dir.resolve("m.pt").toString());
        fresh.load(in);
        assertArrayEquals(new long[] {3, 4}, Tensors.shape(fresh.masks), "a [0, 0] placeholder took the [3, 4] shape");
        assertEquals(7, fresh.step.item_long(), "the handle we registered sees the loaded value");
        assertTrue(fresh.step._version() > version, "load is an in-place set_: the version counter moves");
        assertNotEquals(address, fresh.step.data_ptr().address(), "and the storage is a new one");
    }

    @Test
    void toScalarTypeConvertsLongAndBoolBuffersToo() {
        Module m = new Module();
        Tensor flags = torch.ones(3).to(torch.ScalarType.Bool);
        Tensor big = torch.tensor(new long[] {(1L << 40) + 1}).to(torch.ScalarType.Long);
        m.register_buffer("flags", flags);
        m.register_buffer("big", big);
        m.to(torch.ScalarType.Float, false);
        assertEquals(torch.ScalarType.Float, flags.scalar_type().intern(), "bool buffer became float");
        assertEquals(torch.ScalarType.Float, big.scalar_type().intern(), "long buffer became float");
        assertEquals(1L << 40, big.to(torch.ScalarType.Long).item_long(), "and lost its low bits");
    }
}
