package dev.dropkit.cli;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.Json;
import dev.dropkit.jit.JitInspector;
import dev.dropkit.jit.JitModels;
import java.io.IOException;
import java.nio.file.Path;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.gyro.GyroSelection;
import dev.dropkit.jit.JitRewriteException;
import dev.dropkit.jit.JitRewriteReport;
import dev.dropkit.jit.JitRewrites;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.bytedeco.pytorch.JitModule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dropkit jit ...}: TorchScript models exported from Python. */
@Command(name = "jit", mixinStandardHelpOptions = true,
        description = "Work with TorchScript models exported from Python (torch.jit.script/trace).",
        subcommands = {JitCommand.Inspect.class, JitCommand.Rewrite.class})
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

        @Mixin
        DeviceOption device = DeviceOption.withDefault("cpu");

        @Override
        public Integer call() {
            JitModule module;
            try {
                module = JitModels.load(model, device.resolve());
            } catch (IllegalArgumentException | IOException e) { // a bad value, or a missing/corrupt file
                System.err.println("dropkit jit inspect: " + e.getMessage());
                return 2;
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
            if (!report.otherResidual().isEmpty()) {
                System.out.println("other modules with a residual addition (rewrite them with blocks=REGEX): "
                        + report.otherResidual().size());
                for (JitInspector.ModuleInfo m : report.otherResidual()) {
                    System.out.println("  " + m.path() + "  " + m.type());
                }
            }
            if (!report.dropkitMethods().isEmpty()) {
                System.out.println("dropkit rewrites already applied: " + report.dropkitMethods().size() + " method(s)");
                for (JitInspector.ModuleInfo m : report.dropkitMethods()) {
                    System.out.println("  " + (m.path().isEmpty() ? "(root)" : m.path()) + "." + m.type());
                }
            }
            return 0;
        }
    }

    /**
     * Rewrites an archive with dropkit's regularizers and writes a new one. Exit codes: 0 done, 2 bad
     * arguments (a malformed spec, a missing file), 1 a model it cannot load or rewrite (the reason is printed).
     */
    @Command(name = "rewrite", mixinStandardHelpOptions = true,
            description = "Add Gyro Dropout, a new dropout rate/mode or stochastic depth to a TorchScript archive; "
                    + "prints a JSON report of what changed where.")
    public static final class Rewrite implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MODEL.pt", description = "A torch.jit.save archive.")
        Path model;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT.pt", description = "Where to write the rewritten archive.")
        Path output;

        @Option(names = "--gyro-dropout", paramLabel = "SPEC", description = "sigma=S,tau=T,iters-per-epoch=N"
                + "[,max-epoch=E (default 1)][,p=P (default 0.5)][,keep-p][,selection=permutation|iid][,feature-dim=1|-1]"
                + "[,modules=REGEX]")
        String gyro;

        @Option(names = "--dropout", paramLabel = "SPEC", description = "p=P[,mode=inverted|classic][,modules=REGEX]"
                + " (p may be left out with mode=classic)")
        String dropout;

        @Option(names = "--stochastic-depth", paramLabel = "SPEC", description = "rate=R[,distribution=linear|uniform]"
                + "[,method=sample|block][,scaling=composer|inverted][,blocks=REGEX][,warmup-steps=N]")
        String depth;

        @Mixin
        DeviceOption device = DeviceOption.withDefault("cpu");

        @Override
        public Integer call() {
            JitModule module;
            List<java.util.function.Function<JitModule, JitRewriteReport>> plan = new ArrayList<>(); // checked before loading
            List<JitRewriteReport> reports = new ArrayList<>();
            try {
                if (gyro == null && dropout == null && depth == null) {
                    throw new IllegalArgumentException("give at least one of --gyro-dropout, --dropout, --stochastic-depth");
                }
                if (gyro != null && dropout != null) {
                    throw new IllegalArgumentException("--gyro-dropout and --dropout both rewrite the dropout calls; give one");
                }
                if (depth != null) {
                    Map<String, String> spec = spec("--stochastic-depth", depth,
                            Set.of("rate", "distribution", "method", "scaling", "blocks", "warmup-steps"));
                    StochasticDepthOptions.Builder b = StochasticDepthOptions.builder()
                            .dropRate(number("rate", required("--stochastic-depth", spec, "rate")));
                    if (spec.containsKey("distribution")) {
                        b.distribution(spec.get("distribution"));
                    }
                    if (spec.containsKey("method")) {
                        b.method(spec.get("method"));
                    }
                    if (spec.containsKey("scaling")) {
                        b.scaling(spec.get("scaling"));
                    }
                    StochasticDepthOptions o = b.build();
                    Pattern blocks = spec.containsKey("blocks") ? regex("blocks", spec.get("blocks")) : JitInspector.DEFAULT_BLOCKS;
                    long warm = spec.containsKey("warmup-steps") ? integer("warmup-steps", spec.get("warmup-steps")) : 0;
                    dev.dropkit.core.Checks.nonNegative("warmup-steps", warm);
                    plan.add(m -> JitRewrites.stochasticDepth(m, o, blocks, warm));
                }
                if (gyro != null) {
                    Map<String, String> spec = spec("--gyro-dropout", gyro,
                            Set.of("sigma", "tau", "iters-per-epoch", "max-epoch", "p", "keep-p", "selection", "feature-dim",
                                    "modules"));
                    GyroDropoutOptions.Builder b = GyroDropoutOptions.builder()
                            .sigma((int) integer("sigma", required("--gyro-dropout", spec, "sigma")))
                            .tau((int) integer("tau", required("--gyro-dropout", spec, "tau")))
                            .itersPerEpoch((int) integer("iters-per-epoch", required("--gyro-dropout", spec, "iters-per-epoch")))
                            .maxEpoch((int) integer("max-epoch", spec.getOrDefault("max-epoch", "1")));
                    if (spec.containsKey("p")) {
                        b.p(number("p", spec.get("p")));
                    }
                    if (spec.containsKey("selection")) {
                        b.selection(GyroSelection.parse(spec.get("selection")));
                    }
                    String dim = spec.getOrDefault("feature-dim", "1");
                    if (!dim.equals("1") && !dim.equals("-1")) {
                        throw new IllegalArgumentException("--gyro-dropout: feature-dim must be 1 ([N, C, *] inputs) or -1"
                                + " (the last dimension of [N, L, D] sequences), got '" + dim + "'");
                    }
                    b.featuresLast(dim.equals("-1"));
                    GyroDropoutOptions o = b.build();
                    boolean keep = spec.containsKey("keep-p");
                    Pattern modules = spec.containsKey("modules") ? regex("modules", spec.get("modules")) : null;
                    plan.add(m -> JitRewrites.gyroDropout(m, o, keep, modules));
                }
                if (dropout != null) {
                    Map<String, String> spec = spec("--dropout", dropout, Set.of("p", "mode", "modules"));
                    DropoutMode mode = DropoutMode.parse(spec.getOrDefault("mode", "inverted"));
                    // NaN is the library's "keep each call's p"; a typed p must be a probability, NaN included
                    double p = spec.containsKey("p") ? dev.dropkit.core.Checks.probability("p", number("p", spec.get("p")))
                            : Double.NaN;
                    if (Double.isNaN(p) && mode == DropoutMode.INVERTED) {
                        throw new IllegalArgumentException("--dropout needs p=P or mode=classic");
                    }
                    Pattern modules = spec.containsKey("modules") ? regex("modules", spec.get("modules")) : null;
                    plan.add(m -> JitRewrites.dropout(m, p, mode, modules));
                }
                module = JitModels.load(model, device.resolve());
            } catch (IllegalArgumentException | IOException e) { // a bad value, or a missing/corrupt file
                System.err.println("dropkit jit rewrite: " + e.getMessage());
                return 2;
            }
            try {
                plan.forEach(rewrite -> reports.add(rewrite.apply(module)));
                JitModels.save(module, output);
            } catch (JitRewriteException e) {
                System.err.println("dropkit jit rewrite: cannot rewrite " + model + ": " + e.getMessage());
                return 1;
            } catch (IllegalArgumentException e) {
                System.err.println("dropkit jit rewrite: " + e.getMessage());
                return 2;
            } catch (IOException e) { // the output cannot be written: nothing was left behind
                System.err.println("dropkit jit rewrite: " + e.getMessage());
                return 2;
            } catch (RuntimeException e) {
                System.err.println("dropkit jit rewrite: cannot rewrite " + model + ": " + e.getMessage());
                return 1;
            }
            Json json = new Json().beginObject().key("input").value(model.toString()).key("output").value(output.toString())
                    .key("rewrites").beginArray();
            reports.forEach(r -> r.writeJson(json));
            System.out.println(json.endArray().endObject().text());
            return 0;
        }

        /** Parses {@code key=value,key=value,flag}; a value may hold commas when the next part is not a known key. */
        static Map<String, String> spec(String option, String text, Set<String> keys) {
            Map<String, String> out = new LinkedHashMap<>();
            String lastKey = null;
            for (String part : text.split(",", -1)) {
                int eq = part.indexOf('=');
                String key = (eq < 0 ? part : part.substring(0, eq)).trim().toLowerCase(Locale.ROOT);
                if (keys.contains(key)) {
                    if (out.containsKey(key)) {
                        throw new IllegalArgumentException(option + ": " + key + " given twice in '" + text + "'");
                    }
                    out.put(key, eq < 0 ? "" : part.substring(eq + 1).trim());
                    lastKey = key;
                } else if (lastKey != null && (lastKey.equals("modules") || lastKey.equals("blocks"))) {
                    out.put(lastKey, out.get(lastKey) + "," + part); // a regex with a comma in it
                } else {
                    throw new IllegalArgumentException(option + ": unknown key '" + key + "' in '" + text
                            + "'; known keys: " + String.join(", ", new java.util.TreeSet<>(keys)));
                }
            }
            return out;
        }

        static String required(String option, Map<String, String> spec, String key) {
            String v = spec.get(key);
            if (v == null || v.isEmpty()) {
                throw new IllegalArgumentException(option + " needs " + key + "=...");
            }
            return v;
        }

        static double number(String key, String value) {
            try {
                return Double.parseDouble(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + " must be a number, got '" + value + "'");
            }
        }

        static long integer(String key, String value) {
            try {
                return Long.parseLong(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'");
            }
        }

        static Pattern regex(String key, String value) {
            try {
                return Pattern.compile(value);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(key + " is not a valid regular expression: '" + value + "'");
            }
        }
    }
}
