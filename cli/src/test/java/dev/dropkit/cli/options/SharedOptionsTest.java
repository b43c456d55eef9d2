package dev.dropkit.cli.options;

import static dev.dropkit.testing.StdoutCapture.capture;
import static dev.dropkit.testing.StdoutCapture.captureErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.cli.DropkitCli;
import dev.dropkit.cli.Progress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** The shared options keep each command's own default, and report bad values as the commands did. */
class SharedOptionsTest {
    /** What the two commands below saw, in the order they ran. */
    private final List<String> seen = new ArrayList<>();

    @Command(name = "writes-to-a")
    final class WritesToA implements Callable<Integer> {
        @Mixin
        OutputDirOption output = OutputDirOption.withDefault(Path.of("target", "a"));

        @Mixin
        ProgressOption progress = new ProgressOption();

        @Override
        public Integer call() {
            seen.add(output.dir() + " " + progress.mode());
            return 0;
        }
    }

    @Command(name = "writes-to-b")
    final class WritesToB implements Callable<Integer> {
        @Mixin
        OutputDirOption output = OutputDirOption.withDefault(Path.of("target", "b"));

        @Override
        public Integer call() {
            seen.add(output.dir().toString());
            return 0;
        }
    }

    @Command(name = "top")
    static final class Top {}

    @Test
    void eachCommandKeepsItsOwnDefaultAcrossRuns() {
        CommandLine cli = new CommandLine(new Top());
        cli.addSubcommand(new WritesToA());
        cli.addSubcommand(new WritesToB());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        assertEquals(0, cli.execute("writes-to-a"));
        assertEquals(0, cli.execute("writes-to-a", "--out", "elsewhere", "--progress", "plain"));
        assertEquals(0, cli.execute("writes-to-a")); // the defaults come back for the next run
        assertEquals(0, cli.execute("writes-to-b"));
        String a = Path.of("target", "a").toString();
        assertEquals(List.of(a + " AUTO", "elsewhere PLAIN", a + " AUTO", Path.of("target", "b").toString()), seen);
        String help = cli.getSubcommands().get("writes-to-b").getUsageMessage(CommandLine.Help.Ansi.OFF);
        assertTrue(help.contains("--out=<out>") && help.contains("(default: " + Path.of("target", "b") + ")"), help);
    }

    @Test
    void eachCommandShowsItsOwnDefaultInItsHelp() {
        for (String command : new String[] {"inspect", "rewrite"}) {
            String help = capture(() -> assertEquals(0, DropkitCli.run("jit", command, "--help")));
            assertTrue(help.contains("--device=<device>") && help.contains("auto, cpu, cuda or cuda:N (default: cpu)."),
                    help);
        }
        String help = capture(() -> assertEquals(0, DropkitCli.run("data", "make-subset", "--help")))
                .replaceAll("\\s+", " ");
        assertTrue(help.contains("--out=<out> Output directory (default: "
                + Path.of("examples/data/fashion-mnist-subset") + ")."), help);
    }

    @Test
    void aBadDeviceIsOneLineAndExitCodeTwo() {
        String err = captureErr(() -> capture(() -> assertEquals(2,
                DropkitCli.run("jit", "inspect", "model.pt", "--device", "tpu"))));
        assertEquals("dropkit jit inspect: device must be auto, cpu, cuda or cuda:N, got 'tpu'", err.strip());
        err = captureErr(() -> capture(() -> assertEquals(2,
                DropkitCli.run("jit", "rewrite", "model.pt", "-o", "out.pt", "--dropout", "p=0.1", "--device", "tpu"))));
        assertEquals("dropkit jit rewrite: device must be auto, cpu, cuda or cuda:N, got 'tpu'", err.strip());
    }

    @Test
    void progressNamesTheModesItTakes() {
        assertEquals(Progress.Mode.AUTO, new ProgressOption().mode());
        String err = captureErr(() -> assertEquals(2, new CommandLine(new WritesToA()).execute("--progress", "loud")));
        assertTrue(err.contains("Invalid value for option '--progress'") && err.contains("'loud'"), err);
    }
}
