package dev.dropkit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dropkit.jit.JitFixtures;
import dev.dropkit.testing.ParsedJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged CLI as a user runs it: {@code java -jar dropkit-cli.jar} (its lib/ beside it), started in a
 * directory outside the checkout, with no flags but the JVM's own.
 */
class CliJarIT {
    @TempDir
    Path elsewhere;

    /** {@code out} is stdout and stderr together, as a user sees them; {@code stdout} alone is what a pipe gets. */
    record Result(int exit, String out, String stdout) {}

    private Result run(String... args) throws IOException, InterruptedException {
        Path jar = Path.of(System.getProperty("dropkit.cli.jar")).toAbsolutePath();
        assertTrue(Files.isRegularFile(jar), "packaged CLI jar at " + jar);
        assertTrue(Files.isDirectory(jar.resolveSibling("lib")), "its lib/ folder beside it");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar.toString()));
        command.addAll(List.of(args));
        Path stderr = Files.createTempFile(elsewhere, "stderr", ".txt");
        Process p = new ProcessBuilder(command).directory(elsewhere.toFile()).redirectError(stderr.toFile()).start();
        p.getOutputStream().close();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the CLI finished");
        return new Result(p.exitValue(), stdout + Files.readString(stderr, StandardCharsets.UTF_8), stdout);
    }

    @Test
    void infoRunsFromOutsideTheCheckout() throws Exception {
        Result r = run("info");
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("libtorch 2.10.0"), r.out());
        assertTrue(r.out().contains("device:  "), r.out());
        assertTrue(!r.out().contains("Exception"), r.out());
    }

    @Test
    void jitInspectRunsFromOutsideTheCheckout() throws Exception {
        JitFixtures.generate(elsewhere); // skips, with its reason, where Debian's PyTorch is missing
        Result r = run("jit", "inspect", "mlp_scripted.pt");
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("dropout nodes: 6"), r.out());
        Result json = run("jit", "inspect", "--json", "mlp_scripted.pt");
        assertEquals(0, json.exit(), json.out());
        JsonNode report = ParsedJson.parse(json.stdout()); // stdout alone is the JSON, for a pipe into jq
        assertEquals(6, report.get("dropoutTotal").intValue(), json.out());
        assertEquals(6, report.get("dropoutNodes").size(), json.out());
    }

    @Test
    void aBadFileIsAUserError() throws Exception {
        Result r = run("jit", "inspect", "missing.pt");
        assertEquals(2, r.exit(), r.out());
        assertTrue(r.out().contains("missing.pt"), r.out());
    }
}
