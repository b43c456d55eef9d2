package dev.dropkit.dropgrad;

import dev.dropkit.core.NamedEnum;
import java.util.Locale;

/** What DropGrad drops: single gradient elements, or a parameter's whole update for the step. */
public enum DropGradMode implements NamedEnum {
    /**
     * Each element of a gradient is zeroed with probability {@code rate}; survivors are scaled by
     * {@code 1/(1-rate)}. The original DropGrad.
     */
    ELEMENTS,
    /**
     * With probability {@code rate} a parameter skips the step altogether: its gradient is left
     * undefined, so libtorch's optimizers pass it over and its optimizer state (momentum, Adam moments
     * and step count) stays exactly as it was. A kept gradient is scaled by {@code 1/(1-rate)}, so the
     * expected gradient is unchanged. The coins are drawn from libtorch's default CPU generator, one per
     * parameter with a nonzero rate, in parameter order. The original's "full update drop" to-do item.
     */
    FULL_UPDATE;

    /** Lower-case name with a dash: {@code elements}, {@code full-update}. */
    @Override
    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * Parses {@code elements} or {@code full-update} (see {@link NamedEnum#parse}).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DropGradMode parse(String value) {
        return NamedEnum.parse(DropGradMode.class, "DropGrad mode", value);
    }
}
