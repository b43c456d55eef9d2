package dev.dropkit.build;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** What a project that depends on dropkit inherits: the Java classes of libtorch's bindings, nothing else. */
class LibraryClasspathTest {

    @Test
    void theRuntimeClasspathHasNoNativesCliPlotsOrProgressBars() throws IOException {
        Path file = Path.of(System.getProperty("dropkit.runtime.classpath", "target/runtime-classpath.txt"));
        List<String> jars = Arrays.stream(Files.readString(file).trim().split(java.io.File.pathSeparator))
                .map(p -> Path.of(p).getFileName().toString()).sorted().collect(Collectors.toList());
        assertEquals(List.of("cuda-13.1-9.19-1.5.13.jar", "javacpp-1.5.13.jar", "openblas-0.3.31-1.5.13.jar",
                "pytorch-2.10.0-1.5.13.jar"), jars, "compile + runtime dependencies of dev.dropkit:dropkit");
    }

    @Test
    void classesAreJava22Bytecode() throws IOException {
        try (InputStream in = LibraryClasspathTest.class.getResourceAsStream("/dev/dropkit/train/Trainer.class")) {
            assertTrue(in != null, "Trainer.class on the classpath");
            DataInputStream data = new DataInputStream(in);
            assertEquals(0xCAFEBABE, data.readInt());
            data.readUnsignedShort(); // minor
            assertEquals(66, data.readUnsignedShort(), "class file major version (66 = Java 22)");
        }
    }
}
