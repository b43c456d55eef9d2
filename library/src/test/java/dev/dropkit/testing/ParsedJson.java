package dev.dropkit.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses what dropkit prints as JSON with a strict parser, so that tests check values and keys rather
 * than spelling and whitespace, and output that is not one valid JSON document fails with its text shown.
 */
public final class ParsedJson {
    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS); // one document, nothing after it

    private ParsedJson() {}

    /** The document in {@code text}; an {@link AssertionError} naming the problem when it is not valid JSON. */
    public static JsonNode parse(String text) {
        try {
            return STRICT.readTree(text);
        } catch (JsonProcessingException e) {
            throw new AssertionError("not valid JSON (" + e.getOriginalMessage() + "):\n" + text, e);
        }
    }

    /** An object's keys in the order they were written. */
    public static List<String> fieldNames(JsonNode object) {
        List<String> out = new ArrayList<>();
        object.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
