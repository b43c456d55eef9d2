package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CudaLibrariesTest {
    @TempDir
    Path root;

    private Path libs(String dir, String... names) throws IOException {
        Path d = Files.createDirectories(root.resolve(dir));
        for (String n : names) {
            Files.writeString(d.resolve(n), "");
        }
        return d;
    }

    @Test
    void findsEachLibraryWhereUsersHaveItFirstFolderWins() throws IOException {
        Path cudaHome = libs("opt/cuda13/lib64", "libcublas.so.13", "libcublasLt.so.13");
        Path usrLocal = libs("usr/local/cuda/lib64", "libcublas.so.13", "libcusparse.so.12");
        Path versioned = libs("usr/local/cuda-13.1/lib64", "libcusolver.so.12");
        Path ld = libs("ld/path", "libnccl.so.2");
        Path wheel = libs("home/u/.local/lib/python3.12/site-packages/nvidia/cudnn/lib", "libcudnn.so.9",
                "libcudnn_graph.so.9");
        Path venvWheel = libs("venv/lib/python3.11/site-packages/nvidia/cublas/lib", "libcublas.so.13");
        CudaLibraries found = CudaLibraries.locate(Map.of("CUDA_HOME", root.resolve("opt/cuda13").toString(),
                "LD_LIBRARY_PATH", ld + ":", "VIRTUAL_ENV", root.resolve("venv").toString()), root, root.resolve("home/u"));
        assertEquals(cudaHome, found.found().get("libcublas.so.13"), "CUDA_HOME comes first");
        assertEquals(cudaHome, found.found().get("libcublasLt.so.13"));
        assertEquals(usrLocal, found.found().get("libcusparse.so.12"));
        assertEquals(versioned, found.found().get("libcusolver.so.12"));
        assertEquals(ld, found.found().get("libnccl.so.2"));
        assertEquals(wheel, found.found().get("libcudnn.so.9"), "NVIDIA's Python wheels in the user's site-packages");
        assertEquals(List.of(cudaHome, usrLocal, versioned, ld, wheel), found.folders());
        assertTrue(found.searched().contains(venvWheel), "a virtualenv's wheels are searched too");
        assertEquals(List.of("libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9", "libcudnn_heuristic.so.9",
                "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9"), found.missing());
    }

    @Test
    void nothingInstalledMeansEveryLibraryIsMissing() {
        CudaLibraries none = CudaLibraries.locate(Map.of(), root, root.resolve("home"));
        assertEquals(CudaLibraries.REQUIRED, none.missing());
        assertEquals(List.of(), none.folders());
    }

    @Test
    void cudaRedistLibrariesAreRequiredWhereDropkitsNativesLackThem() throws IOException {
        Path wheel = libs("usr/lib/python3/dist-packages/nvidia/cufft/lib", "libcufft.so.12");
        List<String> required = new ArrayList<>(CudaLibraries.REQUIRED);
        required.addAll(CudaLibraries.REDIST);
        CudaLibraries found = CudaLibraries.locate(Map.of(), root, root.resolve("home"), required);
        assertEquals(wheel, found.found().get("libcufft.so.12"));
        assertEquals(List.of(wheel), found.folders(), "the wheel's folder goes to JavaCPP's preload path");
        assertEquals(required.size() - 1, found.missing().size());

        // cuda-redist's natives jar on the classpath (the GPU build) brings them; the CPU build and the offline
        // bundle (natives unpacked without cuda-redist) need them from the machine
        boolean redist = CudaLibraries.class.getResource("/org/bytedeco/cuda/" + Loader.getPlatform()
                + "/libcudart.so.13") != null;
        assertEquals(redist ? CudaLibraries.REQUIRED : required, CudaLibraries.required());
    }

    @Test
    void theReasonOnThisMachineNamesWhatIsMissing() {
        String reason = CudaLibraries.unavailableReason();
        if (Devices.cudaAvailable()) {
            assertEquals(null, reason);
            return;
        }
        assertTrue(reason != null && !reason.isBlank());
        if (TorchInfo.builtWithCuda() && !CudaLibraries.locate().missing().isEmpty()) {
            for (String lib : CudaLibraries.locate().missing()) {
                assertTrue(reason.contains(lib), reason);
            }
            assertTrue(reason.contains("looked in"), reason);
        }
        assertTrue(TorchInfo.describe().contains("cuda:    not available: " + reason), TorchInfo.describe());
    }
}
