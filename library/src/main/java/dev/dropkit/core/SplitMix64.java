package dev.dropkit.core;

/**
 * SplitMix64 (Steele, Lea and Flood; Java's {@link java.util.SplittableRandom}), the one place dropkit
 * turns a seed and a counter into well-spread 64-bit values. Stateless static functions: they allocate
 * nothing and are small enough for C2 to inline into hot loops. Their outputs fix seeds, schedules and
 * masks that tests and checkpoints pin, so they must never change.
 */
public final class SplitMix64 {
    /** The generator's increment, {@code 2^64} divided by the golden ratio (odd). */
    public static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;
    private static final long STREAM_OFFSET = 0x632BE59BD9B4E019L;

    private SplitMix64() {}

    /** The finalizer ({@code SplittableRandom}'s {@code mix64}): a bijection that spreads every input bit. */
    public static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * Output {@code index} (0-based) of a SplitMix64 generator whose state starts at {@code state}, without
     * stepping through the ones before it.
     */
    public static long nth(long state, long index) {
        return mix64(state + (index + 1) * GOLDEN_GAMMA);
    }

    /**
     * A non-negative seed for stream {@code stream} of a run seeded {@code seed}: different streams (epochs,
     * schedule cycles) of one seed look independent. Non-negative because some consumers print it or
     * reserve the sign.
     */
    public static long streamSeed(long seed, long stream) {
        return mix64(seed * GOLDEN_GAMMA + stream + STREAM_OFFSET) & Long.MAX_VALUE;
    }
}
