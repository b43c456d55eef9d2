package dev.dropkit.examples.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class DropGradBenchmarkTest {

    @Test
    void runsEveryModelAndPrintsBothRatios() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int status;
        StringWriter err = new StringWriter();
        try {
            CommandLine cli = new CommandLine(new DropGradBenchmark()).setErr(new PrintWriter(err));
            status = cli.execute("--reps", "1", "--warmup", "0", "--warmup-seconds", "0", "--steps", "1", "--batch", "8",
                    "--hidden", "16", "--rates", "0.1", "--device", "cpu");
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, status, err.toString());
        for (String model : new String[] {"mlp", "conv", "resnet"}) {
            assertTrue(out.matches("(?s).*\\n" + model + "\\s+\\d+\\s+0\\.10(\\s+[0-9.]+){7}\\n.*"), out);
        }
    }

    @Test
    void anUnknownModelIsRejected() {
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new DropGradBenchmark()).setErr(new PrintWriter(err));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            c.getErr().println(e.getMessage());
            return 2;
        });
        assertEquals(2, cli.execute("--models", "vgg", "--reps", "1", "--warmup", "0", "--warmup-seconds", "0",
                "--device", "cpu"));
        assertTrue(err.toString().contains("model must be 'mlp', 'conv' or 'resnet', got 'vgg'"), err.toString());
    }
}
