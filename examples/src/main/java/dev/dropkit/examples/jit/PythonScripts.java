package dev.dropkit.examples.jit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs a Python script with Debian's PyTorch for the examples that export or reload TorchScript
 * models. The source is written to a file first: {@code torch.jit.script} reads the sources of the
 * classes it compiles, so a script fed on standard input or with {@code -c} cannot export.
 */
public final class PythonScripts {
    /**
     * Debian's interpreter ({@code python3} on a developer's PATH may be one without torch), or the one
     * {@code DROPKIT_PYTHON} names, e.g. a virtual environment's.
     */
    public static final Path PYTHON = Path.of(System.getenv().getOrDefault("DROPKIT_PYTHON", "/usr/bin/python3"));

    private PythonScripts() {}

    /** What the script printed (stdout and stderr together) and how it ended. */
    public record Result(int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    /** Writes {@code source} to {@code dir/fileName} and runs it with {@code python} and {@code args}. */
    public static Result run(Path python, Path dir, String fileName, String source, String... args)
            throws IOException, InterruptedException {
        Path script = Files.writeString(dir.resolve(fileName), source);
        List<String> cmd = new ArrayList<>(List.of(python.toString(), script.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }
}
