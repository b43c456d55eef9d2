package dev.dropkit.dropgrad;

import static jdk.incubator.vector.VectorOperators.AND;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.XOR;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link CpuMasks}'s float kernel in explicit SIMD ({@code jdk.incubator.vector}), reading and writing the
 * tensor's memory in place of copying blocks into Java arrays. Same bits as the plain loop, whatever the
 * machine's vector width: a block's word {@code j} still decides elements {@code j} and {@code j + HALF}, and a
 * vector simply covers consecutive words.
 *
 * <p>Only {@link CpuMasks} touches this class, and only after checking that the module is loaded, so
 * a JVM without {@code --add-modules jdk.incubator.vector} never links it.
 */
final class VectorMasks {
    private VectorMasks() {}

    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** Whether the preferred shape has at least 4 lanes, as many of ints as of floats, dividing a half block. */
    static boolean usable() {
        int lanes = INTS.length();
        return lanes >= 4 && lanes == FLOATS.length() && CpuMasks.HALF % lanes == 0;
    }

    /**
     * {@code blocks} whole blocks of floats from element {@code e0}, all in one 2^31-element segment of key
     * {@code lo}; {@code base} is {@link CpuMasks#wordBase} of {@code e0}.
     */
    static void dropFloats(MemorySegment src, MemorySegment dst, long e0, long blocks, int base, int lo,
            int threshold, float scale) {
        int lanes = INTS.length();
        int golden = CpuMasks.GOLDEN32;
        IntVector steps = IntVector.zero(INTS).addIndex(1).mul(golden); // j * GOLDEN32 for the vector's words
        int stride = lanes * golden;
        FloatVector zero = FloatVector.zero(FLOATS);
        FloatVector scaled = FloatVector.broadcast(FLOATS, scale);
        long halfBytes = (long) CpuMasks.HALF * Float.BYTES;
        for (long b = 0; b < blocks; b++) {
            long lowAt = (e0 + b * CpuMasks.BLOCK) * Float.BYTES;
            IntVector words = steps.add(base + (int) b * CpuMasks.HALF * golden);
            for (int j = 0; j < CpuMasks.HALF; j += lanes) {
                IntVector x = words.lanewise(XOR, lo);
                x = x.lanewise(XOR, x.lanewise(LSHR, 16)).mul(CpuMasks.FMIX_1);
                x = x.lanewise(XOR, x.lanewise(LSHR, 15)).mul(CpuMasks.FMIX_2);
                x = x.lanewise(XOR, x.lanewise(LSHR, 15));
                words = words.add(stride);
                long at = lowAt + (long) j * Float.BYTES;
                FloatVector keepLow = zero.blend(scaled, x.lanewise(AND, 0xFFFF).compare(GE, threshold).cast(FLOATS));
                FloatVector keepHigh = zero.blend(scaled, x.lanewise(LSHR, 16).compare(GE, threshold).cast(FLOATS));
                FloatVector.fromMemorySegment(FLOATS, src, at, ORDER).mul(keepLow).intoMemorySegment(dst, at, ORDER);
                FloatVector.fromMemorySegment(FLOATS, src, at + halfBytes, ORDER).mul(keepHigh)
                        .intoMemorySegment(dst, at + halfBytes, ORDER);
            }
        }
    }
}
