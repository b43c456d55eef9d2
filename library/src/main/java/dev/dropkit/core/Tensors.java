package dev.dropkit.core;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Small tensor helpers the JavaCPP API makes verbose: shapes, options, scalars and copies to Java. */
public final class Tensors {
    private Tensors() {}

    /** The tensor's shape as a Java array. */
    public static long[] shape(Tensor t) {
        long[] shape = new long[(int) t.dim()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = t.size(i);
        }
        return shape;
    }

    /** Options for {@code dtype} on {@code device}. */
    public static TensorOptions options(ScalarType dtype, Device device) {
        return new TensorOptions(dtype).device(new DeviceOptional(device));
    }

    /** An uninitialized CPU tensor. */
    public static Tensor empty(ScalarType dtype, long... shape) {
        return torch.empty(shape, new TensorOptions(dtype), new MemoryFormatOptional());
    }

    /** A libtorch scalar holding {@code value}. */
    public static Scalar scalar(double value) {
        return new Scalar(value);
    }

    /** Copies a float tensor (any device, any layout) into a Java array. */
    public static float[] toFloatArray(Tensor t) {
        Tensor cpu = t.detach().to(torch.ScalarType.Float).cpu().contiguous();
        return bytesOf(cpu).toArray(ValueLayout.JAVA_FLOAT);
    }

    /** Copies a Java array into a new float CPU tensor of the given shape. */
    public static Tensor fromFloats(float[] values, long... shape) {
        long[] dims = checkedShape(values.length, shape);
        Tensor out = empty(ScalarType.Float, dims);
        MemorySegment.copy(values, 0, bytesOf(out), ValueLayout.JAVA_FLOAT, 0, values.length);
        return out;
    }

    /**
     * Copies a Java array into a new double CPU tensor of the given shape (the bindings have no
     * {@code tensor(double...)} overload).
     */
    public static Tensor fromDoubles(double[] values, long... shape) {
        long[] dims = checkedShape(values.length, shape);
        Tensor out = empty(ScalarType.Double, dims);
        MemorySegment.copy(values, 0, bytesOf(out), ValueLayout.JAVA_DOUBLE, 0, values.length);
        return out;
    }

    /** {@code shape}, or {@code [count]} when empty, after checking that it holds exactly {@code count} values. */
    private static long[] checkedShape(int count, long[] shape) {
        if (shape.length == 0) {
            return new long[] {count};
        }
        long elements = Checks.elementCount(shape);
        if (elements != count) {
            throw new IllegalArgumentException(count + " values do not fill shape " + Arrays.toString(shape)
                    + " (" + elements + " elements)");
        }
        return shape;
    }

    /** Copies a tensor (any device, any layout) into a Java double array. */
    public static double[] toDoubleArray(Tensor t) {
        Tensor cpu = t.detach().to(torch.ScalarType.Double).cpu().contiguous();
        return bytesOf(cpu).toArray(ValueLayout.JAVA_DOUBLE);
    }

    /**
     * The bytes of a contiguous CPU tensor, which every caller here has just made. Not
     * {@code TensorSegments.view}, which checks what these callers guarantee: core stays below ffm.
     */
    private static MemorySegment bytesOf(Tensor contiguousCpu) {
        long bytes = contiguousCpu.numel() * contiguousCpu.element_size();
        return bytes == 0 ? MemorySegment.NULL
                : MemorySegment.ofAddress(contiguousCpu.data_ptr().address()).reinterpret(bytes);
    }

    /** Number of elements equal to zero. */
    public static long countZeros(Tensor t) {
        return t.eq(new Scalar(0.0)).sum().item_long();
    }
}
