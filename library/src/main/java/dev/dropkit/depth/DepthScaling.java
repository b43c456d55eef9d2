package dev.dropkit.depth;

import java.util.Locale;

/**
 * Where the keep-probability correction of a stochastically dropped branch goes. Both keep the
 * branch's expected contribution the same in training and evaluation; they differ in which phase pays.
 */
public enum DepthScaling {
    /**
     * Training leaves kept branches unscaled; evaluation computes {@code shortcut + (1 - rate) * branch}.
     * Composer's and Huang et al.'s semantics, and the default.
     */
    COMPOSER("composer", "train unscaled, eval shortcut + (1-rate)*branch"),
    /**
     * Training scales kept branches by {@code 1 / (1 - rate)}; evaluation is the plain block,
     * {@code shortcut + branch}. timm's and torchvision's {@code StochasticDepth}/{@code DropPath}.
     */
    INVERTED("inverted", "train kept branch*1/(1-rate), eval shortcut + branch");

    private final String id;
    private final String summary;

    DepthScaling(String id, String summary) {
        this.id = id;
        this.summary = summary;
    }

    /** {@code composer} or {@code inverted}. */
    public String id() {
        return id;
    }

    /** One line saying what training and evaluation compute, as shown in {@code toString}. */
    public String summary() {
        return summary;
    }

    /** The factor kept branches are multiplied by in training at drop rate {@code rate}. */
    public double trainScale(double rate) {
        return this == INVERTED && rate < 1.0 ? 1.0 / (1.0 - rate) : 1.0;
    }

    /**
     * Parses {@code composer} or {@code inverted} ({@code timm} and {@code torchvision} are accepted for the
     * latter), ignoring case.
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DepthScaling parse(String value) {
        if (value != null) {
            switch (value.trim().toLowerCase(Locale.ROOT)) {
                case "composer":
                    return COMPOSER;
                case "inverted", "timm", "torchvision":
                    return INVERTED;
                default:
                    break;
            }
        }
        throw new IllegalArgumentException("scaling must be 'composer' or 'inverted', got '" + value + "'");
    }
}
