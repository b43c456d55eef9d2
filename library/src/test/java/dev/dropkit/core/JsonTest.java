package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static dev.dropkit.testing.ParsedJson.fieldNames;
import static dev.dropkit.testing.ParsedJson.parse;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer's output is checked by parsing it back with a real JSON parser, not by its spelling. */
class JsonTest {
    private static String roundTrip(String s) {
        JsonNode node = parse(new Json().value(s).text());
        assertTrue(node.isTextual(), node.toString());
        return node.textValue();
    }

    @Test
    void everyControlCharacterIsEscapedAndSurvivesTheRoundTrip() {
        for (char c = 0; c < 0x20; c++) {
            String s = "a" + c + "b";
            String quoted = Json.quote(s);
            assertTrue(quoted.chars().noneMatch(ch -> ch < 0x20), "raw control char 0x" + Integer.toHexString(c));
            assertEquals(s, roundTrip(s), "control char 0x" + Integer.toHexString(c));
        }
        assertEquals("\"\\n\\t\\r\\b\\f\"", Json.quote("\n\t\r\b\f"), "the short escapes where JSON has them");
        assertEquals("\"\\u0000\\u001f\\u000b\"", Json.quote("\u0000\u001f\u000b"));
    }

    @Test
    void quotesBackslashesAndUnicodeRoundTrip() {
        assertEquals("\"say \\\"hi\\\" C:\\\\dir\\\\\"", Json.quote("say \"hi\" C:\\dir\\"));
        for (String s : List.of("", "\"", "\\", "\\\"", "\"\\\\\"", "/", "plain", "é ü ß 中文 😀", "\u007f",
                "line\u2028sep\u2029para", "\\u0041 is not an escape here")) {
            assertEquals(s, roundTrip(s), s);
        }
        assertEquals("\"\\u2028\\u2029\"", Json.quote("\u2028\u2029"), "JavaScript's line breaks are escaped");
        assertEquals("\"😀\"", Json.quote("😀"), "a surrogate pair is written as is");
    }

    @Test
    void unpairedSurrogatesAreEscapedSoTheFileCanBeWrittenAsUtf8(@TempDir Path dir) throws IOException {
        String s = "x\uD800y\uDC00";
        String text = new Json().value(s).text();
        assertEquals("\"x\\ud800y\\udc00\"", text);
        Path f = Files.writeString(dir.resolve("s.json"), text); // a raw lone surrogate would not encode
        assertEquals(s, parse(Files.readString(f, StandardCharsets.UTF_8)).textValue());
    }

    @Test
    void numbersBooleansAndNullKeepTheirValues() {
        String text = new Json().beginObject()
                .key("long").value(Long.MIN_VALUE)
                .key("int").value(42)
                .key("double").value(0.1)
                .key("tiny").value(1e-300)
                .key("huge").value(-1.5e300)
                .key("negZero").value(-0.0)
                .key("rounded").value(2.0 / 3, 6)
                .key("roundedWhole").value(7, 3)
                .key("yes").value(true)
                .key("no").value(false)
                .key("nothing").nullValue()
                .key("nullString").value((String) null)
                .endObject().text();
        JsonNode n = parse(text);
        assertEquals(Long.MIN_VALUE, n.get("long").longValue());
        assertEquals(42, n.get("int").intValue());
        assertEquals(0.1, n.get("double").doubleValue());
        assertEquals(1e-300, n.get("tiny").doubleValue());
        assertEquals(-1.5e300, n.get("huge").doubleValue());
        assertEquals(-0.0, n.get("negZero").doubleValue());
        assertEquals("0.666667", n.get("rounded").asText());
        assertEquals(7.0, n.get("roundedWhole").doubleValue());
        assertTrue(n.get("yes").booleanValue());
        assertTrue(n.get("no").isBoolean() && !n.get("no").booleanValue());
        assertTrue(n.get("nothing").isNull());
        assertTrue(n.get("nullString").isNull());
        assertEquals(12, n.size());
    }

    @Test
    void nanAndInfinitiesAreNullBecauseJsonHasNoSuchNumbers() {
        JsonNode n = parse(new Json().beginInlineArray()
                .value(Double.NaN).value(Double.POSITIVE_INFINITY).value(Double.NEGATIVE_INFINITY)
                .value(Double.NaN, 6).value(Double.NEGATIVE_INFINITY, 3)
                .endArray().text());
        assertEquals(5, n.size());
        for (JsonNode item : n) {
            assertTrue(item.isNull(), n.toString());
        }
    }

