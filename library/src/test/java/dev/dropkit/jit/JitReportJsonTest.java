package dev.dropkit.jit;

import static dev.dropkit.testing.ParsedJson.fieldNames;
import static dev.dropkit.testing.ParsedJson.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The JSON of both reports holds every field as given. Module paths and type names come from a model
 * someone else exported (Python attribute names, {@code ModuleDict} keys, regexes in settings), so
 * they are built here with the characters that need escaping.
 */
class JitReportJsonTest {
    private static final String ODD = "blocks[\"a\\b\"].c\td\ne\u0001\u001f\u2028 é 😀";

    @Test
    void inspectReportKeepsEveryFieldThroughTheRoundTrip() {
        JitInspector.Report r = new JitInspector.Report(
                List.of(new JitInspector.ModuleInfo("", "Net"), new JitInspector.ModuleInfo(ODD, "__main__.Odd\"Type")),
                List.of(new JitInspector.DropoutNode("aten::dropout", ODD, "forward", "f -> g\\h")),
                Map.of("aten::dropout", 1, "aten::feature_dropout\n", 2),
                List.of(new JitInspector.ModuleInfo(ODD, "BasicBlock")),
                List.of(new JitInspector.ModuleInfo(ODD, "dropkit_gyro_0")),
                List.of());
        String text = r.toJson();
        JsonNode json = parse(text);
        assertEquals(List.of("modules", "dropoutNodes", "dropoutCounts", "dropoutTotal", "residualBlocks",
                "dropkitMethods", "otherResidualCandidates"), fieldNames(json), text);
        assertEquals(ODD, json.get("modules").get(1).get("path").textValue(), text);
        assertEquals("__main__.Odd\"Type", json.get("modules").get(1).get("type").textValue(), text);
        JsonNode node = json.get("dropoutNodes").get(0);
        assertEquals(List.of("kind", "module", "method", "via"), fieldNames(node), text);
        assertEquals(List.of("aten::dropout", ODD, "forward", "f -> g\\h"),
                List.of(node.get("kind").textValue(), node.get("module").textValue(), node.get("method").textValue(),
                        node.get("via").textValue()), text);
        assertEquals(List.of("aten::dropout", "aten::feature_dropout\n"), fieldNames(json.get("dropoutCounts")), text);
        assertEquals(2, json.get("dropoutCounts").get("aten::feature_dropout\n").intValue(), text);
        assertEquals(1, json.get("dropoutTotal").intValue(), text);
        assertEquals(ODD, json.get("residualBlocks").get(0).get("path").textValue(), text);
        assertEquals(List.of("path", "method"), fieldNames(json.get("dropkitMethods").get(0)), text);
        assertEquals("dropkit_gyro_0", json.get("dropkitMethods").get(0).get("method").textValue(), text);
        assertTrue(json.get("otherResidualCandidates").isArray() && json.get("otherResidualCandidates").isEmpty(), text);
    }

    @Test
    void rewriteReportKeepsEveryFieldThroughTheRoundTrip() {
        JitRewriteReport r = new JitRewriteReport("dropout", "p=0.1, modules=drop\\d+|\"x\"",
                List.of(new JitRewriteReport.Change(ODD, "Odd", "forward", "aten::dropout", "calls dropkit_dropout_0(p=0.1)\n"),
                        new JitRewriteReport.Change("", "Net", "forward", "torch.nn.functional.dropout", "")),
                List.of(new JitRewriteReport.Skip(ODD, "Odd", "\"inplace\" is\ta variable")),
                List.of("note \\ one", "note\u0000two"));
        String text = r.toJson();
        JsonNode json = parse(text);
        assertEquals(List.of("rewrite", "settings", "count", "changes", "skipped", "notes"), fieldNames(json), text);
        assertEquals("dropout", json.get("rewrite").textValue(), text);
        assertEquals(r.settings(), json.get("settings").textValue(), text);
        assertEquals(2, json.get("count").intValue(), text);
        for (int i = 0; i < 2; i++) {
            JitRewriteReport.Change c = r.changes().get(i);
            JsonNode n = json.get("changes").get(i);
            assertEquals(List.of("module", "type", "method", "site", "detail"), fieldNames(n), text);
            assertEquals(List.of(c.module(), c.type(), c.method(), c.site(), c.detail()),
                    List.of(n.get("module").textValue(), n.get("type").textValue(), n.get("method").textValue(),
                            n.get("site").textValue(), n.get("detail").textValue()), text);
        }
        JsonNode skip = json.get("skipped").get(0);
        assertEquals(List.of("module", "type", "reason"), fieldNames(skip), text);
        assertEquals(List.of(ODD, "Odd", "\"inplace\" is\ta variable"),
                List.of(skip.get("module").textValue(), skip.get("type").textValue(), skip.get("reason").textValue()), text);
        assertEquals(r.notes(), json.get("notes").valueStream().map(JsonNode::textValue).toList(), text);
    }

    @Test
    void emptyListsAreEmptyArrays() {
        JsonNode json = parse(new JitRewriteReport("stochastic-depth", "", List.of(), List.of(), List.of()).toJson());
        assertEquals(0, json.get("count").intValue());
        for (String key : List.of("changes", "skipped", "notes")) {
            assertTrue(json.get(key).isArray() && json.get(key).isEmpty(), key);
        }
    }
}
