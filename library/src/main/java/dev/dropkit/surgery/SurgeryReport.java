package dev.dropkit.surgery;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What a surgery did: each change with its path, and warnings for what it found but could not or would
 * not change. Zero changes always carries a warning, so a silent no-op is visible.
 */
public final class SurgeryReport {
    private final String operation;
    private final List<Change> changes = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private final List<Conversion> conversions = new ArrayList<>();

    /** An empty report for {@code operation} (e.g. "dropout -> gyro dropout"). */
    public SurgeryReport(String operation) {
        this.operation = operation;
    }

    /** One replaced or wrapped module. */
    public record Change(String path, String before, String after) {}

    /**
     * A libtorch container converted into a dropkit Java container so that the surgery could reach the
     * modules inside it (see {@link NativeContainers}): same child modules, same names.
     */
    public record Conversion(String path, String before, String after) {}

    /** The operation's name. */
    public String operation() {
        return operation;
    }

    /** The changes, in tree order. */
    public List<Change> changes() {
        return Collections.unmodifiableList(changes);
    }

    /** Paths of the changed modules. */
    public List<String> paths() {
        return changes.stream().map(Change::path).toList();
    }

    /** The native containers converted to Java ones on the way, outermost first. */
    public List<Conversion> conversions() {
        return Collections.unmodifiableList(conversions);
    }

    /** What was found but left alone, and why. */
    public List<String> warnings() {
        return Collections.unmodifiableList(warnings);
    }

    /** Number of changes. */
    public int count() {
        return changes.size();
    }

    void add(Change change) {
        changes.add(change);
    }

    void convert(Conversion conversion) {
        conversions.add(conversion);
    }

    void warn(String warning) {
        warnings.add(warning);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(operation).append(": ").append(count()).append(" change(s)\n");
        conversions.forEach(c -> sb.append("  converted ").append(c.path()).append(": ").append(c.before())
                .append(" -> ").append(c.after()).append('\n'));
        changes.forEach(c -> sb.append("  ").append(c.path()).append(": ").append(c.before()).append(" -> ")
                .append(c.after()).append('\n'));
        warnings.forEach(w -> sb.append("  warning: ").append(w).append('\n'));
        return sb.toString();
    }
}
