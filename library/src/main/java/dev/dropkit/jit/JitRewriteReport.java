package dev.dropkit.jit;

import dev.dropkit.core.Checks;
import java.util.List;

/**
 * What one TorchScript rewrite changed and where: the call sites or blocks it rewrote, the ones it
 * found but left alone (with the reason), and notes on how it behaves. Printed by
 * {@code dropkit jit rewrite} as JSON.
 *
 * @param rewrite the rewrite's name ({@code gyro-dropout}, {@code dropout}, {@code stochastic-depth})
 * @param settings the options it ran with, as they print
 * @param changes one entry per rewritten site, per module instance
 * @param skipped sites or blocks found but not rewritten
 * @param notes behaviour worth knowing about the result
 */
public record JitRewriteReport(String rewrite, String settings, List<Change> changes, List<Skip> skipped,
        List<String> notes) {
    public JitRewriteReport {
        Checks.notNull("rewrite", rewrite);
        Checks.notNull("settings", settings);
        changes = List.copyOf(changes);
        skipped = List.copyOf(skipped);
        notes = List.copyOf(notes);
    }

    /**
     * One rewritten site in one module instance.
     *
     * @param module the instance's dotted path ("" for the root)
     * @param type its unmangled class name
     * @param method the method whose graph was edited
     * @param site what was replaced ({@code aten::dropout}, {@code torch.nn.functional.dropout}, {@code aten::add_}, ...)
     * @param detail the new method it now calls and the values it was given
     */
    public record Change(String module, String type, String method, String site, String detail) {}

    /** A site or block found but not rewritten, and why. */
    public record Skip(String module, String type, String reason) {}

    /** How many sites were rewritten, counting every module instance. */
    public int count() {
        return changes.size();
    }

    /** The report as a JSON object. */
    public String toJson() {
        return toJson("");
    }

    String toJson(String indent) {
        String in = indent + "  ";
        StringBuilder sb = new StringBuilder("{\n");
        sb.append(in).append("\"rewrite\": ").append(JitInspector.quote(rewrite)).append(",\n");
        sb.append(in).append("\"settings\": ").append(JitInspector.quote(settings)).append(",\n");
        sb.append(in).append("\"count\": ").append(count()).append(",\n");
        sb.append(in).append("\"changes\": [");
        for (int i = 0; i < changes.size(); i++) {
            Change c = changes.get(i);
            sb.append(i == 0 ? "\n" : ",\n").append(in).append("  {\"module\": ").append(JitInspector.quote(c.module()))
                    .append(", \"type\": ").append(JitInspector.quote(c.type()))
                    .append(", \"method\": ").append(JitInspector.quote(c.method()))
                    .append(", \"site\": ").append(JitInspector.quote(c.site()))
                    .append(", \"detail\": ").append(JitInspector.quote(c.detail())).append('}');
        }
        sb.append(changes.isEmpty() ? "],\n" : "\n" + in + "],\n");
        sb.append(in).append("\"skipped\": [");
        for (int i = 0; i < skipped.size(); i++) {
            Skip s = skipped.get(i);
            sb.append(i == 0 ? "\n" : ",\n").append(in).append("  {\"module\": ").append(JitInspector.quote(s.module()))
                    .append(", \"type\": ").append(JitInspector.quote(s.type()))
                    .append(", \"reason\": ").append(JitInspector.quote(s.reason())).append('}');
        }
        sb.append(skipped.isEmpty() ? "],\n" : "\n" + in + "],\n");
        sb.append(in).append("\"notes\": [");
        for (int i = 0; i < notes.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(JitInspector.quote(notes.get(i)));
        }
        return sb.append("]\n").append(indent).append('}').toString();
    }
}