    @Test
    void nestingKeepsStructureAndKeyOrder() {
        String text = new Json().beginObject()
                .key("empty array").beginArray().endArray()
                .key("empty object").beginObject().endObject()
                .key("rows").beginArray()
                    .beginInlineObject().key("a").value(1).key("b").beginArray().value("x").beginObject()
                        .key("deep").value(true).endObject().endArray().endObject()
                    .beginArray().beginArray().value(2).endArray().endArray()
                .endArray()
                .key("we\"ird\nkey").value("v")
                .endObject().text();
        JsonNode n = parse(text);
        assertEquals(List.of("empty array", "empty object", "rows", "we\"ird\nkey"), fieldNames(n));
        assertTrue(n.get("empty array").isArray() && n.get("empty array").isEmpty());
        assertTrue(n.get("empty object").isObject() && n.get("empty object").isEmpty());
        JsonNode row = n.get("rows").get(0);
        assertEquals(List.of("a", "b"), fieldNames(row));
        assertEquals(1, row.get("a").intValue());
        assertEquals("x", row.get("b").get(0).textValue());
        assertTrue(row.get("b").get(1).get("deep").booleanValue());
        assertEquals(2, n.get("rows").get(1).get(0).get(0).intValue());
        assertEquals("v", n.get("we\"ird\nkey").textValue());
    }

    @Test
    void layoutIsOneMemberPerLineAndInlineContainersStayOnOneLine() {
        String text = new Json().beginObject()
                .key("name").value("run")
                .key("empty").beginArray().endArray()
                .key("epochs").beginArray()
                    .beginInlineObject().key("epoch").value(1).key("tags").beginArray().value("a").value("b")
                        .endArray().endObject()
                    .beginInlineObject().key("epoch").value(2).key("tags").beginArray().endArray().endObject()
                .endArray()
                .key("counts").beginInlineObject().key("x").value(3).endObject()
                .endObject().text();
        assertEquals("""
                {
                  "name": "run",
                  "empty": [],
                  "epochs": [
                    {"epoch": 1, "tags": ["a", "b"]},
                    {"epoch": 2, "tags": []}
                  ],
                  "counts": {"x": 3}
                }""", text);
    }

    @Test
    void scalarsAreWholeDocuments() {
        assertEquals("7", new Json().value(7).text());
        assertEquals("null", new Json().value(Double.NaN).text());
        assertEquals("\"s\"", new Json().value("s").text());
        assertTrue(parse(new Json().value(false).text()).isBoolean());
    }

    @Test
    void misuseThrowsInsteadOfWritingInvalidJson() {
        assertThrows(IllegalStateException.class, () -> new Json().text(), "nothing written");
        assertThrows(IllegalStateException.class, () -> new Json().beginObject().text(), "still open");
        assertThrows(IllegalStateException.class, () -> new Json().beginArray().beginObject().endArray());
        assertThrows(IllegalStateException.class, () -> new Json().beginObject().endArray());
        assertThrows(IllegalStateException.class, () -> new Json().endObject());
        assertThrows(IllegalStateException.class, () -> new Json().beginObject().value(1), "value without a key");
        assertThrows(IllegalStateException.class, () -> new Json().beginObject().key("a").key("b"));
        assertThrows(IllegalStateException.class, () -> new Json().beginObject().key("a").endObject());
        assertThrows(IllegalStateException.class, () -> new Json().beginArray().key("a"), "key in an array");
        assertThrows(IllegalStateException.class, () -> new Json().key("a"), "key outside an object");
        assertThrows(IllegalStateException.class, () -> new Json().value(1).value(2), "two top-level values");
        assertThrows(IllegalStateException.class, () -> new Json().beginArray().endArray().beginArray());
        assertThrows(IllegalArgumentException.class, () -> new Json().value(1.0, -1));
        assertThrows(IllegalArgumentException.class, () -> new Json().beginObject().key(null));
        assertThrows(IllegalArgumentException.class, () -> Json.quote(null));
    }
}
