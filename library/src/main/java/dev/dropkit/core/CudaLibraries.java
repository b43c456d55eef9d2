package dev.dropkit.core;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Where the CUDA libraries that libtorch's CUDA build links against are on this machine, and which are
 * missing.
 *
 * <p>{@code libtorch_cuda.so} needs cuBLAS, cuDNN, cuSPARSE, cuSOLVER and NCCL, which Bytedeco's
 * {@code cuda-redist} does not ship. Users have them from a CUDA toolkit ({@code CUDA_HOME},
 * {@code /usr/local/cuda*}), from {@code LD_LIBRARY_PATH}, or from NVIDIA's Python wheels that every
 * PyTorch installation brings ({@code site-packages/nvidia/<name>/lib}). {@link Natives#load()} hands the
 * folders found here to JavaCPP's preload path, so no one has to set {@code LD_LIBRARY_PATH}; {@link #diagnose()}
 * says why CUDA is off.
 */
public final class CudaLibraries {
    /** The libraries {@code libtorch_cuda.so} and {@code libtorch_cuda_linalg.so} of libtorch 2.10 (CUDA 13) need. */
    public static final List<String> REQUIRED = List.of("libcublas.so.13", "libcublasLt.so.13", "libcusparse.so.12",
            "libcusolver.so.12", "libnccl.so.2", "libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn_ops.so.9",
            "libcudnn_cnn.so.9", "libcudnn_adv.so.9", "libcudnn_heuristic.so.9", "libcudnn_engines_precompiled.so.9",
            "libcudnn_engines_runtime_compiled.so.9");

    /**
     * The CUDA libraries Bytedeco's {@code cuda-redist} ships, which libtorch needs ({@code libcudart},
     * {@code libcufft}, {@code libcurand}, {@code libcufile} are linked in; JavaCPP preloads NVRTC and nvJitLink).
     * They are required from the machine too where dropkit's natives come without them: the offline bundle
     * leaves them out by default ({@link #required()}).
     */
    public static final List<String> REDIST = List.of("libcudart.so.13", "libcufft.so.12", "libcurand.so.10",
            "libcufile.so.0", "libnvrtc.so.13", "libnvJitLink.so.13");

    private final List<String> required;
    private final List<Path> searched;
    private final Map<String, Path> found;

    private CudaLibraries(List<String> required, List<Path> searched, Map<String, Path> found) {
        this.required = List.copyOf(required);
        this.searched = List.copyOf(searched);
        this.found = found;
    }

    /** Looks on this machine, with this process's environment, for the libraries in {@link #required()}. */
    public static CudaLibraries locate() {
        return locate(System.getenv(), Path.of("/"), Path.of(System.getProperty("user.home", "/root")), required());
    }

    /**
     * What this machine must provide: {@link #REQUIRED}, plus those of {@link #REDIST} that dropkit's natives do
     * not bring, neither in a natives jar on the classpath ({@code cuda-redist}) nor in a folder of JavaCPP's
     * preload path (the offline bundle's {@code natives/}).
     */
    public static List<String> required() {
        List<String> all = new ArrayList<>(REQUIRED);
        String resources = "/org/bytedeco/cuda/" + org.bytedeco.javacpp.Loader.getPlatform() + "/";
        List<Path> preload = Natives.preloadFolders();
        for (String lib : REDIST) {
            boolean shipped = CudaLibraries.class.getResource(resources + lib) != null
                    // a file, not one of the links JavaCPP makes there to libraries it preloaded from elsewhere
                    || preload.stream().anyMatch(dir -> Files.isRegularFile(dir.resolve(lib), LinkOption.NOFOLLOW_LINKS));
            if (!shipped) {
                all.add(lib);
            }
        }
        return all;
    }

    /**
     * Looks in {@code CUDA_HOME}, {@code CUDA_PATH}, {@code /usr/local/cuda*}, {@code LD_LIBRARY_PATH}, the
     * {@code nvidia/*}{@code /lib} folders of Python's site-packages (system, user, virtualenv, conda) and the
     * system library folders, in that order; the first folder holding a library wins.
     *
     * @param env the environment variables
     * @param root the file system's root (a test's temporary folder stands in for {@code /})
     * @param home the user's home folder
     */
    public static CudaLibraries locate(Map<String, String> env, Path root, Path home) {
        return locate(env, root, home, REQUIRED);
    }

    /** As {@link #locate(Map, Path, Path)}, for the libraries in {@code required}. */
    public static CudaLibraries locate(Map<String, String> env, Path root, Path home, List<String> required) {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                dirs.add(Path.of(v).resolve("lib64"));
                dirs.add(Path.of(v).resolve("lib"));
            }
        }
        Path usrLocal = root.resolve("usr/local");
        dirs.add(usrLocal.resolve("cuda/lib64"));
        dirs.add(usrLocal.resolve("cuda/targets/x86_64-linux/lib"));
        children(usrLocal, "cuda-*").stream().sorted((a, b) -> b.compareTo(a)).forEach(d -> dirs.add(d.resolve("lib64")));
        String ld = env.get("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String part : ld.split(":")) {
                if (!part.isBlank()) {
                    dirs.add(Path.of(part));
                }
            }
        }
        List<Path> sitePackages = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                sitePackages.addAll(pythonLibs(Path.of(v).resolve("lib")));
                dirs.add(Path.of(v).resolve("lib"));
            }
        }
        sitePackages.addAll(pythonLibs(home.resolve(".local/lib")));
        sitePackages.addAll(pythonLibs(root.resolve("usr/local/lib")));
        sitePackages.addAll(pythonLibs(root.resolve("usr/lib")));
        for (Path site : sitePackages) {
            for (Path pkg : children(site.resolve("nvidia"), "*")) {
                dirs.add(pkg.resolve("lib"));
            }
        }
        dirs.add(root.resolve("usr/lib/x86_64-linux-gnu"));
        dirs.add(root.resolve("usr/lib64"));
        List<Path> searched = dirs.stream().filter(Files::isDirectory).toList();
        Map<String, Path> found = new LinkedHashMap<>();
        for (String lib : required) {
            searched.stream().filter(d -> Files.exists(d.resolve(lib))).findFirst().ifPresent(d -> found.put(lib, d));
        }
        return new CudaLibraries(required, searched, found);
    }

    /** The {@code python3.*}/{@code site-packages} and {@code dist-packages} folders under {@code lib}. */
    private static List<Path> pythonLibs(Path lib) {
        List<Path> out = new ArrayList<>();
        for (Path python : children(lib, "python3*")) {
            out.add(python.resolve("site-packages"));
            out.add(python.resolve("dist-packages"));
        }
        return out;
    }

    private static List<Path> children(Path dir, String glob) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Path> out = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir)) {
            var matcher = dir.getFileSystem().getPathMatcher("glob:" + glob);
            list.filter(p -> matcher.matches(p.getFileName()) && Files.isDirectory(p)).sorted().forEach(out::add);
        } catch (IOException e) {
            return List.of(); // an unreadable folder holds nothing we can load
        }
        return out;
    }

    /** The existing folders looked in, in order. */
    public List<Path> searched() {
        return searched;
    }

    /** Each required library found, with its folder. */
    public Map<String, Path> found() {
        return Map.copyOf(found);
    }

    /** The required libraries found nowhere. */
    public List<String> missing() {
        return required.stream().filter(lib -> !found.containsKey(lib)).toList();
    }

    /** The folders that hold at least one required library, in search order (JavaCPP's preload path). */
    public List<Path> folders() {
        return found.values().stream().distinct().toList();
    }

    /** Whether an NVIDIA kernel driver is loaded ({@code /proc/driver/nvidia/version} exists). */
    public static boolean driverPresent() {
        return Files.exists(Path.of("/proc/driver/nvidia/version"));
    }

    /**
     * Why CUDA is unavailable, in one line ("no NVIDIA driver or GPU ...", "missing CUDA libraries: ..."), or
     * null when it is available: no driver or GPU, the CPU-only libtorch, or a GPU whose CUDA libraries are
     * missing (each named, with the folders looked in).
     */
    public static String unavailableReason() {
        if (Devices.cudaAvailable()) {
            return null;
        }
        if (!TorchInfo.builtWithCuda()) {
            return "the CPU-only libtorch is on the classpath (use dropkit-natives-gpu)";
        }
        CudaLibraries libs = locate();
        String libraries = libs.missing().isEmpty() ? "" : "missing CUDA libraries: " + String.join(", ", libs.missing())
                + " (looked in " + (libs.searched().isEmpty() ? "no existing folder" : libs.searched().stream()
                        .map(Path::toString).reduce((a, b) -> a + ", " + b).orElse("")) + ")";
        if (!driverPresent()) {
            return "no NVIDIA driver or GPU (/proc/driver/nvidia/version is missing)"
                    + (libraries.isEmpty() ? "" : "; " + libraries);
        }
        return libraries.isEmpty() ? "an NVIDIA driver is loaded and every CUDA library was found, so the GPU or"
                + " driver itself refused (check nvidia-smi)" : libraries;
    }

    /** {@code "CUDA is not available: "} and {@link #unavailableReason()}, or null when it is available. */
    public static String diagnose() {
        String reason = unavailableReason();
        return reason == null ? null : "CUDA is not available: " + reason;
    }
}
