package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.core.NamedEnum;

/** How the drop rate is spread over a model's residual blocks (Composer's {@code drop_distribution}). */
public enum DropDistribution implements NamedEnum {
    /** Every block uses {@code drop_rate}. */
    UNIFORM,
    /**
     * Block {@code i} (0-based) of {@code L} uses {@code ((i + 1) / L) * drop_rate}: early blocks, which
     * extract low-level features every later block needs, are dropped least, and the last block uses
     * exactly {@code drop_rate} (the quotient is computed first, as Composer does, so it is exactly 1
     * there). Huang et al.'s "linear decay" rule with {@code p_L = drop_rate}.
     */
    LINEAR;

    /**
     * The rate of block {@code index} (0-based, in the model's block order) of {@code count} blocks.
     *
     * @throws IllegalArgumentException if the rate is outside [0, 1], {@code count} is not positive or
     *     {@code index} is outside [0, count)
     */
    public double rate(double dropRate, int index, int count) {
        Checks.probability("drop_rate", dropRate);
        Checks.positive("block count", count);
        if (index < 0 || index >= count) {
            throw new IllegalArgumentException("block index must be in [0, " + count + "), got " + index);
        }
        return this == UNIFORM ? dropRate : ((index + 1) / (double) count) * dropRate;
    }

    /**
     * Parses {@code uniform} or {@code linear} (see {@link NamedEnum#parse}).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DropDistribution parse(String value) {
        return NamedEnum.parse(DropDistribution.class, "drop_distribution", value);
    }
}
