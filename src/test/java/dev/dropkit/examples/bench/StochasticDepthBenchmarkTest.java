package dev.dropkit.examples.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class StochasticDepthBenchmarkTest {

    /** Runs the benchmark on a tiny network; returns the exit status and what it printed. */
    private static String[] run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        StringWriter err = new StringWriter();
        int status;
        try {
            CommandLine cli = new CommandLine(new StochasticDepthBenchmark()).setErr(new PrintWriter(err));
            cli.setExecutionExceptionHandler((e, c, p) -> {
                c.getErr().println(e.getMessage());
                return 2;
            });
            String[] tiny = {"--layout", "resnet18", "--width", "4", "--size", "8", "--batch", "4", "--reps", "1",
                "--warmup", "0", "--steps", "1", "--device", "cpu"};
            String[] all = new String[tiny.length + args.length];
            System.arraycopy(tiny, 0, all, 0, tiny.length);
            System.arraycopy(args, 0, all, tiny.length, args.length);
            status = cli.execute(all);
        } finally {
            System.setOut(old);
        }
        return new String[] {Integer.toString(status), buf.toString(StandardCharsets.UTF_8), err.toString()};
    }

    @Test
    void timesOnlyTheChosenMethodsAndRates() {
        String[] r = run("--methods", "sample_fast", "--rates", "0.3", "--distributions", "uniform");
        assertEquals("0", r[0], r[2]);
        String out = r[1];
        assertTrue(out.matches("(?s).*\\nnone\\s+-\\s+-\\s+[0-9.]+\\s+1\\.000\\s*\\n.*"), out);
        assertTrue(out.matches("(?s).*\\nsample_fast\\s+0\\.30\\s+uniform\\s+[0-9.]+\\s+[0-9.]+\\s+< 1\\.0\\n.*"), out);
        assertFalse(out.contains("\nblock"), out);
        assertFalse(out.contains("\nsample "), out);
    }

    @Test
    void badMethodsAndRatesAreRejectedByName() {
        String[] r = run("--methods", "dropconnect");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("'dropconnect'"), r[2]);
        r = run("--methods", "block", "--rates", "1.5");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("1.5"), r[2]);
    }
}
