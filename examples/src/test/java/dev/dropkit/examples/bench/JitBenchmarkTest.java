package dev.dropkit.examples.bench;

import static dev.dropkit.testing.StdoutCapture.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.jit.JitFixtures;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class JitBenchmarkTest {
    /** One short round: every model is exported, rewritten, trained, and every ratio row printed. */
    @Test
    void printsEveryRatioRow() throws IOException {
        JitFixtures.assumeTorchvision();
        String out = capture(() -> assertEquals(0, new CommandLine(new JitBenchmark())
                .execute("--reps", "1", "--warmup", "0", "--steps", "1", "--device", "cpu")));
        for (String row : new String[] {"TS Gyro / TS nn.Dropout", "TS Gyro / Java Gyro", "TS SD / TS plain",
                "TS SD / Java SD", "Java SD / Java plain"}) {
            assertTrue(out.matches("(?s).*\\n" + java.util.regex.Pattern.quote(row) + "[^\\n]*\\s[0-9]+\\.[0-9]{3}[^\\n]*\\n.*"),
                    row + " in:\n" + out);
        }
    }
}
