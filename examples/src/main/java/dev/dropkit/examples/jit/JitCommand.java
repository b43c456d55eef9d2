package dev.dropkit.examples.jit;

import dev.dropkit.core.Devices;
import dev.dropkit.jit.JitInspector;
import dev.dropkit.jit.JitModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.JitModule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dropkit jit ...}: TorchScript models exported from Python. */
@Command(name = "jit", mixinStandardHelpOptions = true,
        description = "Work with TorchScript models exported from Python (torch.jit.script/trace).",
        subcommands = {JitCommand.Inspect.class})
public final class JitCommand {
    /**
     * Prints what a rewrite would act on. Exit codes follow the CLI contract: 0 done, 2 bad
     * arguments (missing file, bad device), 1 a file libtorch cannot load.
     */
    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Print the module tree (unmangled type names), the dropout-family nodes per kind "
                    + "and the candidate residual blocks of a TorchScript archive.")
    public static final class Inspect implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MODEL.pt", description = "A torch.jit.save archive.")
        Path model;

        @Option(names = "--json", description = "Print the report as JSON.")
        boolean json;

        @Option(names = "--device", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
        String device = "cpu";

        @Override
        public Integer call() {
            JitModule module;
            try {
                module = JitModels.load(model, Devices.parse(device));
            } catch (IllegalArgumentException e) {
                System.err.println("dropkit jit inspect: " + e.getMessage());
                return 2;
            } catch (IOException e) {
                System.err.println("dropkit jit inspect: " + e.getMessage());
                return 1;
            }
            JitInspector.Report report = JitInspector.inspect(module);
            if (json) {
                System.out.println(report.toJson());
                return 0;
            }
            System.out.println("modules (" + report.modules().size() + "):");
            for (JitInspector.ModuleInfo m : report.modules()) {
                int depth = m.path().isEmpty() ? 0 : m.path().split("\\.").length;
                String name = m.path().isEmpty() ? "(root)" : m.path().substring(m.path().lastIndexOf('.') + 1);
                System.out.println("  " + "  ".repeat(depth) + name + "  " + m.type());
            }
            System.out.println("dropout nodes: " + report.dropoutTotal());
            for (Map.Entry<String, Integer> e : report.dropoutCounts().entrySet()) {
                System.out.println("  " + e.getKey() + "  " + e.getValue());
            }
            for (JitInspector.DropoutNode d : report.dropoutNodes()) {
                System.out.println("  at " + (d.modulePath().isEmpty() ? "(root)" : d.modulePath()) + "." + d.method()
                        + (d.via().isEmpty() ? "" : " via " + d.via()) + ": " + d.kind());
            }
            System.out.println("residual blocks: " + report.residualBlocks().size());
            for (JitInspector.ModuleInfo m : report.residualBlocks()) {
                System.out.println("  " + m.path() + "  " + m.type());
            }
            return 0;
        }
    }
}
