package dev.dropkit.examples.bench;

import java.util.Locale;

/**
 * One measured ratio of a benchmark and the target it is held to on the device it ran on.
 *
 * @param bench the benchmark ({@code dropout}, {@code gyro}, ...)
 * @param caseName what was measured, e.g. {@code "inverted / libtorch, 16M"}
 * @param ratio median of paired per-repetition ratios against the baseline measured in the same run
 * @param target {@code "<= 1.02"}, {@code "< 1.0"}, or empty where the row is informational
 */
public record BenchRow(String bench, String caseName, double ratio, String target) {
    /** Whether the ratio meets the target; {@code null} where there is none. */
    public Boolean met() {
        String t = target.trim();
        if (t.isEmpty() || Double.isNaN(ratio)) {
            return t.isEmpty() ? null : Boolean.FALSE;
        }
        if (t.startsWith("<=")) {
            return ratio <= Double.parseDouble(t.substring(2).trim());
        }
        if (t.startsWith("<")) {
            return ratio < Double.parseDouble(t.substring(1).trim());
        }
        throw new IllegalStateException("a target is '<= x' or '< x', got '" + target + "'");
    }

    /** The row as the summary table prints it. */
    public String format() {
        Boolean met = met();
        return String.format(Locale.ROOT, "%-16s %-56s %7.3f %9s %s", bench, caseName, ratio, target,
                met == null ? "" : met ? "met" : "MISSED");
    }
}
