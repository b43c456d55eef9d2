package dev.dropkit.gyro;

import dev.dropkit.core.NamedEnum;

/** How Gyro Dropout picks the {@code tau} sub-networks that are active between two re-draws. */
public enum GyroSelection implements NamedEnum {
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

    /**
     * Parses {@code permutation} or {@code iid} (see {@link NamedEnum#parse}).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static GyroSelection parse(String value) {
        return NamedEnum.parse(GyroSelection.class, "gyro selection", value);
    }
}
