package dev.dropkit.dropgrad;

import dev.dropkit.core.SplitMix64;
import dev.dropkit.core.Tensors;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * DropGrad's masks on the CPU, from a counter-based hash instead of one Mersenne-Twister draw per element.
 *
 * <p>libtorch's CPU {@code uniform_} and {@code bernoulli_} draw every element serially from the
 * Mersenne Twister (3-7 ns an element here), which made a mask cost more than a whole training step of
 * a small MLP. Here one 64-bit key is drawn from libtorch's default CPU generator per round (so
 * {@link dev.dropkit.core.Seeds#seed(long)} and the trainer's reseeding still fix every mask), and one
 * 32-bit hash serves two elements:
 *
 * <ul>
 *   <li>elements are taken in blocks of {@value #BLOCK}; word {@code j < }{@value #HALF} of a block decides
 *       element {@code j} with its low 16 bits and element {@code j + }{@value #HALF} with its high 16 bits
 *       (so a block's two halves are two linear streams: vector code and C2 both handle that);
 *   <li>the word is {@code fmix(w * 0x9E3779B9 ^ lo(k))}, where {@code w} counts words (one per two
 *       elements) from the start of the tensor's 2^31-element segment, {@code k} is the tensor's key for
 *       segment 0 and a key derived from it for the others, and {@code fmix} is a bijective 32-bit
 *       finalizer (Wellons' {@code lowbias32});
 *   <li>an element is dropped when its 16 bits fall below {@code round(rate * 2^16)}.
 * </ul>
 *
 * So the drop probability is {@code rate} rounded to a multiple of 2^-16 (at most 7.6e-6 away; a rate
 * below 2^-17 drops nothing), and survivors are scaled by exactly {@code 1 / (1 - rate)}. Rates above
 * {@link #MAX_HASHED_RATE} do not come here: rounding would bias the expected gradient by more than
 * 2^-12. Sixteen bits and one hash round per two elements keep the mask close to the cost of touching
 * the gradient once: on the 269K gradient elements of a small MLP, in place, about 41 us against 24 us
 * for a bare SIMD multiply (two rounds and 31 bits per element took 105 us).
 *
 * <p>When the JVM runs with {@code --add-modules jdk.incubator.vector} (the launcher, the tests and the
 * benchmarks do), float gradients go through {@code VectorMasks}, which reads and writes the tensor's
 * memory directly with explicit SIMD; otherwise a plain Java loop over copied blocks gives the same bits
 * (C2 vectorizes it, but not over native memory: about 2.3 times slower, 95 against 41 us in place on the
 * MLP's 269K gradient elements). {@code -Ddropkit.vector=false} forces
 * the plain loop. Either way it runs on the calling thread (splitting it over a fork-join worker measured
 * slower on our shared 2-core VM).
 */
final class CpuMasks {
    private CpuMasks() {}

    static final int GOLDEN32 = 0x9E3779B9;
    /** Elements per block: a multiple of 32 that divides 2^31. */
    static final int BLOCK = 4096;
    /** Words per block; word {@code j} decides elements {@code j} and {@code j + HALF}. */
    static final int HALF = BLOCK / 2;
    private static final long SEGMENT = 1L << 31;
    private static final int ONE16 = 1 << 16;
    /** {@code j * GOLDEN32}: the counter steps of one block, so the hot loop reads an array instead of an iota. */
    private static final int[] STEPS = new int[HALF];
    private static final boolean VECTOR = vectorAvailable();

    static {
        for (int j = 0; j < HALF; j++) {
            STEPS[j] = j * GOLDEN32;
        }
    }

    /** Whether float gradients use the explicit-SIMD kernel ({@code jdk.incubator.vector} is loaded). */
    static boolean vectorized() {
        return VECTOR;
    }

    private static boolean vectorAvailable() {
        if (!Boolean.parseBoolean(System.getProperty("dropkit.vector", "true"))
                || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return false;
        }
        try {
            return VectorMasks.usable();
        } catch (LinkageError e) { // a module present but unusable: the plain loop gives the same bits
            return false;
        }
    }

    /** The one-element tensor keys are drawn into, kept so a draw allocates nothing (guarded by the class). */
    private static Tensor keyTensor;
    private static MemorySegment keyMemory;
    private static LongOptional noUpperBound;
    private static GeneratorOptional defaultGenerator;

    /**
     * One 64-bit draw from libtorch's default CPU generator ({@code from = Long.MIN_VALUE} and no {@code to}:
     * all 64 bits, see native-notes), under libtorch's generator lock, into a tensor kept for the purpose
     * (allocating one per draw cost 7 us, more than the rest of a small gradient's mask).
     */
    static synchronized long drawKey() {
        if (keyTensor == null) {
            try (PointerScope ignored = new PointerScope()) { // kept past the scope: retained below
                keyTensor = Tensors.empty(ScalarType.Long, 1);
                noUpperBound = new LongOptional();
                defaultGenerator = new GeneratorOptional();
                keyTensor.retainReference();
                noUpperBound.retainReference();
                defaultGenerator.retainReference();
            }
            keyMemory = MemorySegment.ofAddress(keyTensor.data_ptr().address()).reinterpret(Long.BYTES);
        }
        keyTensor.random_(Long.MIN_VALUE, noUpperBound, defaultGenerator); // returns a non-owning view of keyTensor
        return keyMemory.get(ValueLayout.JAVA_LONG, 0);
    }

    /** The key of tensor {@code index} in a round keyed {@code roundKey}: a SplitMix64 stream started at the round key. */
    static long subKey(long roundKey, long index) {
        return SplitMix64.nth(roundKey, index);
    }

    /**
     * The highest rate the hash masks serve, {@code 1 - 2^-5}. Rounding the drop probability to a multiple
     * of 2^-16 scales the expected gradient by {@code (1 - rounded) / (1 - rate)}, at most {@code 2^-17 /
     * (1 - rate)} away from 1: 2^-12 here, 15 at rate 0.999999 (where the rounding would also hit the
     * cap). Above it the CPU draws exact masks with libtorch's {@code uniform_}, as CUDA does.
     */
    static final double MAX_HASHED_RATE = 1.0 - 0x1p-5;

    /** Whether a CPU gradient at {@code rate} is masked by the hash (else by an exact {@code uniform_} mask). */
    static boolean hashes(double rate) {
        return rate <= MAX_HASHED_RATE;
    }

    /** {@code round(rate * 2^16)}: an element is dropped when its 16 hash bits are below it. */
    static int threshold(double rate) {
        return (int) Math.min(Math.round(rate * ONE16), ONE16 - 1);
    }

    /** The drop probability a rate is rounded to: {@code threshold(rate) / 2^16}. */
    static double effectiveRate(double rate) {
        return threshold(rate) / (double) ONE16;
    }

    /** Whether the fast kernels can work on {@code t} directly: a contiguous float or double CPU tensor. */
    static boolean direct(TensorBase t) {
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
    static void drop(TensorBase in, TensorBase out, double rate, long key) {
        drop(in, out, rate, key, VECTOR);
    }

    /** {@link #drop(TensorBase, TensorBase, double, long)} with the kernel chosen: tests compare the two. */
    static void drop(TensorBase in, TensorBase out, double rate, long key, boolean vector) {
        multiply(in, out, threshold(rate), 1.0 / (1.0 - rate), key, vector);
    }

    /** {@code in * keep * scale} into {@code out}, the keep bits being those of {@code threshold} and {@code key}. */
    private static void multiply(TensorBase in, TensorBase out, int threshold, double scale, long key, boolean vector) {
        long n = in.numel();
        if (n == 0) {
            return;
        }
        boolean isDouble = in.scalar_type().intern() == ScalarType.Double;
        long bytes = n * (isDouble ? Double.BYTES : Float.BYTES);
        MemorySegment src = MemorySegment.ofAddress(in.data_ptr().address()).reinterpret(bytes);
        MemorySegment dst = out == in ? src : MemorySegment.ofAddress(out.data_ptr().address()).reinterpret(bytes);
        Blocks blocks = null;
        for (long e0 = 0; e0 < n; ) {
            long segmentEnd = Math.min(n, (e0 / SEGMENT + 1) * SEGMENT);
            int lo = (int) segmentKey(key, e0);
            if (vector && !isDouble && segmentEnd - e0 >= BLOCK) { // whole blocks in SIMD, the tail below
                long whole = (segmentEnd - e0) / BLOCK;
                VectorMasks.dropFloats(src, dst, e0, whole, wordBase(e0), lo, threshold, (float) scale);
                e0 += whole * BLOCK;
            }
            blocks = blocks != null ? blocks : new Blocks(isDouble);
            for (; e0 < segmentEnd; e0 += BLOCK) {
                blocks.drop(src, dst, e0, (int) Math.min(BLOCK, segmentEnd - e0), wordBase(e0), lo, threshold, scale);
            }
        }
    }

    /** {@code GOLDEN32} times the number of words before block {@code e0} in its segment (two elements a word). */
    static int wordBase(long e0) {
        return (int) ((e0 % SEGMENT) >>> 1) * GOLDEN32;
    }

    /**
     * A contiguous float32 CPU tensor of the given shape: 1 where an element is kept, 0 where dropped (ones
     * run through the same kernel with scale 1).
     */
    static Tensor keepMask(long[] shape, double rate, long key) {
        Tensor mask = Tensors.empty(ScalarType.Float, shape).fill_(new Scalar(1.0));
        multiply(mask, mask, threshold(rate), 1.0, key, VECTOR);
        return mask;
    }

    /** The multipliers of {@link #fmix}: {@code VectorMasks} computes the same function lane by lane. */
    static final int FMIX_1 = 0x21F0AAAD;
    static final int FMIX_2 = 0x735A2D97;

    static int fmix(int x) {
        x ^= x >>> 16;
        x *= FMIX_1;
        x ^= x >>> 15;
        x *= FMIX_2;
        return x ^ (x >>> 15);
    }

    /** The key of the 2^31-element segment holding element {@code e}. */
    private static long segmentKey(long key, long e) {
        long segment = e / SEGMENT;
        return segment == 0 ? key : subKey(key, -segment);
    }

    /** {@code 1} if {@code bits >= threshold}, else {@code 0}, as arithmetic (a sign shift), not a branch. */
    private static int keep(int bits, int threshold) {
        return 1 + ((bits - threshold) >> 31);
    }

    /**
     * The plain-Java kernel: each block is copied into two arrays (its two halves), multiplied, copied back.
     * The loops are plain int and float arithmetic, which C2 vectorizes. One per call, so the arrays are too.
     */
    private static final class Blocks {
        private final float[] lowFloats;
        private final float[] highFloats;
        private final double[] lowDoubles;
        private final double[] highDoubles;

        Blocks(boolean doubles) {
            lowFloats = doubles ? null : new float[HALF];
            highFloats = doubles ? null : new float[HALF];
            lowDoubles = doubles ? new double[HALF] : null;
            highDoubles = doubles ? new double[HALF] : null;
        }

        void drop(MemorySegment src, MemorySegment dst, long e0, int len, int base, int lo, int threshold,
                double scale) {
            int low = Math.min(len, HALF);
            int high = len - low;
            if (lowFloats != null) {
                MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, e0 * Float.BYTES, lowFloats, 0, low);
                if (high > 0) { // a segment may end before e0 + HALF: no zero-length copy past its end
                    MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, (e0 + HALF) * Float.BYTES, highFloats, 0, high);
                }
                scaleFloats(lowFloats, highFloats, low, high, base, lo, threshold, (float) scale);
                MemorySegment.copy(lowFloats, 0, dst, ValueLayout.JAVA_FLOAT, e0 * Float.BYTES, low);
                if (high > 0) {
                    MemorySegment.copy(highFloats, 0, dst, ValueLayout.JAVA_FLOAT, (e0 + HALF) * Float.BYTES, high);
                }
            } else {
                MemorySegment.copy(src, ValueLayout.JAVA_DOUBLE, e0 * Double.BYTES, lowDoubles, 0, low);
                if (high > 0) {
                    MemorySegment.copy(src, ValueLayout.JAVA_DOUBLE, (e0 + HALF) * Double.BYTES, highDoubles, 0, high);
                }
                scaleDoubles(lowDoubles, highDoubles, low, high, base, lo, threshold, scale);
                MemorySegment.copy(lowDoubles, 0, dst, ValueLayout.JAVA_DOUBLE, e0 * Double.BYTES, low);
                if (high > 0) {
                    MemorySegment.copy(highDoubles, 0, dst, ValueLayout.JAVA_DOUBLE, (e0 + HALF) * Double.BYTES, high);
                }
            }
        }
    }

    /** {@code x * keep * scale} over a block's halves: word {@code j} decides {@code lowHalf[j]} and {@code highHalf[j]}. */
    private static void scaleFloats(float[] lowHalf, float[] highHalf, int low, int high, int base, int lo,
            int threshold, float scale) {
        int[] steps = STEPS;
        for (int j = 0; j < high; j++) {
            int x = fmix((base + steps[j]) ^ lo);
            lowHalf[j] = lowHalf[j] * (float) keep(x & 0xFFFF, threshold) * scale;
            highHalf[j] = highHalf[j] * (float) keep(x >>> 16, threshold) * scale;
        }
        for (int j = high; j < low; j++) {
            int x = fmix((base + steps[j]) ^ lo);
            lowHalf[j] = lowHalf[j] * (float) keep(x & 0xFFFF, threshold) * scale;
        }
    }

    private static void scaleDoubles(double[] lowHalf, double[] highHalf, int low, int high, int base, int lo,
            int threshold, double scale) {
        int[] steps = STEPS;
        for (int j = 0; j < high; j++) {
            int x = fmix((base + steps[j]) ^ lo);
            lowHalf[j] = lowHalf[j] * (double) keep(x & 0xFFFF, threshold) * scale;
            highHalf[j] = highHalf[j] * (double) keep(x >>> 16, threshold) * scale;
        }
        for (int j = high; j < low; j++) {
            int x = fmix((base + steps[j]) ^ lo);
            lowHalf[j] = lowHalf[j] * (double) keep(x & 0xFFFF, threshold) * scale;
        }
    }
}
