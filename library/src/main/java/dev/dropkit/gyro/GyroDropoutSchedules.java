package dev.dropkit.gyro;

import dev.dropkit.core.Checks;
import dev.dropkit.schedule.Schedule;
import dev.dropkit.train.ScheduleCallback;
import java.util.List;
import org.bytedeco.pytorch.Module;

/**
 * Schedules of Gyro Dropout's {@code p}: early Gyro Dropout with {@link Schedule#early}, a late start
 * with {@link Schedule#late}, or any ramp, applied to every {@link GyroDropout} of a model and logged per
 * step as {@value #METRIC}.
 *
 * <p>Gyro Dropout's masks are drawn for one {@code p}: a new value is asked for before every step, but it
 * takes effect only at the next change of the active set, when the masks are redrawn for it
 * ({@link GyroDropout#setP}). The logged value is the one in force, {@link GyroDropout#effectiveP()} of
 * the model's first GyroDropout, so the log shows the steps at which the masks followed the schedule.
 *
 * <pre>{@code
 * GyroDropout.apply(net, options);
 * Trainer.builder(model).callback(GyroDropoutCallback.forModel(net))
 *         .callback(GyroDropoutSchedules.forModel(net, Schedule.early(0.5, 0.2))) ...
 * }</pre>
 */
public final class GyroDropoutSchedules {
    /** The metric the drop probability in force is logged under. */
    public static final String METRIC = "gyro_dropout/p";

    private GyroDropoutSchedules() {}

    /**
     * A callback that asks every {@link GyroDropout} in {@code model} for {@code p} before each step and logs
     * the first one's {@link GyroDropout#effectiveP()}.
     *
     * @throws IllegalArgumentException if the model holds no GyroDropout (replace its dropouts with
     *     {@link GyroDropout#apply} first); a scheduled value of 1 or more is refused when it is set
     */
    public static ScheduleCallback forModel(Module model, Schedule p) {
        Checks.notNull("p", p);
        Checks.notNull("model", model);
        List<GyroDropout> modules = model instanceof GyroDropout g ? List.of(g) : GyroDropout.findIn(model);
        if (modules.isEmpty()) {
            throw new IllegalArgumentException("no GyroDropout in the model to schedule: replace its dropouts with"
                    + " GyroDropout.apply first");
        }
        GyroDropout first = modules.get(0);
        return new ScheduleCallback(METRIC, p, value -> modules.forEach(g -> g.setP(value)), first::effectiveP);
    }
}
