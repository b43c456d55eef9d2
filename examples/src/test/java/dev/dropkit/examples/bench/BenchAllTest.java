package dev.dropkit.examples.bench;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dropkit.testing.ParsedJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BenchAllTest {

    @Test
    void targetsAreComparedAsWritten() {
        assertTrue(new BenchRow("b", "c", 1.02, "<= 1.02").met());
        assertFalse(new BenchRow("b", "c", 1.0201, "<= 1.02").met());
        assertFalse(new BenchRow("b", "c", 1.0, "< 1.0").met());
        assertTrue(new BenchRow("b", "c", 0.99, "< 1.0").met());
        assertNull(new BenchRow("b", "c", 3.0, "").met());
        assertFalse(new BenchRow("b", "c", Double.NaN, "<= 1.0").met(), "a ratio that could not be measured misses");
    }

    /** Every benchmark but the TorchScript one (it exports models with Python) in tiny sizes: rows, summary, JSON. */
    @Test
    void smokeRunPrintsEveryRowWithItsTargetAndWritesThemAsJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("rows.json");
        String out = capture(() -> assertEquals(0, new CommandLine(new BenchAll()).execute("--smoke", "--device", "cpu",
                "--only", "dropout,gyro,dropgrad,stochastic-depth", "--json", json.toString())));
        assertTrue(out.contains("== summary on "), out);
        JsonNode rows = ParsedJson.parse(Files.readString(json)).get("rows");
        // dropout: inverted + classic at 1M; gyro: 64x1K and the conv shape; dropgrad: hooks, wrapper, floor;
        // stochastic depth: sample 0.1, block 0.5, sample_fast 0.5
        assertEquals(2 + 2 + 3 + 3, rows.size(), rows.toString());
        int held = 0;
        for (JsonNode row : rows) {
            assertEquals(List.of("bench", "case", "ratio", "target", "met"), ParsedJson.fieldNames(row));
            assertTrue(row.get("ratio").asDouble() > 0, row.toString());
            String target = row.get("target").asText();
            assertEquals(target.isEmpty(), row.get("met").isNull(), row.toString());
            held += target.isEmpty() ? 0 : 1;
            assertTrue(out.contains(row.get("case").asText()), "the summary prints " + row);
        }
        assertTrue(out.contains(" of " + held + " targets met"), out);
        assertEquals("<= 1.05", rows.get(0).get("target").asText(), "CPU targets are the CPU's: " + rows.get(0));
    }

    @Test
    void anUnknownBenchIsAUserError() {
        CommandLine line = new CommandLine(new BenchAll());
        line.setExecutionExceptionHandler((e, cmd, parsed) -> e instanceof IllegalArgumentException ? 2 : 1);
        String err = dev.dropkit.testing.StdoutCapture.capture(() -> assertEquals(2, line.execute("--only", "dropout,nope",
                "--device", "cpu")));
        assertFalse(err.contains("== bench"), "nothing runs: " + err);
    }
}
