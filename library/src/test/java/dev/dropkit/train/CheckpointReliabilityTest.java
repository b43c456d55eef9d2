package dev.dropkit.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeArchives;
import dev.dropkit.testing.TinyDisk;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints that cannot be half-written, cannot be loaded into the wrong model, and are refused when damaged. */
class CheckpointReliabilityTest {

    /** An MLP 8 -> width (x depth) -> 4; width 512 makes a checkpoint of over 64 KB. */
    static final class Mlp extends Module {
        final List<LinearImpl> layers;

        Mlp(int width, int depth) {
            List<LinearImpl> l = new java.util.ArrayList<>();
            int in = 8;
            for (int i = 0; i < depth; i++) {
                l.add(register_module("hidden" + i, new LinearImpl(in, width)));
                in = width;
            }
            l.add(register_module("out", new LinearImpl(in, 4)));
            layers = List.copyOf(l);
        }

        Tensor forward(Tensor x) {
            for (int i = 0; i < layers.size() - 1; i++) {
                x = torch.relu(layers.get(i).forward(x));
            }
            return layers.get(layers.size() - 1).forward(x);
        }
    }

    static Trainer trainer(Mlp net) {
        return Trainer.builder(TrainableModel.of(net, net::forward)).optimizer(Optimizers.sgd(0.1, 0.9)).epochs(1)
                .seed(11).device(Devices.cpu()).build();
    }

    static List<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aFullDiskIsAnIOExceptionNamingTheFileAndLeavesNothing(@TempDir Path dir) throws Exception {
        try (TinyDisk disk = TinyDisk.mount(dir, "tiny")) {
            Path tiny = disk.dir();
            Trainer t = trainer(new Mlp(512, 1)); // ~18 KB of weights, ~36 KB with momentum: fits once, not twice
            Path first = tiny.resolve("first.ckpt");
            t.saveCheckpoint(first);
            long size = Files.size(first);
            Path second = tiny.resolve("second.ckpt");
            Files.write(tiny.resolve("filler"), new byte[(int) Math.max(0, 64 * 1024 - 2 * size)]);
            IOException e = assertThrows(IOException.class, () -> {
                for (int i = 0; i < 4; i++) { // until the disk is full
                    t.saveCheckpoint(tiny.resolve("more" + i + ".ckpt"));
                }
                t.saveCheckpoint(second);
            });
            assertTrue(e.getMessage().startsWith("checkpoint " + tiny.resolve("more"))
                    || e.getMessage().startsWith("checkpoint " + second), e.getMessage());
            assertTrue(e.getMessage().contains("cannot be written"), e.getMessage());
            for (String f : files(tiny)) {
                assertFalse(f.endsWith(".part") || f.endsWith(".tmp"), "no partial file left: " + files(tiny));
                if (f.endsWith(".ckpt")) {
                    NativeArchives.verify(tiny.resolve(f), "checkpoint"); // what is there is whole
                }
            }
            assertEquals(size, Files.size(first), "an earlier checkpoint is untouched");
        }
    }

    @Test
    void metricsOnAFullDiskKeepTheLastCompleteFile(@TempDir Path dir) throws Exception {
        try (TinyDisk disk = TinyDisk.mount(dir, "tiny")) {
            Path tiny = disk.dir();
            TrainingHistory h = new TrainingHistory("run");
            h.add(new EpochMetrics(1, 2.0, 0.3, 1.9, 0.35, 0.1));
            h.write(tiny, "metrics-run");
            String complete = Files.readString(tiny.resolve("metrics-run.json"));
            long free = Files.getFileStore(tiny).getUsableSpace();
            Files.write(tiny.resolve("filler"), new byte[(int) Math.max(0, free - 512)]);
            for (int e = 2; e < 400; e++) {
                h.add(new EpochMetrics(e, 1.0, 0.5, 1.1, 0.45, 0.1));
            }
            assertThrows(IOException.class, () -> h.write(tiny, "metrics-run"));
            assertEquals(complete, Files.readString(tiny.resolve("metrics-run.json")), "the last complete file stays");
            assertTrue(files(tiny).stream().noneMatch(f -> f.endsWith(".part")), "no partial file: " + files(tiny));
        }
    }

    @Test
    void aCheckpointOfAnotherModelIsRefusedBeforeAnythingChanges(@TempDir Path dir) throws IOException {
        Path narrow = dir.resolve("narrow.ckpt");
        trainer(new Mlp(32, 1)).saveCheckpoint(narrow);

        Mlp wide = new Mlp(64, 1);
        Trainer t = trainer(wide);
        Tensor before = wide.layers.get(0).weight().clone();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.resume(narrow));
        assertTrue(e.getMessage().contains(narrow.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("'hidden0.weight' has shape [32, 8] in the file but [64, 8] in the model"),
                e.getMessage());
        assertTrue(before.equal(wide.layers.get(0).weight()), "the model is unchanged");
        assertEquals(List.of(64L, 8L), List.of(wide.layers.get(0).weight().size(0), wide.layers.get(0).weight().size(1)));

        Mlp deeper = new Mlp(32, 2);
        Tensor deeperBefore = deeper.layers.get(0).weight().clone();
        IllegalArgumentException depth = assertThrows(IllegalArgumentException.class, () -> trainer(deeper).resume(narrow));
        assertTrue(depth.getMessage().contains("'hidden1.weight' is missing from the file")
                || depth.getMessage().contains("'hidden1' is missing from the file"), depth.getMessage());
        assertTrue(deeperBefore.equal(deeper.layers.get(0).weight()), "the deeper model is unchanged");

        Trainer same = trainer(new Mlp(32, 1));
        same.resume(narrow); // the right model still resumes
        assertEquals(0, same.history().epochs().size());
    }

    @Test
    void aDamagedCheckpointIsCorruptNamingTheFile(@TempDir Path dir) throws IOException {
        Path ckpt = dir.resolve("run.ckpt");
        Trainer t = trainer(new Mlp(64, 1));
        t.saveCheckpoint(ckpt);
        byte[] bytes = Files.readAllBytes(ckpt);
        for (int i = 0; i < 200; i++) { // flip 200 bytes in the middle, inside the stored tensor data
            bytes[bytes.length / 3 + i] ^= 0x5A;
        }
        Path damaged = dir.resolve("damaged.ckpt");
        Files.write(damaged, bytes);
        IOException e = assertThrows(IOException.class, () -> trainer(new Mlp(64, 1)).resume(damaged));
        assertTrue(e.getMessage().contains(damaged.toString()) && e.getMessage().contains("corrupt"), e.getMessage());
        t.resume(ckpt); // the undamaged file still loads
    }
}
