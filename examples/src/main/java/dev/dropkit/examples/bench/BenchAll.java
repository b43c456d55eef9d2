package dev.dropkit.examples.bench;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.AtomicFiles;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Json;
import dev.dropkit.examples.jit.PythonScripts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Every row of issue 16's table in one command: each benchmark with the settings the table names, then
 * one summary with each ratio and its target for the device, and optionally a JSON file of the rows.
 */
@Command(name = "all", mixinStandardHelpOptions = true,
        description = "Every benchmark with the settings of the project's speed targets; prints each ratio with its"
                + " target and can save them as JSON.")
public final class BenchAll implements Callable<Integer> {
    private static final List<String> BENCHES = List.of("dropout", "gyro", "dropgrad", "stochastic-depth", "jit");

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Option(names = "--json", paramLabel = "FILE", description = "Also write {\"rows\": [{bench, case, ratio, target,"
            + " met}]} to FILE (atomically).")
    Path json;

    @Option(names = "--only", split = ",", paramLabel = "BENCH", description = "Run only these of "
            + "dropout, gyro, dropgrad, stochastic-depth, jit (default: all).")
    List<String> only = BENCHES;

    @Option(names = "--smoke", description = "Tiny sizes and one repetition: checks that every row runs; the ratios"
            + " mean nothing.")
    boolean smoke;

    @Option(names = "--python", description = "Python with torch and torchvision, for the TorchScript rows"
            + " (default: ${DEFAULT-VALUE}).")
    Path python = PythonScripts.PYTHON;

    @Override
    public Integer call() throws IOException {
        Set<String> chosen = new LinkedHashSet<>();
        for (String b : only) {
            String name = b.trim().toLowerCase(Locale.ROOT);
            if (!BENCHES.contains(name)) {
                throw new IllegalArgumentException("--only takes " + String.join(", ", BENCHES) + "; got '" + b + "'");
            }
            chosen.add(name);
        }
        Device dev = device.resolve();
        String spec = dev.is_cuda() ? "cuda" + (dev.index() >= 0 ? ":" + dev.index() : "") : "cpu";
        List<BenchRow> rows = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        for (String name : chosen) {
            List<String> args = new ArrayList<>(smoke ? smokeArgsFor(name) : argsFor(name, dev));
            args.replaceAll(a -> a.equals("PYTHON") ? python.toString() : a);
            args.addAll(List.of("--device", spec));
            System.out.println();
            System.out.println("== bench " + name + " " + String.join(" ", args));
            Object bench = create(name);
            CommandLine line = new CommandLine(bench);
            line.setExecutionExceptionHandler((e, cmd, parsed) -> {
                System.err.println("bench " + name + " stopped: " + e); // the other benchmarks still run
                return 1;
            });
            int code = line.execute(args.toArray(String[]::new));
            if (code != 0) {
                failed.add(name + " (exit " + code + ")");
            }
            rows.addAll(rowsOf(bench).rows());
        }
        System.out.println();
        System.out.println("== summary on " + Devices.describe(dev));
        System.out.printf(Locale.ROOT, "%-16s %-56s %7s %9s%n", "bench", "case", "ratio", "target");
        int held = 0;
        int met = 0;
        for (BenchRow row : rows) {
            System.out.println(row.format());
            Boolean m = row.met();
            held += m == null ? 0 : 1;
            met += Boolean.TRUE.equals(m) ? 1 : 0;
        }
        System.out.printf(Locale.ROOT, "%d of %d targets met%s%n", met, held,
                failed.isEmpty() ? "" : "; did not finish: " + String.join(", ", failed));
        if (json != null) {
            AtomicFiles.writeString(json, toJson(rows, Devices.describe(dev)));
            System.out.println("rows written to " + json);
        }
        return failed.isEmpty() ? 0 : 1;
    }

    /** The table's settings; the CPU runs the stochastic-depth rows at the width the CPU figures were taken at. */
    private List<String> argsFor(String name, Device dev) {
        return switch (name) {
            case "dropout" -> List.of("--sizes", "1,4,16,64");
            case "gyro" -> List.of("--features", "1,4,16");
            case "dropgrad" -> List.of("--models", "mlp,resnet", "--rates", "0.1");
            case "stochastic-depth" -> dev.is_cuda()
                    ? List.of("--layout", "resnet50", "--width", "64", "--batch", "128", "--distributions", "linear")
                    : List.of("--layout", "resnet50", "--width", "8", "--batch", "32", "--distributions", "linear");
            case "jit" -> List.of("--python", python.toString());
            default -> throw new IllegalStateException(name);
        };
    }

    private static List<String> smokeArgsFor(String name) {
        List<String> once = List.of("--reps", "1", "--warmup", "0");
        List<String> args = new ArrayList<>(switch (name) {
            case "dropout" -> List.of("--sizes", "1");
            case "gyro" -> List.of("--features", "1", "--batch", "64", "--conv", "16,4,4,4");
            case "dropgrad" -> List.of("--models", "mlp", "--rates", "0.1", "--steps", "1", "--warmup-seconds", "0");
            case "stochastic-depth" -> List.of("--layout", "resnet18", "--width", "4", "--batch", "8", "--size", "16",
                    "--steps", "1", "--rates", "0.5", "--distributions", "linear");
            case "jit" -> List.of("--steps", "1", "--python", "PYTHON");
            default -> throw new IllegalStateException(name);
        });
        args.addAll(once);
        return args;
    }

    private static Object create(String name) {
        return switch (name) {
            case "dropout" -> new DropoutBenchmark();
            case "gyro" -> new GyroDropoutBenchmark();
            case "dropgrad" -> new DropGradBenchmark();
            case "stochastic-depth" -> new StochasticDepthBenchmark();
            case "jit" -> new JitBenchmark();
            default -> throw new IllegalStateException(name);
        };
    }

    private static BenchRows rowsOf(Object bench) {
        return switch (bench) {
            case DropoutBenchmark b -> b.results;
            case GyroDropoutBenchmark b -> b.results;
            case DropGradBenchmark b -> b.results;
            case StochasticDepthBenchmark b -> b.results;
            case JitBenchmark b -> b.results;
            default -> throw new IllegalStateException(bench.getClass().getName());
        };
    }

    static String toJson(List<BenchRow> rows, String device) {
        Json j = new Json().beginObject().key("device").value(device).key("rows").beginArray();
        for (BenchRow r : rows) {
            j.beginInlineObject().key("bench").value(r.bench()).key("case").value(r.caseName())
                    .key("ratio").value(r.ratio(), 4).key("target").value(r.target()).key("met");
            Boolean met = r.met();
            if (met == null) {
                j.nullValue();
            } else {
                j.value(met);
            }
            j.endObject();
        }
        return j.endArray().endObject().text();
    }
}
