package dev.dropkit.gyro;

import java.util.Locale;

/** How Gyro Dropout picks the {@code tau} sub-networks that are active between two re-draws. */
public enum GyroSelection {
    /**
     * Walk through a shuffled permutation of all {@code sigma} sub-networks, {@code tau} at a time, then
     * through a new permutation: every sub-network is used once before any is used twice, which is what
     * the paper's schedule (each sub-network trained about equally) asks for. The default.
     */
    PERMUTATION,
    /**
     * Each re-draw picks {@code tau} distinct sub-networks uniformly, independently of earlier draws: some
     * are used several times and some never. Kept for comparison with the reference implementation,
     * which draws like this (but with replacement, so a draw can repeat a sub-network; dropkit does not).
     */
    IID;

    /** Lower-case name, as shown in {@code toString} and accepted by {@link #parse(String)}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code permutation} or {@code iid}, ignoring case.
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static GyroSelection parse(String value) {
        if (value != null) {
            for (GyroSelection s : values()) {
                if (s.id().equalsIgnoreCase(value.trim())) {
                    return s;
                }
            }
        }
        throw new IllegalArgumentException("gyro selection must be 'permutation' or 'iid', got '" + value + "'");
    }
}
