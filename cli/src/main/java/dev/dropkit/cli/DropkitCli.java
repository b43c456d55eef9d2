package dev.dropkit.cli;

import dev.dropkit.cli.bundle.BundleCommand;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code dropkit} command line: {@code info}, {@code jit inspect|rewrite}, {@code data make-subset} and
 * {@code bundle}.
 * The examples module adds its demos and benchmarks to the same tree ({@link #commandLine()}), so that
 * {@code ./dropkit} offers both.
 */
@Command(name = "dropkit", mixinStandardHelpOptions = true, version = "dropkit 0.1.0",
        description = "The dropout family of regularizers for libtorch on the JVM.",
        subcommands = {InfoCommand.class, DropkitCli.Data.class, JitCommand.class, BundleCommand.class,
            CommandLine.HelpCommand.class})
public final class DropkitCli {

    /** Data preparation. */
    @Command(name = "data", mixinStandardHelpOptions = true, description = "Data preparation.",
            subcommands = {MakeSubset.class})
    static final class Data {}

    static {
        // the library's System.Logger messages (warnings such as why CUDA is off) as one line each
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "dropkit: %4$s: %5$s%6$s%n");
        }
    }

    private DropkitCli() {}

    /** Prints the stack trace of an error too; inherited by every subcommand ({@code dropkit demo --verbose}). */
    @CommandLine.Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "On an error, print its stack trace too.")
    boolean verbose;

    /**
     * The command tree with dropkit's conventions set: enum values in any case, and errors reported as
     * {@link #exitCodeFor} says.
     */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new DropkitCli());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            int code = exitCodeFor(e);
            boolean verbose = parseResult.expandedArgs().contains("--verbose") || System.getenv("DROPKIT_VERBOSE") != null;
            if (code == 1 || verbose) {
                e.printStackTrace(commandLine.getErr());
            }
            if (code == 2) {
                String message = String.valueOf(e.getMessage()).lines().findFirst().orElse(e.getClass().getSimpleName());
                commandLine.getErr().println("dropkit " + commandLine.getCommandName() + ": " + message);
            }
            return code;
        });
        return cli;
    }

    /**
     * 2 for what the user can fix, said in one line without a stack trace: a bad value
     * ({@link IllegalArgumentException}), a state that rules the request out such as CUDA asked for where
     * there is none ({@link IllegalStateException}), a file that is missing, unwritable or corrupt
     * ({@link java.io.IOException}); 1, with the stack trace, for anything else, a failure of dropkit itself.
     */
    static int exitCodeFor(Exception e) {
        Throwable t = e instanceof java.io.UncheckedIOException u ? u.getCause() : e;
        return t instanceof IllegalArgumentException || t instanceof IllegalStateException
                || t instanceof java.io.IOException ? 2 : 1;
    }

    /** Adds {@code command} under {@code parent} (e.g. the examples' {@code jit train}); returns {@code cli}. */
    public static CommandLine addSubcommand(CommandLine cli, String parent, Callable<Integer> command) {
        cli.getSubcommands().get(parent).addSubcommand(command);
        return cli;
    }

    /** Runs {@code cli} on {@code args} and returns its exit status; no arguments print the usage. */
    public static int run(CommandLine cli, String... args) {
        cli.setCaseInsensitiveEnumValuesAllowed(true); // after every subcommand is added: it is not inherited
        if (args.length == 0) {
            cli.usage(System.out);
            return 0;
        }
        return cli.execute(args);
    }

    /** Runs the CLI and returns its exit status (for tests). */
    public static int run(String... args) {
        return run(commandLine(), args);
    }

    /** Runs the CLI and exits with its status. */
    public static void main(String[] args) {
        System.exit(run(args));
    }
}
