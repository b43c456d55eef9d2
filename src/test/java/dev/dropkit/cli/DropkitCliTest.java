package dev.dropkit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DropkitCliTest {

    static String capture(Runnable body) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            body.run();
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void demoPrintsVersionDeviceAndBothModes() {
        String out = capture(() -> assertEquals(0, DropkitCli.run("demo", "--device", "cpu")));
        assertTrue(out.contains("libtorch 2.10.0"), out);
        assertTrue(out.contains("device:  cpu"), out);
        assertTrue(out.contains("Dropout(p=0.5, mode=inverted)"), out);
        assertTrue(out.contains("eval:  [0.5, 0.5"), out);
    }

    @Test
    void benchmarkRunsAndPrintsRatios() {
        String out = capture(() -> assertEquals(0,
                DropkitCli.run("bench", "dropout", "--sizes", "1", "--reps", "1", "--warmup", "0", "--device", "cpu")));
        assertTrue(out.matches("(?s).*\\n\\s+1M\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+.*"), out);
    }

    @Test
    void unknownCommandsFail() {
        assertTrue(DropkitCli.run("frobnicate") != 0);
    }
}
