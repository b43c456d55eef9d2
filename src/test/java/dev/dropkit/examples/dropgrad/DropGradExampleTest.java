package dev.dropkit.examples.dropgrad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class DropGradExampleTest {
    static final String SUBSET = "examples/data/fashion-mnist-subset";

    static int run(StringWriter err, ByteArrayOutputStream out, String... args) {
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            CommandLine cli = new CommandLine(new DropGradExample()).setErr(new PrintWriter(err));
            cli.setExecutionExceptionHandler((e, c, p) -> {
                c.getErr().println(e.getMessage());
                return 2;
            });
            return cli.execute(args);
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void trainsAllFourVariantsAndWritesTableCsvAndPng(@TempDir Path tmp) throws IOException {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status = run(err, buf, "--data-dir", SUBSET, "--train-limit", "256", "--epochs", "1", "--hidden", "16",
                "--progress", "none", "--device", "cpu", "--out", tmp.toString());
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, status, err + out);
        assertTrue(out.contains("data:    IDX dataset from " + SUBSET), out);
        for (String row : new String[] {"sgd\\s+off", "sgd\\s+rate 0.1", "adam\\s+off", "adam\\s+rate 0.1"}) {
            assertTrue(out.matches("(?s).*\\n" + row + "\\s+42\\s+0\\.\\d{4}\\s+0\\.\\d{4}.*"), row + " in " + out);
        }
        assertTrue(Files.size(tmp.resolve("dropgrad-test-accuracy.png")) > 1000);
        assertEquals(5, Files.readAllLines(tmp.resolve("dropgrad-summary.csv")).size());
        assertTrue(Files.exists(tmp.resolve("metrics-adam+dropgrad.csv")));
    }

    @Test
    void badOptionsAreRejectedNamingTheValue(@TempDir Path tmp) {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(2, run(err, buf, "--data-dir", SUBSET, "--rate", "1.0", "--out", tmp.toString()));
        assertTrue(err.toString().contains("rate must be in [0, 1), got 1.0"), err.toString());
        err = new StringWriter();
        assertEquals(2, run(err, buf, "--data-dir", SUBSET, "--progress", "loud", "--out", tmp.toString()));
        assertTrue(err.toString().contains("progress must be auto, bar, plain or none, got 'loud'"), err.toString());
    }
}
