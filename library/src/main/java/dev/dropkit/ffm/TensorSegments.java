package dev.dropkit.ffm;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Tensors;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Bridges libtorch tensors and {@link MemorySegment}s.
 *
 * <h2>Lifetime rule</h2>
 * A view never owns memory: whoever owns the bytes must outlive every user of the view.
 * <ul>
 *   <li>{@link #view(Tensor)}: the tensor (its storage) must stay alive, and must not be resized,
 *       while the segment is used. The segment is not tied to the tensor; reading it after the tensor
 *       was freed reads freed memory.</li>
 *   <li>{@link #wrap(MemorySegment, ScalarType, long...)}: the segment's arena must stay open for as
 *       long as the returned tensor (and every view of it libtorch may create) is used. libtorch does not
 *       know about the arena. When that cannot be promised, use {@link #copy(MemorySegment, ScalarType,
 *       long...)}, which gives the tensor memory of its own.</li>
 * </ul>
 * Only contiguous CPU memory is bridged; CUDA tensors must be moved with {@code cpu()} first.
 */
public final class TensorSegments {
    private TensorSegments() {}

    /**
     * A segment over the bytes of a contiguous CPU tensor. Writes through the segment are seen by the
     * tensor and vice versa.
     *
     * @throws IllegalArgumentException if the tensor is undefined, not on the CPU or not contiguous
     */
    public static MemorySegment view(Tensor tensor) {
        Checks.notNull("tensor", tensor);
        if (!tensor.defined()) {
            throw new IllegalArgumentException("tensor is undefined");
        }
        if (!tensor.device().is_cpu()) {
            throw new IllegalArgumentException("only CPU tensors can be viewed as a MemorySegment, got a tensor on "
                    + tensor.device().str().getString() + "; call cpu() first");
        }
        if (!tensor.is_contiguous()) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(Tensors.shape(tensor))
                    + " is not contiguous; call contiguous() first");
        }
        long bytes = tensor.numel() * tensor.element_size();
        if (bytes == 0) {
            return MemorySegment.NULL;
        }
        return MemorySegment.ofAddress(tensor.data_ptr().address()).reinterpret(bytes);
    }

    /**
     * A CPU tensor over the segment's bytes, without a copy (see the lifetime rule above).
     *
     * @param segment native memory, for example a region of a memory-mapped file
     * @param dtype element type of the tensor
     * @param shape the tensor's shape; its element count times the element size must equal the segment's size
     * @throws IllegalArgumentException for a heap segment, a closed arena, a size mismatch or misalignment
     */
    public static Tensor wrap(MemorySegment segment, ScalarType dtype, long... shape) {
        checkWrappable(segment, dtype, shape);
        if (segment.byteSize() == 0) {
            return Tensors.empty(dtype, shape);
        }
        return torch.from_blob(new SegmentPointer(segment), shape, new org.bytedeco.pytorch.TensorOptions(dtype));
    }

    /**
     * A CPU tensor holding a copy of the segment's bytes. The segment may be a heap segment or belong to an
     * arena that closes right after this call.
     */
    public static Tensor copy(MemorySegment segment, ScalarType dtype, long... shape) {
        Checks.notNull("segment", segment);
        long expected = checkShape(segment, dtype, shape);
        Tensor out = Tensors.empty(dtype, shape);
        if (expected > 0) {
            view(out).copyFrom(segment);
        }
        return out;
    }

    /** Size in bytes of one element of {@code dtype}. */
    public static long elementSize(ScalarType dtype) {
        return torch.elementSize(dtype);
    }

    private static void checkWrappable(MemorySegment segment, ScalarType dtype, long[] shape) {
        Checks.notNull("segment", segment);
        if (!segment.isNative()) {
            throw new IllegalArgumentException("a heap segment cannot be wrapped without a copy"
                    + " (the GC may move it); use TensorSegments.copy(...)");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalArgumentException("the segment's arena is already closed");
        }
        checkShape(segment, dtype, shape);
        long size = elementSize(dtype);
        if (segment.address() % size != 0) {
            throw new IllegalArgumentException("segment address " + segment.address()
                    + " is not aligned to the " + size + "-byte elements of " + dtype);
        }
    }

    private static long checkShape(MemorySegment segment, ScalarType dtype, long[] shape) {
        Checks.notNull("dtype", dtype);
        long count = Checks.elementCount(shape);
        long bytes = Math.multiplyExact(count, elementSize(dtype));
        if (bytes != segment.byteSize()) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + bytes + " bytes but the segment has " + segment.byteSize());
        }
        return bytes;
    }

    /** A JavaCPP pointer at a segment's address; it owns nothing, so it has no deallocator. */
    private static final class SegmentPointer extends Pointer {
        SegmentPointer(MemorySegment segment) {
            address = segment.address();
            limit = segment.byteSize();
            capacity = segment.byteSize();
        }
    }
}
