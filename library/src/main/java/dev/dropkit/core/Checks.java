package dev.dropkit.core;

/**
 * Argument checks that fail with an {@link IllegalArgumentException} naming the argument and the bad
 * value, so a user sees "p must be in [0, 1], got NaN" instead of a native crash later.
 */
public final class Checks {
    private Checks() {}

    /** A probability in the closed interval [0, 1]; NaN and infinities are rejected. */
    public static double probability(String name, double value) {
        if (!(value >= 0.0 && value <= 1.0)) {
            throw new IllegalArgumentException(name + " must be in [0, 1], got " + value);
        }
        return value;
    }

    /** A probability in the half-open interval [0, 1), for rates that divide by {@code 1 - value}. */
    public static double probabilityBelowOne(String name, double value) {
        if (!(value >= 0.0 && value < 1.0)) {
            throw new IllegalArgumentException(name + " must be in [0, 1), got " + value);
        }
        return value;
    }

    /** A strictly positive count. */
    public static long positive(String name, long value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
        return value;
    }

    /** A count that may be zero but not negative. */
    public static long nonNegative(String name, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(name + " must not be negative, got " + value);
        }
        return value;
    }

    /** A non-null argument. */
    public static <T> T notNull(String name, T value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        return value;
    }

    /**
     * Number of elements of a tensor of {@code shape}.
     *
     * @throws IllegalArgumentException if a dimension is negative or the count exceeds {@code 2^63 - 1}
     */
    public static long elementCount(long[] shape) {
        notNull("shape", shape);
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape)
                        + " has a negative dimension " + d);
            }
            try {
                count = Math.multiplyExact(count, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape)
                        + " has over 2^63 - 1 elements");
            }
        }
        return count;
    }
}
