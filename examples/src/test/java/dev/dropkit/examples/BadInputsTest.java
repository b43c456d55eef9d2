package dev.dropkit.examples;

import static dev.dropkit.testing.StdoutCapture.capture;
import static dev.dropkit.testing.StdoutCapture.captureErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.dropkit.core.Devices;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad inputs as a new user types them: each exits 2 with one line that names the value or file, prints no
 * stack trace, crashes nothing and leaves no file behind. {@code IN} in an argument stands for a junk input
 * file and {@code OUT} for an empty output folder.
 */
class BadInputsTest {
    @TempDir
    Path dir;

    record Case(String named, String... args) {
        @Override
        public String toString() {
            return String.join(" ", args) + "  ->  " + named;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("'tpu'", "smoke", "--device", "tpu"),
                new Case("'cuda:x'", "smoke", "--device", "cuda:x"),
                new Case("'cuda:-1'", "smoke", "--device", "cuda:-1"),
                new Case("1.5", "smoke", "-p", "1.5"),
                new Case("NaN", "smoke", "-p", "NaN"),
                new Case("got 0", "demo", "-H", "0", "--out", "OUT"),
                new Case("-4", "demo", "-H", "-4", "--out", "OUT"),
                new Case("sideways", "demo", "--progress", "sideways", "--out", "OUT"),
                new Case("/nonexistent/fmnist", "demo", "--data-dir", "/nonexistent/fmnist", "--out", "OUT"),
                new Case("got 0", "demo", "--epochs", "0", "--out", "OUT"),
                new Case("'3'", "demo", "--gyro", "3", "--out", "OUT"),
                new Case("sigma", "gyro", "--sigma", "0", "--out", "OUT"),
                new Case("rate", "dropgrad", "--rate", "2", "--out", "OUT"),
                new Case("bogus", "stochastic-depth", "--runs", "bogus:0.1", "--out", "OUT"),
                new Case("IN", "jit", "inspect", "IN"),
                new Case("missing.pt", "jit", "inspect", "missing.pt"),
                new Case("missing.pt", "jit", "rewrite", "missing.pt", "-o", "OUT/x.pt", "--dropout", "p=0.2"),
                new Case("got NaN", "jit", "rewrite", "IN", "-o", "OUT/x.pt", "--dropout", "p=NaN"),
                new Case("got NaN", "jit", "rewrite", "IN", "-o", "OUT/x.pt", "--dropout", "p=NaN,mode=classic"),
                new Case("'abc'", "jit", "rewrite", "IN", "-o", "OUT/x.pt", "--dropout", "p=abc"),
                new Case("sigma", "jit", "rewrite", "IN", "-o", "OUT/x.pt", "--gyro-dropout", "sigma=0"),
                new Case("rate", "jit", "rewrite", "IN", "-o", "OUT/x.pt", "--stochastic-depth", "rate=2"),
                new Case("IN", "jit", "rewrite", "IN", "-o", "OUT/x.pt", "--dropout", "p=0.2"),
                new Case("/nonexistent/full", "data", "make-subset", "--source", "/nonexistent/full", "--out", "OUT/s"),
                new Case("0", "data", "make-subset", "--train-per-class", "0", "--out", "OUT/s"),
                new Case("0", "bench", "dropout", "--sizes", "0", "--device", "cpu"),
                new Case("reps", "bench", "dropout", "--reps", "0", "--device", "cpu"),
                new Case("1.5", "bench", "stochastic-depth", "--rates", "1.5", "--device", "cpu"),
                new Case("frobnicate", "frobnicate"),
                new Case("--no-such-option", "demo", "--no-such-option"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void exitsTwoWithOneLineNamingTheValue(Case c) throws IOException {
        Path junk = Files.writeString(dir.resolve("IN"), "not a TorchScript archive");
        Path out = Files.createDirectory(dir.resolve("OUT"));
        List<String> args = new ArrayList<>();
        for (String a : c.args()) {
            args.add(a.equals("IN") ? junk.toString() : a.startsWith("OUT") ? a.replaceFirst("^OUT", out.toString()) : a);
        }
        int[] code = new int[1];
        String[] stdout = new String[1];
        String err = captureErr(() -> stdout[0] = capture(() -> code[0] = ExamplesCli.run(args.toArray(String[]::new))));
        String named = c.named().equals("IN") ? junk.toString() : c.named();
        assertEquals(2, code[0], err + stdout[0]);
        assertTrue(err.contains(named), "names " + named + ": " + err);
        assertFalse(err.contains("\tat ") || err.contains("Exception in"), "no stack trace: " + err);
        List<String> lines = err.lines().filter(l -> !l.isBlank() && !l.startsWith("WARNING")).toList();
        assertTrue(lines.size() == 1 || lines.get(0).startsWith("Unknown") || lines.get(0).startsWith("Unmatched")
                || lines.get(0).startsWith("Invalid value"), "one line (or picocli's usage after it): " + err);
        try (Stream<Path> left = Files.walk(out)) {
            assertEquals(List.of(out), left.toList(), "nothing left in the output folder");
        }
    }

    @ParameterizedTest(name = "DROPKIT_DEVICE=cuda {0}")
    @MethodSource("commandsWithADevice")
    void theEnvironmentsDeviceIsHonouredAndAnExplicitDeviceWins(String command) {
        assumeFalse(Devices.cudaAvailable(), "CUDA is available here: asking for it is no error");
        System.setProperty(Devices.PROPERTY, "cuda");
        try {
            String err = captureErr(() -> capture(() -> assertEquals(2, ExamplesCli.run(command))));
            assertTrue(err.contains("device 'cuda' was requested but CUDA is not available"), err);
            capture(() -> assertEquals(0, ExamplesCli.run(command, "--device", "cpu")));
        } finally {
            System.clearProperty(Devices.PROPERTY);
        }
    }

    static Stream<String> commandsWithADevice() {
        return Stream.of("smoke");
    }
}
