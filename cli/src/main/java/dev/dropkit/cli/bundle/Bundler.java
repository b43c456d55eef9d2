package dev.dropkit.cli.bundle;

import dev.dropkit.cli.Progress;
import dev.dropkit.core.AtomicFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.bytedeco.javacpp.Loader;

/**
 * Builds the offline bundle. Its layout, at the root of the tarball:
 *
 * <pre>
 * run                           ./run info | ./run test [JUnit options] | ./run ARGS...
 * README.txt                    what is in it, for which GPU, how it was made
 * runtime/                      a Java runtime from jlink with the modules jdeps finds, plus jdk.zipfs
 * lib/                          dropkit.jar, dropkit-cli.jar, dropkit-examples.jar and their runtime jars, natives excluded
 * natives/                      the natives jars' libraries, unpacked (JavaCPP loads them from there), pruned to sm_N
 * tests/classes/MODULE/         every module's compiled tests
 * tests/lib/                    the tests' own dependencies and JUnit's console launcher
 * tests/library-runtime-classpath.txt   what the library's LibraryClasspathTest checks
 * examples/data/fashion-mnist-subset/   the data subset, where the tests and examples look for it
 * </pre>
 */
final class Bundler {
    /** Libraries JavaCPP loads under another name, copied beside them (here: hard links); see native-notes. */
    static final Map<String, String> ALIASES = Map.of("libopenblas_nolapack.so.0", "libopenblas.so.0");
    /** Modules the code needs that jdeps cannot see: JUnit scans packages inside jars through the zip file system. */
    static final List<String> EXTRA_MODULES = List.of("jdk.zipfs", "jdk.incubator.vector");
    /** Jars the JUnit console launcher brings itself. */
    private static final Pattern JUNIT_JAR = Pattern.compile("(junit-|opentest4j-|apiguardian-api-).*\\.jar");
    private static final Pattern SHARED_LIBRARY = Pattern.compile("lib[^/]+\\.so(\\.[0-9]+)*");
    private static final Pattern VERSIONED = Pattern.compile("(lib[^/]+\\.so)\\.[0-9.]+");
    private static final int STEPS = 8;

    private final Path home;
    private final Path out;
    private final Integer sm;
    private final boolean includeCudaRuntime;
    private final int xzLevel;
    private final List<String> maven;
    private final Tools tools;
    private final Progress.Mode progress;
    private final PrintStream log;
    private final String platform = Loader.getPlatform();
    private int step;

    Bundler(Path home, Path out, Integer sm, boolean includeCudaRuntime, int xzLevel, List<String> maven, Tools tools,
            Progress.Mode progress, PrintStream log) {
        this.home = home;
        this.out = out;
        this.sm = sm;
        this.includeCudaRuntime = includeCudaRuntime;
        this.xzLevel = xzLevel;
        this.maven = maven;
        this.tools = tools;
        this.progress = progress;
        this.log = log;
    }

    /** Writes the bundle; returns the exit status. */
    int run() throws IOException, InterruptedException {
        long start = System.nanoTime();
        Path staging = Files.createTempDirectory(out.getParent(), "." + out.getFileName() + ".staging-");
        Path part = null;
        try {
            build();
            List<Path> runtime = runtimeClasspath();
            List<String> prunedTables = new ArrayList<>();
            Path natives = natives(runtime, staging.resolve("natives"));
            if (sm != null) {
                prunedTables.add(prune(natives));
            } else {
                step("natives kept whole (no --cuda-arch): GPU code for every architecture");
            }
            jars(runtime, staging.resolve("lib"));
            String tests = tests(staging);
            data(staging);
            runtimeImage(staging);
            writeRunAndReadme(staging, tests, prunedTables);
            part = Files.createTempFile(out.getParent(), "." + out.getFileName() + ".", ".part");
            Files.setPosixFilePermissions(part, PosixFilePermissions.fromString("rw-r--r--")); // not the temp file's 600
            long raw = compress(staging, part);
            AtomicFiles.moveIntoPlace(part, out);
            part = null;
            log.printf(Locale.ROOT, "bundle: wrote %s: %s (%s unpacked) in %s%n", out, mb(Files.size(out)), mb(raw),
                    duration(start));
            log.println("bundle: on the GPU node: mkdir dropkit && tar xJf " + out.getFileName()
                    + " -C dropkit && cd dropkit && ./run info && ./run test");
            return 0;
        } finally {
            if (part != null) {
                Files.deleteIfExists(part);
            }
            deleteTree(staging);
        }
    }

