package dev.dropkit.jit;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Json;
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
        Json json = new Json();
        writeJson(json);
        return json.text();
    }

    /** Writes the report as one JSON object into {@code json}, so it can sit inside a larger document. */
    public void writeJson(Json json) {
        json.beginObject().key("rewrite").value(rewrite).key("settings").value(settings).key("count").value(count())
                .key("changes").beginArray();
        for (Change c : changes) {
            json.beginInlineObject().key("module").value(c.module()).key("type").value(c.type())
                    .key("method").value(c.method()).key("site").value(c.site()).key("detail").value(c.detail())
                    .endObject();
        }
        json.endArray().key("skipped").beginArray();
        for (Skip s : skipped) {
            json.beginInlineObject().key("module").value(s.module()).key("type").value(s.type())
                    .key("reason").value(s.reason()).endObject();
        }
        json.endArray().key("notes").beginInlineArray();
        notes.forEach(json::value);
        json.endArray().endObject();
    }
}
