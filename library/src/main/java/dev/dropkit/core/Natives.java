package dev.dropkit.core;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.Loader;

/**
 * Loads libtorch so that CUDA comes up on the very first run.
 *
 * <p>JavaCPP extracts a preset's libraries into its cache one at a time, in preload order, and loads each
 * as soon as it is extracted. For the CUDA build that order puts {@code libc10_cuda.so} and
 * {@code libtorch_cuda.so} before {@code libc10.so} and {@code libtorch_cpu.so}: on an empty cache the
 * CUDA libraries fail to link, the failure is swallowed, and libtorch runs without its CUDA hooks until
 * the next JVM finds every file in place. Extracting libtorch's whole folder before loading removes the
 * dependence on order (native-notes/first-run-extraction-order.md).
 *
 * <p>dropkit's own entry points ({@link Devices}, {@link TorchInfo}, the CLI) call {@link #load()} first.
 * Code that touches {@code org.bytedeco.pytorch} before any dropkit class should call it itself.
 */
public final class Natives {
    private static final System.Logger LOG = System.getLogger(Natives.class.getName());
    /** The folders of the CUDA and the CPU build of the pytorch natives, under the platform's name. */
    private static final String[] NATIVE_FOLDERS = {
        "/org/bytedeco/pytorch/" + Loader.getPlatform() + "-gpu/", "/org/bytedeco/pytorch/" + Loader.getPlatform() + "/"
    };
    /** JavaCPP's system property for extra folders its preloads are looked for in. */
    static final String PRELOAD_PATH = "org.bytedeco.javacpp.platform.preloadpath";
    private static boolean loaded;

    private Natives() {}

    /**
     * Extracts every libtorch library of the natives on the classpath into JavaCPP's cache (a no-op when
     * they are there already, or loaded from the system), then loads libtorch. Safe to call many times.
     *
     * @throws UncheckedIOException if the cache cannot be written
     */
    public static synchronized void load() {
        if (loaded) {
            return;
        }
        if (Natives.class.getResource(NATIVE_FOLDERS[0]) != null || gpuNativesInPreloadPath()) {
            addCudaFoldersToPreloadPath();
        }
        for (String folder : NATIVE_FOLDERS) {
            if (Natives.class.getResource(folder) != null) {
                try {
                    Loader.cacheResources(folder);
                } catch (IOException e) {
                    throw new UncheckedIOException("libtorch's natives cannot be extracted into JavaCPP's cache ("
                            + e.getMessage() + ")", e);
                }
                LOG.log(System.Logger.Level.DEBUG, "extracted {0} into JavaCPP's cache", folder);
            }
        }
        Loader.load(org.bytedeco.pytorch.global.torch.class);
        loaded = true;
    }

    /** JavaCPP's preload path as the JVM started with it, before {@link #load()} adds CUDA's folders. */
    private static final String INITIAL_PRELOAD_PATH = System.getProperty(PRELOAD_PATH, "");

    /**
     * The folders of JavaCPP's preload path ({@code org.bytedeco.javacpp.platform.preloadpath}) as the JVM started
     * with it, where the offline bundle puts its unpacked natives (native-notes/offline-bundle.md); not the CUDA
     * folders {@link #load()} adds.
     */
    static List<Path> preloadFolders() {
        String path = INITIAL_PRELOAD_PATH;
        return java.util.Arrays.stream(path.split(File.pathSeparator)).filter(s -> !s.isBlank()).map(Path::of).toList();
    }

    /** Whether libtorch's CUDA build lies unpacked in a folder of JavaCPP's preload path, as in the offline bundle. */
    private static boolean gpuNativesInPreloadPath() {
        return preloadFolders().stream().anyMatch(dir -> java.nio.file.Files.exists(dir.resolve("libtorch_cuda.so")));
    }

    /**
     * Lets JavaCPP preload cuBLAS, cuDNN, cuSPARSE, cuSOLVER and NCCL from wherever {@link CudaLibraries}
     * finds them, ahead of libtorch: once a library is loaded, libtorch's own lookup by soname finds it.
     */
    private static void addCudaFoldersToPreloadPath() {
        List<String> folders = CudaLibraries.locate().folders().stream().map(Path::toString).toList();
        if (folders.isEmpty()) {
            return;
        }
        String existing = System.getProperty(PRELOAD_PATH);
        String path = String.join(File.pathSeparator, folders);
        System.setProperty(PRELOAD_PATH, existing == null || existing.isBlank() ? path
                : existing + File.pathSeparator + path);
        LOG.log(System.Logger.Level.DEBUG, "CUDA libraries preloaded from {0}", path);
    }
}
