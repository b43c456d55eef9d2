package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.schedule.Schedule;
import dev.dropkit.train.ScheduleCallback;
import java.util.List;
import org.bytedeco.pytorch.Module;

/**
 * Schedules of the stochastic-depth rate: a linear ramp of drop-path rate, a late start, or any
 * {@link Schedule}. The schedule gives the model's drop rate, the rate of its deepest block (Composer's
 * {@code drop_rate}); each block keeps its share of it from the drop distribution, so a linear
 * distribution stays linear over depth. Logged per step as {@value #METRIC}, as Composer logs it.
 *
 * <pre>{@code
 * StochasticDepthSurgery.apply(net, options);
 * Trainer.builder(model).callback(StochasticDepthSchedules.forModel(net, Schedule.linear(0.0, 0.2))) ...
 * }</pre>
 */
public final class StochasticDepthSchedules {
    /** The metric the model's current drop rate is logged under. */
    public static final String METRIC = "stochastic_depth/drop_rate";

    private StochasticDepthSchedules() {}

    /**
     * A callback that sets every wrapper's rate to {@code targetRate * rate / maxTargetRate} before each step.
     *
     * @throws IllegalArgumentException if the model has no {@link StochasticDepth} wrapper, or every target
     *     rate is 0 (there is no distribution to scale)
     */
    public static ScheduleCallback forModel(Module model, Schedule rate) {
        Checks.notNull("rate", rate);
        List<StochasticDepth> wrappers = StochasticDepthSurgery.wrappers(model);
        if (wrappers.isEmpty()) {
            throw new IllegalArgumentException("no StochasticDepth block in the model to schedule: apply"
                    + " StochasticDepthSurgery first");
        }
        double max = wrappers.stream().mapToDouble(StochasticDepth::targetRate).max().orElse(0);
        if (max == 0) {
            throw new IllegalArgumentException("every block's target rate is 0: there is no distribution over depth"
                    + " to scale; apply StochasticDepthSurgery with a drop rate above 0");
        }
        return new ScheduleCallback(METRIC, rate, value -> {
            Checks.probability("drop_rate", value);
            for (StochasticDepth sd : wrappers) {
                sd.setRate(Math.min(1.0, sd.targetRate() * (value / max)));
            }
        });
    }
}
