package dev.dropkit.cli;

import dev.dropkit.examples.SmokeDemo;
import dev.dropkit.examples.bench.DropGradBenchmark;
import dev.dropkit.examples.bench.DropoutBenchmark;
import dev.dropkit.examples.bench.GyroDropoutBenchmark;
import dev.dropkit.examples.bench.JitBenchmark;
import dev.dropkit.examples.bench.StochasticDepthBenchmark;
import dev.dropkit.examples.depth.StochasticDepthExample;
import dev.dropkit.examples.dropgrad.DropGradExample;
import dev.dropkit.examples.gyro.GyroDropoutExample;
import dev.dropkit.examples.jit.JitCommand;
import dev.dropkit.examples.data.MakeSubset;
import dev.dropkit.examples.notebook.DropoutNotebookDemo;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code ./dropkit} command line. Later features add subcommands here ({@code jit ...},
 * {@code bench ...}).
 */
@Command(name = "dropkit", mixinStandardHelpOptions = true, version = "dropkit 0.1.0",
        description = "The dropout family of regularizers for libtorch on the JVM.",
        subcommands = {DropoutNotebookDemo.class, GyroDropoutExample.class, DropGradExample.class,
            StochasticDepthExample.class, SmokeDemo.class, InfoCommand.class, DropkitCli.Data.class,
            DropkitCli.Bench.class, JitCommand.class, CommandLine.HelpCommand.class})
public final class DropkitCli {

    /** Benchmarks that print ratios against a native baseline measured in the same run. */
    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Benchmarks against libtorch baselines measured in the same run.",
            subcommands = {DropoutBenchmark.class, GyroDropoutBenchmark.class, DropGradBenchmark.class, JitBenchmark.class,
                StochasticDepthBenchmark.class})
    static final class Bench {}

    /** Data preparation. */
    @Command(name = "data", mixinStandardHelpOptions = true, description = "Data preparation.",
            subcommands = {MakeSubset.class})
    static final class Data {}

    private DropkitCli() {}

    /** Runs the CLI and exits with its status. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit status (for tests). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new DropkitCli()).setCaseInsensitiveEnumValuesAllowed(true);
        // a bad value found while running (an option combination the library rejects) is a usage error:
        // say what it is and exit 2, without a stack trace
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof IllegalArgumentException) {
                commandLine.getErr().println("dropkit " + commandLine.getCommandName() + ": " + e.getMessage());
                return 2;
            }
            throw e;
        });
        if (args.length == 0) {
            cli.usage(System.out);
            return 0;
        }
        return cli.execute(args);
    }
}
