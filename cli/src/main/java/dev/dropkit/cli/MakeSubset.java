package dev.dropkit.cli;

import dev.dropkit.cli.options.OutputDirOption;
import dev.dropkit.data.IdxDataset;
import dev.dropkit.data.IdxWriter;
import dev.dropkit.data.Split;
import dev.dropkit.ffm.TensorSegments;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Makes the small stratified Fashion-MNIST subset bundled in {@code examples/data/fashion-mnist-subset},
 * so examples and tests run where the full set is not installed. Deterministic: the same source, counts
 * and seed give byte-identical IDX content.
 *
 * <p>Selection: one {@code java.util.Random(seed)} serves the training split, then the test split; for
 * each class 0..9 in turn, the indices of that class (in file order) are shuffled with
 * {@link Collections#shuffle(List, Random)} and the first {@code perClass} kept. The kept indices are
 * written in their original file order.
 */
@Command(name = "make-subset", mixinStandardHelpOptions = true,
        description = "Write a stratified subset of an IDX dataset (default: Debian's Fashion-MNIST) as .gz IDX files.")
public final class MakeSubset implements Callable<Integer> {
    @Option(names = "--source", description = "Directory with the full dataset (default: ${DEFAULT-VALUE}).")
    Path source = Path.of("/usr/share/datasets/fashion-mnist");

    @Mixin
    OutputDirOption output = OutputDirOption.withDefault(Path.of("examples/data/fashion-mnist-subset"));

    @Option(names = "--train-per-class", description = "Training images per class (default: ${DEFAULT-VALUE}).")
    int trainPerClass = 600;

    @Option(names = "--test-per-class", description = "Test images per class (default: ${DEFAULT-VALUE}).")
    int testPerClass = 100;

    @Option(names = "--seed", description = "Seed of the selection (default: ${DEFAULT-VALUE}).")
    long seed = 20140101L;

    /** Number of classes in MNIST-style label files. */
    static final int CLASSES = 10;

    @Override
    public Integer call() throws IOException {
        Path out = output.dir();
        if (trainPerClass < 1 || testPerClass < 1) {
            System.err.println("make-subset: --train-per-class and --test-per-class must be at least 1, got "
                    + trainPerClass + " and " + testPerClass);
            return 2;
        }
        if (!Files.isDirectory(source) || !dev.dropkit.data.DataLocator.missing(source).isEmpty()) {
            System.err.println("dropkit data make-subset: --source " + source + " is not a directory with the four"
                    + " Fashion-MNIST IDX files (apt-get install dataset-fashion-mnist)");
            return 2;
        }
        Random rnd = new Random(seed);
        Files.createDirectories(out);
        for (Split split : Split.values()) {
            int perClass = split == Split.TRAIN ? trainPerClass : testPerClass;
            try (IdxDataset full = IdxDataset.load(source, split); PointerScope scope = new PointerScope()) {
                long[] labels = TensorSegments.view(full.labels()).toArray(ValueLayout.JAVA_LONG);
                int[] keep;
                try {
                    keep = stratified(labels, perClass, rnd);
                } catch (IllegalArgumentException e) {
                    System.err.println("make-subset: " + full.labelsFile() + ": " + e.getMessage());
                    return 1;
                }
                int imageBytes = full.rows() * full.cols();
                Tensor images = full.images(); // read-only view; only copied out of
                MemorySegment pixels = TensorSegments.view(images);
                byte[] outPixels = new byte[keep.length * imageBytes];
                byte[] outLabels = new byte[keep.length];
                for (int i = 0; i < keep.length; i++) {
                    MemorySegment.copy(pixels, ValueLayout.JAVA_BYTE, (long) keep[i] * imageBytes,
                            outPixels, i * imageBytes, imageBytes);
                    outLabels[i] = (byte) labels[keep[i]];
                }
                Path imagesOut = out.resolve(split.imagesName() + ".gz");
                Path labelsOut = out.resolve(split.labelsName() + ".gz");
                IdxWriter.writeImages(imagesOut, full.rows(), full.cols(), outPixels);
                IdxWriter.writeLabels(labelsOut, outLabels);
                System.out.printf("%s: %d of %d images (%d per class) -> %s (%d bytes), %s (%d bytes)%n",
                        split.prefix(), keep.length, full.size(), perClass, imagesOut, Files.size(imagesOut),
                        labelsOut, Files.size(labelsOut));
            }
        }
        return 0;
    }

    /**
     * Indices of {@code perClass} samples of each class 0..9, drawn with {@code rnd} as the class comment
     * describes, in ascending order.
     *
     * @throws IllegalArgumentException if a class has fewer than {@code perClass} samples
     */
    public static int[] stratified(long[] labels, int perClass, Random rnd) {
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < CLASSES; c++) {
            byClass.add(new ArrayList<>());
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= CLASSES) {
                throw new IllegalArgumentException("label " + labels[i] + " at index " + i + " is outside 0..9");
            }
            byClass.get((int) labels[i]).add(i);
        }
        int[] keep = new int[perClass * CLASSES];
        int k = 0;
        for (int c = 0; c < CLASSES; c++) {
            List<Integer> members = byClass.get(c);
            if (members.size() < perClass) {
                throw new IllegalArgumentException("class " + c + " has only " + members.size()
                        + " samples, " + perClass + " were asked for");
            }
            Collections.shuffle(members, rnd);
            for (int i = 0; i < perClass; i++) {
                keep[k++] = members.get(i);
            }
        }
        Arrays.sort(keep);
        return keep;
    }

    /** Runs the command without the dropkit CLI (until it is wired in as {@code dropkit data make-subset}). */
    public static void main(String[] args) {
        System.exit(new CommandLine(new MakeSubset()).execute(args));
    }
}
