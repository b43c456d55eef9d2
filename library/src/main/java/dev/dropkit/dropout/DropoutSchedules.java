package dev.dropkit.dropout;

import dev.dropkit.core.Checks;
import dev.dropkit.schedule.Schedule;
import dev.dropkit.surgery.ModuleSlot;
import dev.dropkit.surgery.ModuleSurgery;
import dev.dropkit.train.ScheduleCallback;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Module;

/**
 * Schedules of dropout's {@code p}: early dropout (Liu et al. 2023) with {@link Schedule#early}, late
 * dropout with {@link Schedule#late}, or any ramp, applied to every dropkit {@link Dropout} of a model
 * and logged per step as {@value #METRIC}.
 *
 * <pre>{@code
 * Trainer.builder(model).callback(DropoutSchedules.forModel(net, Schedule.early(0.1, 0.2))) ...
 * }</pre>
 */
public final class DropoutSchedules {
    /** The metric the current {@code p} is logged under. */
    public static final String METRIC = "dropout/p";

    private DropoutSchedules() {}

    /**
     * A callback that sets {@code p} of every {@link Dropout} in {@code model} from {@code p} before each step.
     *
     * @throws IllegalArgumentException if the model holds no dropkit {@code Dropout} (native
     *     {@code DropoutImpl}s cannot change their rate: replace them with surgery first)
     */
    public static ScheduleCallback forModel(Module model, Schedule p) {
        List<Dropout> dropouts = dropouts(model);
        if (dropouts.isEmpty()) {
            throw new IllegalArgumentException("no dev.dropkit.dropout.Dropout in the model to schedule: replace its"
                    + " dropouts with dropkit's first (ModuleSurgery.replace)");
        }
        return new ScheduleCallback(METRIC, Checks.notNull("p", p), value -> dropouts.forEach(d -> d.setP(value)));
    }

    /** The dropkit dropouts of a model, in module order. */
    public static List<Dropout> dropouts(Module model) {
        List<Dropout> out = new ArrayList<>();
        for (ModuleSlot slot : ModuleSurgery.slots(Checks.notNull("model", model))) {
            if (slot.module() instanceof Dropout d) {
                out.add(d);
            }
        }
        return out;
    }
}
