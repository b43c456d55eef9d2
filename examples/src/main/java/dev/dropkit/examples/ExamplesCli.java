package dev.dropkit.examples;

import dev.dropkit.cli.DropkitCli;
import dev.dropkit.examples.bench.BenchAll;
import dev.dropkit.examples.bench.DropGradBenchmark;
import dev.dropkit.examples.bench.DropoutBenchmark;
import dev.dropkit.examples.bench.GyroDropoutBenchmark;
import dev.dropkit.examples.bench.JitBenchmark;
import dev.dropkit.examples.bench.StochasticDepthBenchmark;
import dev.dropkit.examples.depth.StochasticDepthExample;
import dev.dropkit.examples.dropgrad.DropGradExample;
import dev.dropkit.examples.gyro.GyroDropoutExample;
import dev.dropkit.examples.jit.JitTrainExample;
import dev.dropkit.examples.notebook.DropoutNotebookDemo;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * What {@code ./dropkit} runs: the CLI's commands ({@code info}, {@code jit}, {@code data}) plus the demos,
 * {@code jit train} and the benchmarks.
 */
public final class ExamplesCli {

    /** Benchmarks that print ratios against a native baseline measured in the same run. */
    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Benchmarks against libtorch baselines measured in the same run.",
            subcommands = {BenchAll.class, DropoutBenchmark.class, GyroDropoutBenchmark.class, DropGradBenchmark.class,
                JitBenchmark.class, StochasticDepthBenchmark.class})
    static final class Bench {}

    private ExamplesCli() {}

    /** The whole command tree. */
    public static CommandLine commandLine() {
        CommandLine cli = DropkitCli.commandLine();
        for (Object example : new Object[] {new DropoutNotebookDemo(), new GyroDropoutExample(), new DropGradExample(),
            new StochasticDepthExample(), new SmokeDemo(), new Bench()}) {
            cli.addSubcommand(example);
        }
        return DropkitCli.addSubcommand(cli, "jit", new JitTrainExample());
    }

    /** Runs the CLI and returns its exit status (for tests). */
    public static int run(String... args) {
        return DropkitCli.run(commandLine(), args);
    }

    /** Runs the CLI and exits with its status. */
    public static void main(String[] args) {
        System.exit(run(args));
    }
}
