package dev.dropkit.jit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;

/**
 * Generates the TorchScript fixtures with Debian's PyTorch ({@code /usr/bin/python3}; CI installs
 * {@code python3-torch}). Tests that need them are skipped, with the reason, where it is missing.
 */
public final class JitFixtures {
    /** Debian's interpreter, or the one {@code DROPKIT_PYTHON} names (a virtual environment's, on a GPU node). */
    public static final Path PYTHON = Path.of(System.getenv().getOrDefault("DROPKIT_PYTHON", "/usr/bin/python3"));

    private static Boolean torchAvailable;
    private static Path generated;

    private JitFixtures() {}

    /** True when {@code /usr/bin/python3} exists and imports torch (asked once per JVM: importing torch takes seconds). */
    public static synchronized boolean torchAvailable() {
        if (torchAvailable == null) {
            try {
                torchAvailable = Files.isExecutable(PYTHON) && run(null, "-c", "import torch").exitCode == 0;
            } catch (IOException e) {
                torchAvailable = false;
            }
        }
        return torchAvailable;
    }

    /** Skips the calling test unless Debian's PyTorch is there. */
    public static void assumeTorch() {
        assumeTrue(Files.isExecutable(PYTHON), "skipped: " + PYTHON + " is missing (install python3-torch)");
        assumeTrue(torchAvailable(), "skipped: " + PYTHON + " cannot import torch (install python3-torch)");
    }

    /**
     * Puts the archives of make_models.py (mlp_scripted.pt, resnet_scripted.pt, mlp_traced.pt, resnet_traced.pt and,
     * with torchvision, bottleneck_scripted.pt, convnext_sd_scripted.pt, mlp_mobile.ptl) into {@code dir}. It runs
     * once per JVM; later calls copy its archives, so every test class gets files of its own to write beside.
     */
    public static synchronized void generate(Path dir) throws IOException {
        assumeTorch();
        if (generated == null) {
            generated = runInto(script(), "dropkit-jit-fixtures");
        }
        try (var files = Files.list(generated)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, dir.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    private static Boolean torchvisionAvailable;
    private static Path zoo;

    /** Skips the calling test, with the reason, unless {@code /usr/bin/python3} imports torchvision. */
    public static synchronized void assumeTorchvision() throws IOException {
        assumeTorch();
        if (torchvisionAvailable == null) {
            torchvisionAvailable = run(null, "-c", "import torchvision").exitCode() == 0;
        }
        assumeTrue(torchvisionAvailable, "skipped: " + PYTHON + " cannot import torchvision (install python3-torchvision)");
    }

    /**
     * Real torchvision models exported by make_zoo.py (about 140 MB, made once per JVM, never copied):
     * resnet18_scripted.pt, resnet18_traced.pt, efficientnet_b0_scripted.pt, mobilenet_v3_small_traced.pt,
     * densenet121_scripted.pt, squeezenet1_1_scripted.pt.
     * Tests must not write into this directory.
     */
    public static synchronized Path zoo(String name) throws IOException {
        assumeTorchvision();
        if (zoo == null) {
            zoo = runInto(fixtureScript("make_zoo.py"), "dropkit-jit-zoo");
        }
        return zoo.resolve(name);
    }

    /** Runs a fixture script with a new temporary directory as its OUT_DIR; the files go when the JVM exits. */
    private static Path runInto(Path script, String prefix) throws IOException {
        Path out = Files.createTempDirectory(prefix);
        Result r = run(null, script.toString(), out.toString());
        if (r.exitCode != 0) {
            throw new IOException(script.getFileName() + " failed (" + r.exitCode + "):\n" + r.output);
        }
        out.toFile().deleteOnExit(); // registered first, deleted last, once empty
        try (var files = Files.list(out)) {
            files.forEach(f -> f.toFile().deleteOnExit());
        }
        return out;
    }

    /** The fixture script on the test class path. */
    public static Path script() throws IOException {
        return fixtureScript("make_models.py");
    }

    /**
     * A script of {@code /jit} on the test class path, as a file python can run. Another module's tests
     * in a reactor {@code verify} see this module's test jar, not its classes directory, so a script
     * inside the jar is copied out to a temporary file.
     */
    private static Path fixtureScript(String name) throws IOException {
        URL url = JitFixtures.class.getResource("/jit/" + name);
        if (url == null) {
            throw new IOException("/jit/" + name + " is not on the test class path");
        }
        if ("file".equals(url.getProtocol())) {
            try {
                return Path.of(url.toURI());
            } catch (URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }
        Path copy = Files.createTempFile(name.replace(".py", "-"), ".py");
        copy.toFile().deleteOnExit();
        try (InputStream in = url.openStream()) {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
        }
        return copy;
    }

    /** Runs Debian's python with {@code args}, feeding {@code stdin} when not null. */
    public static Result run(String stdin, String... args) throws IOException {
        String[] cmd = new String[args.length + 1];
        cmd[0] = PYTHON.toString();
        System.arraycopy(args, 0, cmd, 1, args.length);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("python timed out: " + String.join(" ", cmd));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return new Result(p.exitValue(), out);
    }

    public record Result(int exitCode, String output) {}
}
