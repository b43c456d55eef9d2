package dev.dropkit.cli.bundle;

import dev.dropkit.cli.Progress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dropkit bundle -o FILE.tar.xz [--cuda-arch N]}: everything a GPU node without a JDK, Maven or
 * network needs to run dropkit and its tests, in one tarball ({@link Bundler} says what and how).
 */
@Command(name = "bundle", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write an offline bundle: a Java runtime (jlink), the jars, libtorch's natives, the tests with"
            + " JUnit's console launcher and the data subset, with a ./run script (./run info, ./run test, ./run ARGS).",
            "Run it from a checkout (./dropkit bundle): it builds the tests with Maven first."})
public final class BundleCommand implements Callable<Integer> {
    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE",
            description = "The tarball to write (xz-compressed tar, e.g. dropkit-bundle.tar.xz); replaced atomically.")
    Path output;

    @Option(names = "--cuda-arch", paramLabel = "N",
            description = "Keep only the GPU code that can run on sm_N (e.g. 90 for H100/H200, 80 for A100) in"
                + " libtorch's CUDA libraries: a much smaller bundle that runs on that architecture only.")
    String cudaArch;

    @Option(names = "--include-cuda-runtime",
            description = "Also ship CUDA's runtime libraries from Bytedeco's cuda-redist (cuFFT, cuRAND, NVRTC, ...;"
                + " nearly 300 MB more). By default the node's CUDA 13 provides them, as it provides cuBLAS and cuDNN.")
    boolean includeCudaRuntime;

    @Option(names = "--xz-level", paramLabel = "0-9", defaultValue = "7",
            description = "xz's compression preset (default: ${DEFAULT-VALUE}).")
    String xzLevel;

    @Option(names = "--no-build",
            description = "Take the tests from what the last build left in target/ (mvn -Pbundle test-compile) instead of running Maven.")
    boolean noBuild;

    @Option(names = "--progress", defaultValue = "auto", paramLabel = "MODE",
            description = "auto, bar, plain or none (default: ${DEFAULT-VALUE}).")
    Progress.Mode progress;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Integer sm = cudaArch == null ? null : parseCudaArch(cudaArch);
        int level = parseXzLevel(xzLevel);
        Path out = checkOutput(output);
        Path home = checkHome(System.getProperty("dropkit.home"));
        List<String> maven = noBuild ? null : mavenCommand(home);
        Tools tools = Tools.find();
        Bundler bundler = new Bundler(home, out, sm, includeCudaRuntime, level, maven, tools, progress, System.out);
        try {
            return bundler.run();
        } catch (IOException e) {
            System.err.println("dropkit bundle: " + e.getMessage());
            return 1;
        }
    }

    /** The architecture number of {@code --cuda-arch} (75, 80, 86, 89, 90, 100, 120, ...). */
    static int parseCudaArch(String value) {
        String v = value.trim();
        if (v.startsWith("sm_")) {
            v = v.substring(3);
        }
        int sm;
        try {
            sm = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            sm = -1;
        }
        if (sm < 10 || sm > 999) {
            throw new IllegalArgumentException("--cuda-arch " + value
                    + ": not a GPU architecture; give its sm number, e.g. 80 (A100), 90 (H100, H200) or 120");
        }
        return sm;
    }

    static int parseXzLevel(String value) {
        if (!value.matches("[0-9]")) {
            throw new IllegalArgumentException("--xz-level " + value + ": must be a digit from 0 to 9");
        }
        return Integer.parseInt(value);
    }

    /** The output file, absolute, once its folder is known to take a new file. */
    static Path checkOutput(Path output) {
        Path out = output.toAbsolutePath().normalize();
        if (Files.isDirectory(out)) {
            throw new IllegalArgumentException("-o " + output + ": is a folder; name the file to write, e.g. "
                    + out.resolve("dropkit-bundle.tar.xz"));
        }
        Path dir = out.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("-o " + output + ": the folder " + dir + " does not exist");
        }
        try { // what the bundle will do: a temporary file beside the output, moved into place at the end
            Files.delete(Files.createTempFile(dir, "." + out.getFileName() + ".", ".probe"));
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalArgumentException("-o " + output + ": cannot write in " + dir + " (" + e.getMessage() + ")");
        }
        return out;
    }

    /** The checkout the bundle is built from: {@code dropkit.home}, which {@code ./dropkit} sets. */
    static Path checkHome(String home) {
        if (home == null || home.isBlank()) {
            throw new IllegalArgumentException("no checkout to bundle (the dropkit.home property is not set): run"
                    + " it as ./dropkit bundle in a dropkit checkout");
        }
        Path dir = Path.of(home).toAbsolutePath().normalize();
        if (!Files.isRegularFile(dir.resolve("pom.xml")) || !Files.isDirectory(dir.resolve("examples"))) {
            throw new IllegalArgumentException("dropkit.home=" + home + " is not a dropkit checkout (no pom.xml and"
                    + " examples/ there)");
        }
        return dir;
    }

    /** {@code mvn ... -Pbundle test-compile}, with {@code DROPKIT_MAVEN_ARGS} as {@code ./dropkit} passes them. */
    static List<String> mavenCommand(Path home) {
        Path mvn = Tools.onPath("mvn");
        if (mvn == null) {
            throw new IllegalArgumentException("Maven (mvn) is not on the PATH; install it, or build the tests with"
                    + " mvn -Pbundle test-compile elsewhere and pass --no-build");
        }
        List<String> cmd = new ArrayList<>(List.of(mvn.toString(), "-B", "--no-transfer-progress", "-Dstyle.color=never"));
        String extra = System.getenv("DROPKIT_MAVEN_ARGS");
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(List.of("-Pbundle", "test-compile"));
        return cmd;
    }
}
