package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JVM on an empty JavaCPP cache: the CUDA libraries of libtorch must link on the first run, so the only
 * reasons left for {@code libtorch_cuda.so} not loading are CUDA libraries that are not installed.
 */
class NativesFirstRunTest {
    /** What the child JVM runs. */
    public static final class Probe {
        public static void main(String[] args) {
            Natives.load();
            System.out.println("loaded: " + String.join(",", Loader.getLoadedLibraries().keySet()));
        }
    }

    @Test
    void cudaLibrariesLinkOnAFreshCache(@TempDir Path cache) throws IOException, InterruptedException {
        assumeTrue(NativesFirstRunTest.class.getResource("/org/bytedeco/pytorch/" + Loader.getPlatform() + "-gpu/")
                != null, "skipped: no natives jar of libtorch's CUDA build on the classpath (the CPU-only natives of -Pcpu,"
                + " or the offline bundle, whose natives are unpacked already)");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dorg.bytedeco.javacpp.logger.debug=true",
                "-Dorg.bytedeco.javacpp.cachedir=" + cache, "-cp", System.getProperty("java.class.path"),
                Probe.class.getName()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), log);
        assertTrue(log.matches("(?s).*\\nloaded: .*\\bc10_cuda\\b.*"), "libc10_cuda.so is loaded on the first run");
        assertFalse(log.contains("libc10_cuda.so: libc10.so: cannot open"), "libc10_cuda.so found libc10.so");

        // every library libtorch_cuda.so could not find must be one that no dropkit dependency ships
        Set<String> shipped;
        try (Stream<Path> files = Files.walk(cache)) {
            shipped = files.map(f -> f.getFileName().toString()).collect(Collectors.toSet());
        }
        Matcher m = Pattern.compile("libtorch_cuda\\.so: (\\S+): cannot open shared object file").matcher(log);
        List<String> missing = m.results().map(r -> r.group(1)).distinct().toList();
        for (String lib : missing) {
            assertFalse(shipped.contains(lib), lib + " is in the cache but was not there when libtorch_cuda.so loaded");
            assertTrue(lib.matches("lib(cu|nccl|nv).*"), "only CUDA's own libraries may be missing, not " + lib);
        }
    }
}