    private void step(String what) {
        step++;
        log.printf(Locale.ROOT, "bundle: [%d/%d] %s%n", step, STEPS, what);
    }

    // 1. the tests and the runtime classpath, built by Maven

    private void build() throws IOException, InterruptedException {
        if (maven == null) {
            step("build skipped (--no-build): taking the tests from target/");
            return;
        }
        Path logFile = home.resolve("target/bundle/maven.log");
        Files.createDirectories(logFile.getParent());
        step("building the tests with Maven: " + String.join(" ", maven.subList(1, maven.size())) + " (log: "
                + home.relativize(logFile) + ")");
        long t = System.nanoTime();
        ProcessBuilder pb = new ProcessBuilder(maven).directory(home.toFile()).redirectErrorStream(true)
                .redirectOutput(logFile.toFile());
        Map<String, String> env = pb.environment();
        env.putIfAbsent("JAVA_HOME", System.getProperty("java.home")); // Maven runs on this JDK, as ./dropkit does
        if (Runtime.version().feature() >= 24 && !env.getOrDefault("MAVEN_OPTS", "").contains("sun-misc-unsafe")) {
            env.put("MAVEN_OPTS", (env.getOrDefault("MAVEN_OPTS", "") + " --sun-misc-unsafe-memory-access=allow").trim());
        }
        Process p = pb.start();
        p.getOutputStream().close();
        int rc = p.waitFor();
        if (rc != 0) {
            throw new IOException("Maven failed (exit " + rc + "); the whole log is in " + logFile);
        }
        log.println("bundle:   built in " + duration(t));
    }

