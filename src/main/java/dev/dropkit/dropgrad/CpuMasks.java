package dev.dropkit.dropgrad;

import dev.dropkit.core.Tensors;
import dev.dropkit.ffm.TensorSegments;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * DropGrad's masks on the CPU, from a counter-based hash instead of one Mersenne-Twister draw per element.
 *
 * <p>libtorch's CPU {@code uniform_} and {@code bernoulli_} draw every element serially from the
 * Mersenne Twister (3-7 ns an element here), which made a mask cost more than a whole training step of
 * a small MLP. Here one 64-bit key is drawn from libtorch's default CPU generator per round (so
 * {@link dev.dropkit.core.Seeds#seed(long)} and the trainer's reseeding still fix every mask), and element
 * {@code e} of the tensor with key {@code k} is dropped when the top 31 bits of
 * {@code h(e) = fmix(fmix(e * 0x9E3779B9 + lo(k)) ^ hi(k))} fall below {@code round(rate * 2^31)}.
 * {@code fmix} is a 32-bit bijective finalizer (Wellons' {@code lowbias32}); two keyed rounds keep masks
 * of different keys from being shifted copies of each other. The loop is plain int and float arithmetic
 * over Java arrays, which C2 vectorizes; elements past 2^31 use a key derived per 2^31-element segment.
 * It runs on the calling thread (splitting it over a fork-join worker measured slower on our shared 2-core VM).
 *
 * <p>So the drop probability is {@code rate} rounded to a multiple of 2^-31 (the float uniforms used
 * before rounded it to 2^-24), and survivors are scaled by exactly {@code 1 / (1 - rate)}.
 */
final class CpuMasks {
    private CpuMasks() {}

    private static final long GOLDEN64 = 0x9E3779B97F4A7C15L;
    private static final int GOLDEN32 = 0x9E3779B9;
    private static final int BLOCK = 4096;
    private static final long SEGMENT = 1L << 31;
    /** {@code j * GOLDEN32}: the counter steps of one block, so the hot loop reads an array instead of an iota. */
    private static final int[] STEPS = new int[BLOCK];

    static {
        for (int j = 0; j < BLOCK; j++) {
            STEPS[j] = j * GOLDEN32;
        }
    }

    /**
     * One 64-bit draw from libtorch's default CPU generator ({@code from = Long.MIN_VALUE} and no {@code to}:
     * all 64 bits, see native-notes). Its one-element tensor is freed before it returns.
     */
    static long drawKey() {
        try (PointerScope ignored = new PointerScope()) {
            Tensor t = Tensors.empty(ScalarType.Long, 1);
            return t.random_(Long.MIN_VALUE, new LongOptional(), new GeneratorOptional()).item_long();
        }
    }

    /** The key of tensor {@code index} in a round keyed {@code roundKey} (SplittableRandom's mix64). */
    static long subKey(long roundKey, long index) {
        long z = roundKey + (index + 1) * GOLDEN64;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** {@code round(rate * 2^31)}: an element is dropped when its 31 hash bits are below it. */
    static int threshold(double rate) {
        return (int) Math.min(Math.round(rate * SEGMENT), SEGMENT - 1);
    }

    /** The drop probability a rate is rounded to: {@code threshold(rate) / 2^31}. */
    static double effectiveRate(double rate) {
        return threshold(rate) / (double) SEGMENT;
    }

    /** Whether the fast kernels can work on {@code t} directly: a contiguous float or double CPU tensor. */
    static boolean direct(Tensor t) {
        if (!t.is_cpu() || !t.is_contiguous()) {
            return false;
        }
        ScalarType s = t.scalar_type().intern();
        return s == ScalarType.Float || s == ScalarType.Double;
    }

    /**
     * {@code (in * keep) * (1 / (1 - rate))} into {@code out} (which may be {@code in}): the same bits
     * libtorch's {@code in.mul(keep).mul_(scale)} gives. Both must be contiguous CPU tensors of one
     * floating dtype, float or double (see {@link #direct}), with the same number of elements.
     */
    static void drop(Tensor in, Tensor out, double rate, long key) {
        long n = in.numel();
        if (n == 0) {
            return;
        }
        boolean isDouble = in.scalar_type().intern() == ScalarType.Double;
        long bytes = n * (isDouble ? Double.BYTES : Float.BYTES);
        MemorySegment src = MemorySegment.ofAddress(in.data_ptr().address()).reinterpret(bytes);
        MemorySegment dst = out == in ? src : MemorySegment.ofAddress(out.data_ptr().address()).reinterpret(bytes);
        if (isDouble) {
            dropDoubles(src, dst, 0, n, key, threshold(rate), 1.0 / (1.0 - rate));
        } else {
            dropFloats(src, dst, 0, n, key, threshold(rate), (float) (1.0 / (1.0 - rate)));
        }
    }

    /** A contiguous float32 CPU tensor of the given shape: 1 where an element is kept, 0 where dropped. */
    static Tensor keepMask(long[] shape, double rate, long key) {
        Tensor mask = Tensors.empty(ScalarType.Float, shape);
        long n = mask.numel();
        if (n > 0) {
            MemorySegment dst = TensorSegments.view(mask);
            keepFloats(dst, 0, n, key, threshold(rate));
        }
        return mask;
    }

    private static int fmix(int x) {
        x ^= x >>> 16;
        x *= 0x21F0AAAD;
        x ^= x >>> 15;
        x *= 0x735A2D97;
        return x ^ (x >>> 15);
    }

    /** The key of the 2^31-element segment holding element {@code e}. */
    private static long segmentKey(long key, long e) {
        long segment = e / SEGMENT;
        return segment == 0 ? key : subKey(key, -segment);
    }

    /**
     * The hot loops below drop element {@code j} of a block when {@code (hash >>> 1) < threshold}, written as
     * arithmetic (a sign shift and an int-to-float conversion give the keep factor 1 or 0), not a branch,
     * so that C2 vectorizes them. They work on Java arrays: C2 does not vectorize the same loops over
     * native {@link MemorySegment}s, so each block is copied in and out (about a third of the time).
     */
    private static void dropFloats(MemorySegment src, MemorySegment dst, long from, long to, long key, int threshold,
            float scale) {
        float[] buf = new float[BLOCK];
        int[] steps = STEPS;
        for (long e0 = from; e0 < to; e0 += BLOCK) {
            int len = blockLength(e0, to);
            long k = segmentKey(key, e0);
            int base = (int) k + (int) (e0 % SEGMENT) * GOLDEN32;
            int k1 = (int) (k >>> 32);
            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, e0 * Float.BYTES, buf, 0, len);
            for (int j = 0; j < len; j++) {
                int x = fmix(fmix(steps[j] + base) ^ k1);
                buf[j] = buf[j] * (float) (1 + (((x >>> 1) - threshold) >> 31)) * scale;
            }
            MemorySegment.copy(buf, 0, dst, ValueLayout.JAVA_FLOAT, e0 * Float.BYTES, len);
        }
    }

    private static void dropDoubles(MemorySegment src, MemorySegment dst, long from, long to, long key, int threshold,
            double scale) {
        double[] buf = new double[BLOCK];
        int[] steps = STEPS;
        for (long e0 = from; e0 < to; e0 += BLOCK) {
            int len = blockLength(e0, to);
            long k = segmentKey(key, e0);
            int base = (int) k + (int) (e0 % SEGMENT) * GOLDEN32;
            int k1 = (int) (k >>> 32);
            MemorySegment.copy(src, ValueLayout.JAVA_DOUBLE, e0 * Double.BYTES, buf, 0, len);
            for (int j = 0; j < len; j++) {
                int x = fmix(fmix(steps[j] + base) ^ k1);
                buf[j] = buf[j] * (double) (1 + (((x >>> 1) - threshold) >> 31)) * scale;
            }
            MemorySegment.copy(buf, 0, dst, ValueLayout.JAVA_DOUBLE, e0 * Double.BYTES, len);
        }
    }

    private static void keepFloats(MemorySegment dst, long from, long to, long key, int threshold) {
        float[] keep = new float[BLOCK];
        int[] steps = STEPS;
        for (long e0 = from; e0 < to; e0 += BLOCK) {
            int len = blockLength(e0, to);
            long k = segmentKey(key, e0);
            int base = (int) k + (int) (e0 % SEGMENT) * GOLDEN32;
            int k1 = (int) (k >>> 32);
            for (int j = 0; j < len; j++) {
                int x = fmix(fmix(steps[j] + base) ^ k1);
                keep[j] = (float) (1 + (((x >>> 1) - threshold) >> 31));
            }
            MemorySegment.copy(keep, 0, dst, ValueLayout.JAVA_FLOAT, e0 * Float.BYTES, len);
        }
    }

    /** Blocks never straddle a segment boundary (2^31 is a multiple of BLOCK) or the end of the range. */
    private static int blockLength(long e0, long to) {
        return (int) Math.min(BLOCK, to - e0);
    }
}
