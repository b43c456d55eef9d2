package dev.dropkit.core;

import java.util.ArrayDeque;
import java.util.Locale;

/**
 * The one JSON writer behind every report and metrics file dropkit prints, so that all of them
 * escape strings the same valid way and share one layout, without a JSON library on the runtime
 * classpath. It streams one document into a string:
 *
 * <pre>{@code
 * String text = new Json().beginObject()
 *         .key("name").value("run")
 *         .key("epochs").beginArray()
 *             .beginInlineObject().key("epoch").value(1).key("loss").value(0.25, 6).endObject()
 *         .endArray()
 *         .endObject().text();
 * }</pre>
 *
 * <p>Containers put one member per line, indented two spaces a level, so diffs and {@code grep} stay
 * useful; an <em>inline</em> container, and everything inside it, stays on one line, for small
 * records such as one epoch's metrics. Non-finite doubles are written as {@code null}: JSON has no
 * NaN, and a metric that was not measured (test loss without a test set) must not read as a number.
 * Misuse (a value without a key in an object, a key in an array, a mismatched end, a second
 * top-level value) throws {@link IllegalStateException} instead of writing invalid JSON.
 */
public final class Json {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final StringBuilder out = new StringBuilder();
    private final ArrayDeque<Container> open = new ArrayDeque<>();
    private boolean topLevelStarted;

    /** An open object or array, and where the writer is in it. */
    private static final class Container {
        final boolean object;
        final boolean inline;
        int members;
        boolean keyWritten; // objects only: a key waits for its value

        Container(boolean object, boolean inline) {
            this.object = object;
            this.inline = inline;
        }
    }

    /** A writer with nothing written yet. */
    public Json() {}

    /** Opens an object whose members go one per line (inline when inside an inline container). */
    public Json beginObject() {
        return begin(true, false);
    }

    /** Opens an object written on one line: {@code {"a": 1, "b": 2}}. */
    public Json beginInlineObject() {
        return begin(true, true);
    }

    /** Opens an array whose items go one per line (inline when inside an inline container). */
    public Json beginArray() {
        return begin(false, false);
    }

    /** Opens an array written on one line: {@code [1, 2]}. */
    public Json beginInlineArray() {
        return begin(false, true);
    }

    /** Closes the innermost container, which must be an object with no key waiting for a value. */
    public Json endObject() {
        return end(true);
    }

    /** Closes the innermost container, which must be an array. */
    public Json endArray() {
        return end(false);
    }

    /** Names the next value; only directly inside an object, once per value. */
    public Json key(String name) {
        Checks.notNull("name", name);
        Container c = open.peek();
        if (c == null || !c.object) {
            throw new IllegalStateException("key \"" + name + "\" outside an object");
        }
        if (c.keyWritten) {
            throw new IllegalStateException("key \"" + name + "\" follows a key that has no value");
        }
        separate(c);
        quote(name, out);
        out.append(": ");
        c.keyWritten = true;
        return this;
    }

    /** A string, escaped; {@code null} writes JSON null. */
    public Json value(String s) {
        if (s == null) {
            return nullValue();
        }
        beforeValue();
        quote(s, out);
        return this;
    }

    /** An integer, exactly. */
    public Json value(long v) {
        beforeValue();
        out.append(v);
        return this;
    }

    /** A double as Java's shortest round-tripping form ({@code 0.1}, {@code 1.0E-5}); NaN and infinities write null. */
    public Json value(double v) {
        if (!Double.isFinite(v)) {
            return nullValue();
        }
        beforeValue();
        out.append(v);
        return this;
    }

    /**
     * A double rounded to {@code fractionDigits} decimals ({@code 0.693147}), for metrics whose
     * noise digits would only clutter the file; NaN and infinities write null.
     */
    public Json value(double v, int fractionDigits) {
        Checks.nonNegative("fractionDigits", fractionDigits);
        if (!Double.isFinite(v)) {
            return nullValue();
        }
        beforeValue();
        out.append(String.format(Locale.ROOT, "%." + fractionDigits + "f", v));
        return this;
    }

    /** {@code true} or {@code false}. */
    public Json value(boolean v) {
        beforeValue();
        out.append(v);
        return this;
    }

    /** JSON null. */
    public Json nullValue() {
        beforeValue();
        out.append("null");
        return this;
    }

    /** The finished document; throws while a container is open or before anything was written. */
    public String text() {
        if (!topLevelStarted || !open.isEmpty()) {
            throw new IllegalStateException(open.isEmpty() ? "nothing written" : open.size() + " container(s) still open");
        }
        return out.toString();
    }

    /**
     * {@code s} as a JSON string literal. Besides {@code "} and {@code \}, it escapes every control
     * character (JSON forbids them raw), U+2028 and U+2029 (line breaks to JavaScript) and unpaired
     * surrogates (which UTF-8 cannot encode, so writing the file would fail or mangle them).
     */
    public static String quote(String s) {
        Checks.notNull("s", s);
        StringBuilder sb = new StringBuilder(s.length() + 2);
        quote(s, sb);
        return sb.toString();
    }

    private static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    boolean paired = Character.isHighSurrogate(c) && i + 1 < s.length()
                            && Character.isLowSurrogate(s.charAt(i + 1));
                    if (paired) {
                        sb.append(c).append(s.charAt(++i));
                    } else if (c < 0x20 || c == '\u2028' || c == '\u2029' || Character.isSurrogate(c)) {
                        sb.append("\\u").append(HEX[c >> 12]).append(HEX[(c >> 8) & 0xf])
                                .append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    private Json begin(boolean object, boolean inline) {
        Container parent = open.peek();
        beforeValue();
        out.append(object ? '{' : '[');
        open.push(new Container(object, inline || (parent != null && parent.inline)));
        return this;
    }

    private Json end(boolean object) {
        Container c = open.peek();
        if (c == null || c.object != object) {
            throw new IllegalStateException((object ? "endObject" : "endArray") + " without a matching begin");
        }
        if (c.keyWritten) {
            throw new IllegalStateException("endObject after a key that has no value");
        }
        open.pop();
        if (c.members > 0 && !c.inline) {
            newline();
        }
        out.append(object ? '}' : ']');
        return this;
    }

    /** Checks that a value may go here and writes what separates it from the one before. */
    private void beforeValue() {
        Container c = open.peek();
        if (c == null) {
            if (topLevelStarted) {
                throw new IllegalStateException("a JSON document holds one top-level value");
            }
            topLevelStarted = true; // a container's text() still waits for its end
        } else if (c.object) {
            if (!c.keyWritten) {
                throw new IllegalStateException("a value in an object needs a key first");
            }
            c.keyWritten = false;
        } else {
            separate(c);
        }
    }

    /** Starts the next member of {@code c}: a comma after the first, then a new line or a space. */
    private void separate(Container c) {
        if (c.members++ > 0) {
            out.append(',');
            if (c.inline) {
                out.append(' ');
            }
        }
        if (!c.inline) {
            newline();
        }
    }

    private void newline() {
        out.append('\n').append("  ".repeat(open.size()));
    }
}