    /** The examples' runtime classpath, as the build wrote it, less our own modules (they are jarred from classes). */
    private List<Path> runtimeClasspath() throws IOException {
        Path file = home.resolve("examples/target/classpath.txt");
        if (!Files.isRegularFile(file) || Files.size(file) == 0) {
            throw new IOException(file + " is missing: build first (./dropkit build, or drop --no-build)");
        }
        List<Path> jars = new ArrayList<>();
        for (String entry : Files.readString(file).trim().split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry);
            if (entry.isBlank() || p.toAbsolutePath().normalize().startsWith(home) || !entry.endsWith(".jar")) {
                continue; // our modules (classes or stale jars), and the natives' pom
            }
            if (!Files.isRegularFile(p)) {
                throw new IOException("the runtime classpath names " + p + ", which does not exist: build again");
            }
            jars.add(p);
        }
        return jars;
    }

    // 2. natives

    private boolean isCudaRedist(Path jar) {
        return jar.getFileName().toString().startsWith("cuda-redist");
    }

    /** The shared libraries of a natives jar (names), or null when the jar also holds anything else. */
    private List<JarEntry> nativeLibraries(JarFile jar) {
        Pattern folder = Pattern.compile("org/bytedeco/[^/]+/" + Pattern.quote(platform) + "(-[^/]+)?/(.+)");
        List<JarEntry> libs = new ArrayList<>();
        boolean other = false;
        for (JarEntry e : jar.stream().toList()) {
            if (e.isDirectory() || e.getName().startsWith("META-INF/")) {
                continue;
            }
            Matcher m = folder.matcher(e.getName());
            if (!m.matches()) {
                other = true;
            } else if (SHARED_LIBRARY.matcher(m.group(2)).matches()) {
                libs.add(e); // headers, cmake and pkg-config files beside them are left out
            }
        }
        return other || libs.isEmpty() ? null : libs;
    }

    private Path natives(List<Path> runtime, Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> fromJars = new ArrayList<>();
        List<String> leftOut = new ArrayList<>();
        long bytes = 0;
        int count = 0;
        Map<String, Path> origin = new LinkedHashMap<>();
        for (Path jarPath : runtime) {
            try (JarFile jar = new JarFile(jarPath.toFile())) {
                List<JarEntry> libs = nativeLibraries(jar);
                if (libs == null) {
                    continue;
                }
                if (isCudaRedist(jarPath) && !includeCudaRuntime) {
                    leftOut.add(jarPath.getFileName().toString());
                    continue;
                }
                fromJars.add(jarPath.getFileName().toString());
                for (JarEntry e : libs) {
                    String name = e.getName().substring(e.getName().lastIndexOf('/') + 1);
                    Path target = dir.resolve(name);
                    if (origin.containsKey(name)) {
                        if (Files.size(target) != e.getSize()) {
                            throw new IOException(name + " is in both " + origin.get(name).getFileName() + " and "
                                    + jarPath.getFileName() + ", and they differ");
                        }
                        continue;
                    }
                    origin.put(name, jarPath);
                    try (InputStream in = jar.getInputStream(e)) {
                        Files.copy(in, target);
                    }
                    Files.setLastModifiedTime(target, FileTime.fromMillis(e.getTime()));
                    bytes += e.getSize();
                    count++;
                }
            }
        }
        for (Map.Entry<String, String> alias : ALIASES.entrySet()) {
            Path original = dir.resolve(alias.getValue());
            Path copy = dir.resolve(alias.getKey());
            if (Files.isRegularFile(original) && !Files.exists(copy)) {
                Files.createLink(copy, original); // same size and time: JavaCPP finds its renamed copy in place
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) { // libX.so -> libX.so.N, as JavaCPP would link them on first use
                Matcher m = VERSIONED.matcher(f.getFileName().toString());
                if (m.matches() && !Files.exists(dir.resolve(m.group(1)), LinkOption.NOFOLLOW_LINKS)) {
                    Files.createSymbolicLink(dir.resolve(m.group(1)), f.getFileName());
                }
            }
        }
        if (!origin.containsKey("libjnitorch.so")) {
            throw new IOException("no libtorch natives on the runtime classpath (" + home.resolve("examples/target/classpath.txt")
                    + "): build again");
        }
        step(String.format(Locale.ROOT, "natives: %d libraries, %s, unpacked from %s", count, mb(bytes),
                String.join(", ", fromJars)));
        if (!leftOut.isEmpty()) {
            log.println("bundle:   left out (--include-cuda-runtime ships them): " + String.join(", ", leftOut)
                    + "; the node's CUDA 13 provides these libraries, as it provides cuBLAS and cuDNN");
        }
        return dir;
    }

    private String prune(Path natives) throws IOException {
        Path torchCuda = natives.resolve("libtorch_cuda.so");
        if (!Files.isRegularFile(torchCuda)) {
            throw new IllegalArgumentException("--cuda-arch " + sm + ": the natives on the classpath are the CPU-only"
                    + " libtorch (built with -Pcpu?); there is no GPU code to prune");
        }
        step("pruning GPU code to what runs on sm_" + sm);
        StringBuilder tables = new StringBuilder();
        List<Path> libs;
        try (Stream<Path> files = Files.list(natives)) {
            libs = files.filter(f -> Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
        }
        long before = 0;
        long zeroed = 0;
        Set<Object> seen = new HashSet<>();
        for (Path lib : libs) {
            Object key = Files.readAttributes(lib, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
            if (key != null && !seen.add(key)) {
                continue; // a hard link of a library done already
            }
            FatbinPruner.Report r = FatbinPruner.prune(lib, sm);
            if (r.section() == null) {
                continue;
            }
            if (lib.equals(torchCuda) && !r.keptCode()) {
                throw new IllegalArgumentException("--cuda-arch " + sm + ": libtorch_cuda.so has no GPU code that runs on"
                        + " sm_" + sm + " (it has " + r.elfArchitectures() + ")");
            }
            before += Files.size(lib);
            zeroed += r.zeroedBytes();
            String head = String.format(Locale.ROOT, "%s: %s, %s in %d fatbins, %s zeroed", lib.getFileName(),
                    mb(Files.size(lib)), FatbinPruner.SECTION + " " + mb(r.section().size()), r.fatbins(), mb(r.zeroedBytes()));
            log.println("bundle:   " + head);
            log.print(r.table().replaceAll("(?m)^", "bundle: "));
            tables.append(head).append('\n').append(r.table());
        }
        log.printf(Locale.ROOT, "bundle:   %s of %s zeroed (file sizes unchanged)%n", mb(zeroed), mb(before));
        return tables.toString();
    }

    // 3. jars

    private void jars(List<Path> runtime, Path lib) throws IOException {
        Files.createDirectories(lib);
        long bytes = 0;
        int count = 0;
        for (String module : List.of("library", "cli", "examples")) {
            Path classes = home.resolve(module).resolve("target/classes");
            if (!Files.isDirectory(classes)) {
                throw new IOException(classes + " is missing: build first");
            }
            Path jar = lib.resolve(module.equals("library") ? "dropkit.jar" : "dropkit-" + module + ".jar");
            jar(classes, jar);
            bytes += Files.size(jar);
            count++;
        }
        for (Path jar : runtime) {
            try (JarFile j = new JarFile(jar.toFile())) {
                if (nativeLibraries(j) != null) {
                    continue; // unpacked into natives/, or left out
                }
            }
            Files.copy(jar, lib.resolve(jar.getFileName()), StandardCopyOption.COPY_ATTRIBUTES);
            bytes += Files.size(jar);
            count++;
        }
        step(String.format(Locale.ROOT, "jars: %d, %s (dropkit's modules jarred from target/classes)", count, mb(bytes)));
    }

    /** A jar of a classes folder, entries in name order. */
    static void jar(Path classes, Path jar) throws IOException {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        List<Path> files;
        try (Stream<Path> walk = Files.walk(classes)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        }
        try (JarOutputStream zip = new JarOutputStream(Files.newOutputStream(jar), manifest)) {
            Set<String> dirs = new HashSet<>();
            for (Path f : files) {
                String name = classes.relativize(f).toString().replace('\\', '/');
                for (int i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
                    String d = name.substring(0, i + 1);
                    if (dirs.add(d)) {
                        zip.putNextEntry(new JarEntry(d));
                        zip.closeEntry();
                    }
                }
                JarEntry e = new JarEntry(name);
                e.setTime(Files.getLastModifiedTime(f).toMillis());
                zip.putNextEntry(e);
                Files.copy(f, zip);
                zip.closeEntry();
            }
        }
    }

    // 4. tests

    private String tests(Path staging) throws IOException {
        Path classesDir = staging.resolve("tests/classes");
        Path libDir = staging.resolve("tests/lib");
        Files.createDirectories(classesDir);
        Files.createDirectories(libDir);
        List<String> modules = new ArrayList<>();
        Set<String> jarNames = new TreeSet<>();
        Set<String> runtimeNames = new HashSet<>();
        try (Stream<Path> l = Files.list(staging.resolve("lib"))) {
            l.forEach(p -> runtimeNames.add(p.getFileName().toString()));
        }
        String jupiter = null;
        Map<String, String> classOwner = new LinkedHashMap<>();
        List<String> duplicates = new ArrayList<>();
        int testClasses = 0;
        try (Stream<Path> children = Files.list(home)) {
            for (Path module : children.sorted().toList()) {
                Path testClasses0 = module.resolve("target/test-classes");
                Path cpFile = module.resolve("target/bundle-test-classpath.txt");
                if (!Files.isDirectory(testClasses0) || !Files.isRegularFile(cpFile)) {
                    continue;
                }
                String name = module.getFileName().toString();
                modules.add(name);
                Path target = classesDir.resolve(name);
                copyTree(testClasses0, target);
                try (Stream<Path> walk = Files.walk(target)) {
                    for (Path f : walk.filter(p -> p.toString().endsWith(".class")).toList()) {
                        String cls = target.relativize(f).toString();
                        String before = classOwner.putIfAbsent(cls, name);
                        if (before != null) {
                            duplicates.add(cls + " (" + before + ", " + name + ")");
                        }
                        testClasses++;
                    }
                }
                for (String entry : Files.readString(cpFile).trim().split(java.io.File.pathSeparator)) {
                    if (entry.isBlank() || !entry.endsWith(".jar")) {
                        continue;
                    }
                    Path jar = Path.of(entry);
                    String file = jar.getFileName().toString();
                    if (file.startsWith("junit-jupiter-api-")) {
                        jupiter = file.substring("junit-jupiter-api-".length(), file.length() - 4);
                    }
                    if (jar.toAbsolutePath().normalize().startsWith(home) || JUNIT_JAR.matcher(file).matches()
                            || runtimeNames.contains(file) || jarNames.contains(file)) {
                        continue;
                    }
                    try (JarFile j = new JarFile(jar.toFile())) {
                        if (nativeLibraries(j) != null) {
                            continue; // another flavour's natives (the consumer test's CPU ones): natives/ serves all
                        }
                    }
                    Files.copy(jar, libDir.resolve(file), StandardCopyOption.COPY_ATTRIBUTES);
                    jarNames.add(file);
                }
            }
        }
        if (modules.isEmpty()) {
            throw new IOException("no compiled tests under " + home + " (*/target/test-classes with"
                    + " target/bundle-test-classpath.txt): build with mvn -Pbundle test-compile, or drop --no-build");
        }
        if (!duplicates.isEmpty()) {
            throw new IOException("test classes in more than one module would shadow each other: " + duplicates);
        }
        Path console = consoleLauncher();
        String consoleVersion = console.getFileName().toString().replaceAll(".*-([0-9][^-]*)\\.jar", "$1");
        if (jupiter != null && !consoleVersion.equals("1." + jupiter.substring(jupiter.indexOf('.') + 1))) {
            throw new IOException("JUnit's console launcher " + consoleVersion + " does not match junit-jupiter " + jupiter
                    + ": set junit.platform.version in the root pom to 1." + jupiter.substring(jupiter.indexOf('.') + 1));
        }
        Files.copy(console, libDir.resolve(console.getFileName()), StandardCopyOption.COPY_ATTRIBUTES);
        jarNames.add(console.getFileName().toString());

        // LibraryClasspathTest checks the names of the library's runtime dependencies, which Maven wrote
        Path libraryCp = home.resolve("library/target/runtime-classpath.txt");
        if (Files.isRegularFile(libraryCp)) {
            List<String> names = new ArrayList<>();
            for (String entry : Files.readString(libraryCp).trim().split(java.io.File.pathSeparator)) {
                if (!entry.isBlank()) {
                    names.add("lib/" + Path.of(entry).getFileName());
                }
            }
            Files.writeString(staging.resolve("tests/library-runtime-classpath.txt"), String.join(":", names) + "\n");
        }
        String summary = String.format(Locale.ROOT, "tests: %d classes from %s; %d jars (%s)", testClasses,
                String.join(", ", modules), jarNames.size(), String.join(", ", jarNames));
        step(summary);
        return summary;
    }

    private Path consoleLauncher() throws IOException {
        Path dir = home.resolve("target/bundle");
        if (Files.isDirectory(dir)) {
            try (Stream<Path> l = Files.list(dir)) {
                List<Path> jars = l.filter(p -> p.getFileName().toString()
                        .matches("junit-platform-console-standalone-.*\\.jar")).sorted().toList();
                if (!jars.isEmpty()) {
                    return jars.getLast();
                }
            }
        }
        throw new IOException("JUnit's console launcher is not in " + dir + ": build with mvn -Pbundle test-compile");
    }

    // 5. data

    private void data(Path staging) throws IOException {
        Path src = home.resolve("examples/data");
        Path subset = src.resolve("fashion-mnist-subset");
        if (!Files.isDirectory(subset)) {
            throw new IOException(subset + " is missing");
        }
        Path target = staging.resolve("examples/data");
        copyTree(subset, target.resolve("fashion-mnist-subset"));
        if (Files.isRegularFile(src.resolve("README.md"))) {
            Files.copy(src.resolve("README.md"), target.resolve("README.md"));
        }
        step("data: the Fashion-MNIST subset, " + mb(treeSize(target)) + ", in examples/data/");
    }

    // 6. the Java runtime

    private void runtimeImage(Path staging) throws IOException, InterruptedException {
        List<String> jars = new ArrayList<>();
        List<String> inputs = new ArrayList<>();
        for (String d : List.of("lib", "tests/lib")) {
            try (Stream<Path> l = Files.list(staging.resolve(d))) {
                l.filter(p -> p.toString().endsWith(".jar")).sorted().forEach(p -> jars.add(p.toString()));
            }
        }
        inputs.addAll(jars);
        try (Stream<Path> l = Files.list(staging.resolve("tests/classes"))) {
            l.sorted().forEach(p -> inputs.add(p.toString()));
        }
        String cp = String.join(java.io.File.pathSeparator, jars);
        List<String> jdeps = new ArrayList<>(List.of(tools.jdeps().toString(), "--module-path", cp, "--class-path", cp,
                "--print-module-deps", "--ignore-missing-deps", "--multi-release",
                String.valueOf(Runtime.version().feature()), "-q"));
        jdeps.addAll(inputs);
        long t = System.nanoTime();
        String found = lastLine(exec(jdeps, "jdeps"));
        if (!found.matches("[a-z0-9.]+(,[a-z0-9.]+)*")) {
            throw new IOException("jdeps printed no module list: " + found);
        }
        Set<String> modules = new TreeSet<>(Arrays.asList(found.split(",")));
        modules.addAll(EXTRA_MODULES);
        Path image = staging.resolve("runtime");
        exec(List.of(tools.jlink().toString(), "--add-modules", String.join(",", modules), "--strip-debug",
                "--no-header-files", "--no-man-pages", "--output", image.toString()), "jlink");
        step(String.format(Locale.ROOT, "runtime: jlink of Java %s with %s (jdeps: %s), %s, in %s",
                Runtime.version().feature(), String.join(",", modules), found, mb(treeSize(image)), duration(t)));
    }

    // 7. run script and README

    private void writeRunAndReadme(Path staging, String tests, List<String> prunedTables) throws IOException {
        Path run = staging.resolve("run");
        try (InputStream in = Bundler.class.getResourceAsStream("run")) {
            if (in == null) {
                throw new IOException("the run script is missing from the CLI's resources");
            }
            Files.copy(in, run);
        }
        Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwxr-xr-x"));
        String target = sm == null ? "every GPU architecture libtorch ships (no --cuda-arch)"
                : "sm_" + sm + " only (--cuda-arch " + sm + "): other architectures' GPU code is zeroed";
        String text = """
                dropkit offline bundle
                ======================

                Unpack it anywhere and run, with no JDK, Maven or network:

                  ./run info                 libtorch, CUDA and the device dropkit would use
                  ./run test [OPTIONS]       the project's tests (JUnit console launcher options, e.g.
                                             --select-package dev.dropkit.dropout; without a selector: all)
                  ./run ARGS...              any dropkit command: ./run demo, ./run --help

                GPU code: %s.
                CUDA: an NVIDIA driver, and CUDA 13's libraries (cuBLAS, cuDNN, cuSPARSE, cuSOLVER, NCCL%s) from a
                CUDA toolkit, CUDA_HOME, LD_LIBRARY_PATH or NVIDIA's Python wheels; ./run info names what is missing.
                Without them everything runs on the CPU.

                Contents: runtime/ (Java %s, jlink), lib/ (jars), natives/ (libtorch, OpenBLAS, JavaCPP: unpacked),
                tests/, examples/data/fashion-mnist-subset. JavaCPP's cache is this folder when it is writable, else
                $TMPDIR/dropkit-bundle-cache-UID (DROPKIT_JAVACPP_CACHE overrides).
                %s
                Made by `dropkit bundle` from %s.
                """.formatted(target, includeCudaRuntime ? "" : ", and cuFFT, cuRAND, cuFile, NVRTC, nvJitLink, cudart",
                Runtime.version(), tests, home);
        if (!prunedTables.isEmpty()) {
            text += "\nGPU code kept and zeroed, per library:\n" + String.join("\n", prunedTables);
        }
        Files.writeString(staging.resolve("README.txt"), text, StandardCharsets.UTF_8);
    }

    // 8. tar | xz

    private long compress(Path staging, Path part) throws IOException, InterruptedException {
        long total = treeSize(staging);
        List<String> top = List.of("run", "README.txt", "lib", "tests", "examples", "runtime", "natives");
        List<String> tar = new ArrayList<>(List.of(tools.tar().toString(), "--create", "--file=-",
                "--directory=" + staging));
        if (gnuTar()) {
            tar.addAll(List.of("--owner=0", "--group=0", "--numeric-owner", "--sort=name"));
        }
        tar.addAll(top);
        List<String> xz = List.of(tools.xz().toString(), "-T0", "-" + xzLevel, "-c");
        step(String.format(Locale.ROOT, "compressing %s: tar | xz -%d -T0 (every core; the longest step)", mb(total),
                xzLevel));
        long t = System.nanoTime();
        Path tarErr = Files.createTempFile(part.getParent(), ".tar-", ".log");
        Path xzErr = Files.createTempFile(part.getParent(), ".xz-", ".log");
        try {
            Process tarProc = new ProcessBuilder(tar).redirectError(tarErr.toFile()).start();
            Process xzProc = new ProcessBuilder(xz).redirectOutput(part.toFile()).redirectError(xzErr.toFile()).start();
            tarProc.getOutputStream().close();
            long copied = 0;
            long units = Math.max(1, total >> 20);
            try (InputStream in = tarProc.getInputStream(); OutputStream toXz = xzProc.getOutputStream();
                    Progress bar = Progress.start(progress, "tar | xz", units, log)) {
                byte[] buf = new byte[1 << 20];
                long shown = 0;
                int n;
                while ((n = in.read(buf)) > 0) {
                    toXz.write(buf, 0, n);
                    copied += n;
                    while (shown < Math.min(units, copied >> 20)) {
                        shown++;
                        bar.step("xz " + mb(Files.size(part)));
                    }
                }
            } catch (IOException e) {
                tarProc.destroy();
                xzProc.destroy();
                throw new IOException("tar | xz failed: " + e.getMessage() + tail(tarErr) + tail(xzErr), e);
            }
            int tarRc = tarProc.waitFor();
            int xzRc = xzProc.waitFor();
            if (tarRc != 0 || xzRc != 0) {
                throw new IOException("tar (exit " + tarRc + ") | xz (exit " + xzRc + ") failed" + tail(tarErr) + tail(xzErr));
            }
            log.printf(Locale.ROOT, "bundle:   %s -> %s (%.1f%%) in %s%n", mb(copied), mb(Files.size(part)),
                    100.0 * Files.size(part) / Math.max(1, copied), duration(t));
            return copied;
        } finally {
            Files.deleteIfExists(tarErr);
            Files.deleteIfExists(xzErr);
        }
    }

    private boolean gnuTar() {
        try {
            return exec(List.of(tools.tar().toString(), "--version"), "tar").contains("GNU tar");
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    // helpers

    /** Runs a tool, returning its output; fails with the output's end when it exits non-zero. */
    private static String exec(List<String> cmd, String name) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        if (rc != 0) {
            throw new IOException(name + " failed (exit " + rc + "): " + lastLines(output, 15));
        }
        return output;
    }

    private static String lastLine(String output) {
        List<String> lines = output.lines().filter(l -> !l.isBlank()).toList();
        return lines.isEmpty() ? "" : lines.getLast().trim();
    }

    private static String lastLines(String output, int n) {
        List<String> lines = output.lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    private static String tail(Path log) {
        try {
            String s = Files.readString(log).trim();
            return s.isEmpty() ? "" : "\n" + lastLines(s, 10);
        } catch (IOException e) {
            return "";
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.sorted().toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    /** Bytes of the regular files under {@code dir}, hard links counted once. */
    static long treeSize(Path dir) throws IOException {
        Set<Object> seen = new HashSet<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)).mapToLong(p -> {
                try {
                    var attrs = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
                            LinkOption.NOFOLLOW_LINKS);
                    return attrs.fileKey() == null || seen.add(attrs.fileKey()) ? attrs.size() : 0;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    static String duration(long startNanos) {
        long s = Math.round((System.nanoTime() - startNanos) / 1e9);
        return s < 60 ? s + " s" : s / 60 + " min " + s % 60 + " s";
    }
}
