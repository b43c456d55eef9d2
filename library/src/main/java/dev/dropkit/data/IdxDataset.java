package dev.dropkit.data;

import dev.dropkit.core.Checks;
import dev.dropkit.data.IdxHeader.Kind;
import dev.dropkit.ffm.TensorSegments;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * An IDX image/label dataset (MNIST, Fashion-MNIST) whose pixels stay in a memory-mapped file and reach
 * libtorch without a copy: 47 MB of Fashion-MNIST training images cost no heap and no load time, and the
 * OS shares the pages between processes.
 *
 * <p>Files may be plain or {@code .gz}. A {@code .gz} is inflated once into a cache directory and the
 * inflated copy is mapped: {@code $DROPKIT_CACHE} if set, else {@code $XDG_CACHE_HOME/dropkit/idx},
 * else {@code ~/.cache/dropkit/idx}. The entry is keyed by the source's name, size and modification
 * time, so a replaced source is inflated again.
 *
 * <h2>Read-only pixels</h2>
 * {@link #images()} is a view of a {@code READ_ONLY} mapping. libtorch has no notion of read-only
 * memory: any in-place operation on it ({@code add_}, {@code copy_} into it, {@code index_put_}, an
 * optimizer step on it) is a write to a protected page and kills the JVM with SIGSEGV (see
 * native-notes/read-only-mapped-tensors-crash-on-write.md). Out-of-place operations ({@code to},
 * {@code index_select}, {@code div}) read it and return tensors of their own; use those.
 *
 * <h2>Lifetime</h2>
 * {@link #close()} unmaps the file. Every tensor {@link #images()} returned, and every view libtorch
 * made of it, must be out of use by then; reading one afterwards reads unmapped memory. Copies
 * ({@code index_select}, {@code clone}, anything on CUDA) are independent of the mapping. Reading
 * from several threads is fine; closing while another thread reads is not. Likewise the file must not
 * be truncated or rewritten in place while mapped (a read past its new end is a SIGBUS in native
 * code); replacing it by a rename, as {@link IdxWriter} and the {@code .gz} cache do, is safe.
 */
public final class IdxDataset implements AutoCloseable {
    private final Path imagesFile;
    private final Path labelsFile;
    private final int size;
    private final int rows;
    private final int cols;
    private final byte[] labels;
    private final Arena arena;
    private final MemorySegment pixels;
    private final AtomicBoolean closed = new AtomicBoolean();

    private IdxDataset(Path imagesFile, Path labelsFile, IdxHeader header, byte[] labels, Arena arena,
            MemorySegment pixels) {
        this.imagesFile = imagesFile;
        this.labelsFile = labelsFile;
        this.size = header.count();
        this.rows = header.rows();
        this.cols = header.cols();
        this.labels = labels;
        this.arena = arena;
        this.pixels = pixels;
    }

    /**
     * Loads an images file ({@code idx3-ubyte}, magic 0x00000803) and its labels file ({@code idx1-ubyte},
     * magic 0x00000801), each plain or {@code .gz}.
     *
     * @throws IdxFormatException if a file is not a valid IDX file of its kind, the counts differ, or a
     *     label is outside 0..9
     * @throws IOException if a file cannot be read, or a {@code .gz} cannot be inflated into the cache
     */
    public static IdxDataset load(Path imagesFile, Path labelsFile) throws IOException {
        return load(imagesFile, labelsFile, IdxCache.defaultDir());
    }

    /**
     * Loads one split from a directory holding {@code <prefix>-images-idx3-ubyte} and
     * {@code <prefix>-labels-idx1-ubyte}, each plain or {@code .gz} (plain wins when both exist).
     *
     * @throws NoSuchFileException naming the directory and the names tried, when a file is missing
     */
    public static IdxDataset load(Path dir, Split split) throws IOException {
        return load(dir, split, IdxCache.defaultDir());
    }

    /** {@link #load(Path, Split)} with an explicit cache directory for {@code .gz} inputs. */
    static IdxDataset load(Path dir, Split split, Path cacheDir) throws IOException {
        Checks.notNull("dir", dir);
        Checks.notNull("split", split);
        return load(locate(dir, split.imagesName()), locate(dir, split.labelsName()), cacheDir);
    }

    /** {@link #load(Path, Path)} with an explicit cache directory for {@code .gz} inputs. */
    static IdxDataset load(Path imagesFile, Path labelsFile, Path cacheDir) throws IOException {
        Checks.notNull("imagesFile", imagesFile);
        Checks.notNull("labelsFile", labelsFile);
        Checks.notNull("cacheDir", cacheDir);
        Path imagesPlain = IdxCache.plain(imagesFile, Kind.IMAGES, cacheDir);
        Path labelsPlain = IdxCache.plain(labelsFile, Kind.LABELS, cacheDir);
        byte[] labels;
        IdxHeader header;
        try {
            labels = readLabels(labelsFile, labelsPlain);
            try (FileChannel ch = FileChannel.open(imagesPlain, StandardOpenOption.READ)) {
                header = IdxHeader.parse(imagesFile, Kind.IMAGES, readPrefix(ch, Kind.IMAGES.headerBytes));
                header.checkData(imagesFile, ch.size() - Kind.IMAGES.headerBytes);
            }
        } catch (IdxFormatException e) {
            throw inCopy(e, e.file().equals(imagesFile) ? imagesPlain : labelsPlain);
        }
        if (header.count() != labels.length) {
            throw new IdxFormatException(imagesFile, "has " + header.count() + " images but " + labelsFile
                    + " has " + labels.length + " labels; the counts must be equal");
        }
        // Map exactly header + data; trailing bytes (accepted) stay unmapped.
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(imagesPlain, StandardOpenOption.READ)) {
            header.checkData(imagesFile, ch.size() - Kind.IMAGES.headerBytes); // still there?
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0,
                    Kind.IMAGES.headerBytes + header.dataBytes(), arena);
            MemorySegment pixels = mapped.asSlice(Kind.IMAGES.headerBytes, header.dataBytes());
            return new IdxDataset(imagesFile, labelsFile, header, labels, arena, pixels);
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    /** The plain or {@code .gz} file for {@code name} in {@code dir}; plain wins when both exist. */
    static Path locate(Path dir, String name) throws NoSuchFileException {
        Path plain = dir.resolve(name);
        if (Files.isRegularFile(plain)) {
            return plain;
        }
        Path gz = dir.resolve(name + ".gz");
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        throw new NoSuchFileException(dir.toString(), null, "neither " + name + " nor " + name + ".gz is there"
                + (Files.isDirectory(dir) ? "" : " (the directory does not exist)"));
    }

    private static byte[] readLabels(Path source, Path plain) throws IOException {
        try (FileChannel ch = FileChannel.open(plain, StandardOpenOption.READ)) {
            IdxHeader header = IdxHeader.parse(source, Kind.LABELS, readPrefix(ch, Kind.LABELS.headerBytes));
            header.checkData(source, ch.size() - Kind.LABELS.headerBytes);
            byte[] labels = readPrefix(ch, header.count());
            header.checkData(source, labels.length); // the file shrank under us
            for (int i = 0; i < labels.length; i++) {
                int v = Byte.toUnsignedInt(labels[i]);
                if (v > 9) {
                    throw new IdxFormatException(source, "label " + v + " at index " + i + " is outside 0..9");
                }
            }
            return labels;
        }
    }

    /**
     * A format error found in the inflated copy of a {@code .gz} rather than while inflating it (only
     * possible if the cache entry was altered): say so, so the user knows which file to delete.
     */
    private static IdxFormatException inCopy(IdxFormatException e, Path plain) {
        if (plain.equals(e.file())) {
            return e;
        }
        return new IdxFormatException(e.file(), e.problem() + " (read from its inflated copy " + plain
                + "; delete that file to inflate it again)", e);
    }

    /** Up to {@code n} bytes from the channel's position; fewer only at the end of the file. */
    private static byte[] readPrefix(FileChannel ch, int n) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(n);
        while (buf.hasRemaining() && ch.read(buf) >= 0) {
            // keep reading
        }
        byte[] out = new byte[buf.position()];
        buf.flip().get(out);
        return out;
    }

    /**
     * The images as a uint8 ({@link ScalarType#Byte}) CPU tensor [size, rows, cols] over the mapped file,
     * without a copy. Never write to it in place (see the class comment). Each call returns a new tensor
     * object, owned by the caller's {@code PointerScope} if one is open.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    public Tensor images() {
        ensureOpen();
        return TensorSegments.wrap(pixels, ScalarType.Byte, size, rows, cols);
    }

    /**
     * The labels as a new int64 CPU tensor [size] (a copy: 8 bytes a label, owned by the caller).
     *
     * @throws IllegalStateException after {@link #close()}
     */
    public Tensor labels() {
        ensureOpen();
        long[] values = new long[size];
        for (int i = 0; i < size; i++) {
            values[i] = Byte.toUnsignedInt(labels[i]);
        }
        return TensorSegments.copy(MemorySegment.ofArray(values), ScalarType.Long, size);
    }

    /** Number of images (and labels). */
    public int size() {
        return size;
    }

    /** Image height in pixels. */
    public int rows() {
        return rows;
    }

    /** Image width in pixels. */
    public int cols() {
        return cols;
    }

    /** The images file as given to {@code load} (the {@code .gz}, not its cached copy). */
    public Path imagesFile() {
        return imagesFile;
    }

    /** The labels file as given to {@code load}. */
    public Path labelsFile() {
        return labelsFile;
    }

    /** Unmaps the images; later calls do nothing. Tensors from {@link #images()} must be out of use. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close();
        }
    }

    /** The mapped pixel bytes (for tests and {@link Batches}); valid until {@link #close()}. */
    MemorySegment pixelSegment() {
        ensureOpen();
        return pixels;
    }

    /** The raw labels, one byte each in 0..9 (not a copy: do not modify). */
    byte[] labelBytes() {
        ensureOpen();
        return labels;
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("the dataset from " + imagesFile + " is closed");
        }
    }

    @Override
    public String toString() {
        return "IdxDataset[" + size + " x " + rows + " x " + cols + " from " + imagesFile + "]";
    }
}
