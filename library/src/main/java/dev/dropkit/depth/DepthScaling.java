package dev.dropkit.depth;

import dev.dropkit.core.NamedEnum;
import java.util.List;

/**
 * Where the keep-probability correction of a stochastically dropped branch goes. Both keep the
 * branch's expected contribution the same in training and evaluation; they differ in which phase pays.
 */
public enum DepthScaling implements NamedEnum {
    /**
     * Training leaves kept branches unscaled; evaluation computes {@code shortcut + (1 - rate) * branch}.
     * Composer's and Huang et al.'s semantics, and the default.
     */
    COMPOSER("train unscaled, eval shortcut + (1-rate)*branch"),
    /**
     * Training scales kept branches by {@code 1 / (1 - rate)}; evaluation is the plain block,
     * {@code shortcut + branch}. timm's and torchvision's {@code StochasticDepth}/{@code DropPath}.
     */
    INVERTED("train kept branch*1/(1-rate), eval shortcut + branch", "timm", "torchvision");

    private final String summary;
    private final List<String> aliases;

    DepthScaling(String summary, String... aliases) {
        this.summary = summary;
        this.aliases = List.of(aliases);
    }

    /** The libraries whose name {@link #parse} also accepts for this placement. */
    @Override
    public List<String> aliases() {
        return aliases;
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
     * latter; see {@link NamedEnum#parse}).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DepthScaling parse(String value) {
        return NamedEnum.parse(DepthScaling.class, "scaling", value);
    }
}
