package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import java.util.Locale;

/**
 * Stochastic depth's hyperparameters, in Composer's vocabulary. Every builder setter, and the constructor,
 * validates its value and throws an {@link IllegalArgumentException} naming it.
 *
 * <pre>{@code
 * StochasticDepthOptions options = StochasticDepthOptions.builder()
 *         .targetLayerName("ResNetBottleneck").method("sample").dropRate(0.1).distribution("linear")
 *         .build();
 * }</pre>
 *
 * <p>Defaults are Composer's: every residual block, {@code block}, {@code drop_rate = 0.2},
 * {@code linear}, {@code drop_warmup = 0}, Composer scaling. Composer's method card suggests
 * {@code sample} with {@code drop_rate = 0.1} and {@code linear} for ResNet-50 on ImageNet.
 *
 * @param target the blocks to wrap
 * @param method {@code stochastic_method}
 * @param dropRate {@code drop_rate}: the rate of every block (uniform) or of the last one (linear)
 * @param distribution {@code drop_distribution}
 * @param warmup {@code drop_warmup}: fraction of training over which rates ramp linearly from 0 to their
 *     targets
 * @param scaling where the {@code 1 - rate} correction goes
 */
public record StochasticDepthOptions(BlockTarget target, DepthMethod method, double dropRate,
        DropDistribution distribution, double warmup, DepthScaling scaling) {

    /** @throws IllegalArgumentException naming a null component or a rate outside [0, 1] */
    public StochasticDepthOptions {
        Checks.notNull("target", target);
        Checks.notNull("stochastic_method", method);
        Checks.probability("drop_rate", dropRate);
        Checks.notNull("drop_distribution", distribution);
        Checks.probability("drop_warmup", warmup);
        Checks.notNull("scaling", scaling);
    }

    /** A builder with the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** The rate of block {@code index} of {@code count} (see {@link DropDistribution#rate}). */
    public double rateOfBlock(int index, int count) {
        return distribution.rate(dropRate, index, count);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT,
                "StochasticDepthOptions(target=%s, stochastic_method=%s, drop_rate=%s, drop_distribution=%s,"
                        + " drop_warmup=%s, scaling=%s [%s])",
                target.description(), method.id(), dropRate, distribution.id(), warmup, scaling.id(),
                scaling.summary());
    }

    /** Configures {@link StochasticDepthOptions}. */
    public static final class Builder {
        private BlockTarget target = BlockTarget.residualBlocks();
        private DepthMethod method = DepthMethod.BLOCK;
        private double dropRate = 0.2;
        private DropDistribution distribution = DropDistribution.LINEAR;
        private double warmup = 0.0;
        private DepthScaling scaling = DepthScaling.COMPOSER;

        private Builder() {}

        /** Which blocks to wrap (default: every {@link ResidualBlock}). */
        public Builder target(BlockTarget target) {
            this.target = Checks.notNull("target", target);
            return this;
        }

        /** Composer's {@code target_layer_name}: a block class's simple name or an alias such as {@code ResNetBottleneck}. */
        public Builder targetLayerName(String name) {
            return target(BlockTarget.named(name));
        }

        /** {@code stochastic_method} (default {@code block}). */
        public Builder method(DepthMethod method) {
            this.method = Checks.notNull("stochastic_method", method);
            return this;
        }

        /** {@code stochastic_method} by name: {@code sample}, {@code block} or {@code sample_fast}. */
        public Builder method(String method) {
            return method(DepthMethod.parse(method));
        }

        /** {@code drop_rate} in [0, 1] (default 0.2). */
        public Builder dropRate(double rate) {
            this.dropRate = Checks.probability("drop_rate", rate);
            return this;
        }

        /** {@code drop_distribution} (default {@code linear}). */
        public Builder distribution(DropDistribution distribution) {
            this.distribution = Checks.notNull("drop_distribution", distribution);
            return this;
        }

        /** {@code drop_distribution} by name: {@code uniform} or {@code linear}. */
        public Builder distribution(String distribution) {
            return distribution(DropDistribution.parse(distribution));
        }

        /** {@code drop_warmup} in [0, 1] (default 0: the full rate from the first step). */
        public Builder warmup(double fraction) {
            this.warmup = Checks.probability("drop_warmup", fraction);
            return this;
        }

        /** Where the {@code 1 - rate} correction goes (default {@link DepthScaling#COMPOSER}). */
        public Builder scaling(DepthScaling scaling) {
            this.scaling = Checks.notNull("scaling", scaling);
            return this;
        }

        /** Scaling by name: {@code composer} or {@code inverted}. */
        public Builder scaling(String scaling) {
            return scaling(DepthScaling.parse(scaling));
        }

        /** The options. */
        public StochasticDepthOptions build() {
            return new StochasticDepthOptions(target, method, dropRate, distribution, warmup, scaling);
        }
    }
}
