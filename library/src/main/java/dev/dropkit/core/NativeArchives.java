package dev.dropkit.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.ArchiveWriter;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.Tensor;

/**
 * libtorch archives (checkpoints, TorchScript files) written so that nothing can abort the JVM or leave a
 * half-written file, and read only after their checksums were verified.
 *
 * <p>libtorch's zip writer aborts the process when the disk fills up: its stream writer throws, and throws
 * again from its destructor while the first exception unwinds, so C++ calls {@code std::terminate}
 * (native-notes/libtorch-save-aborts-on-a-full-disk.md). So libtorch never writes to the destination:
 * an {@link OutputArchive} is serialized into Java memory through its writer-function overload, and a
 * TorchScript module, which has no such overload in the bindings, is saved into a staging folder in
 * memory ({@code /dev/shm}) after a check that it fits. Java then writes the bytes atomically, and a
 * full disk is an {@link IOException}.
 */
public final class NativeArchives {
    /** Where TorchScript modules are staged: a RAM file system where there is one. */
    private static final Path SHARED_MEMORY = Path.of("/dev/shm");

    private NativeArchives() {}

    /**
     * Writes {@code archive} to {@code target} atomically (a temporary file beside it, moved into place).
     *
     * @param what how to name the file in messages, e.g. "checkpoint"
     * @throws IOException naming {@code target} if it cannot be written; no file is left behind then, and
     *     an existing {@code target} is unchanged
     */
    public static void write(Path target, String what, OutputArchive archive) throws IOException {
        writeBytes(target, what, serialize(target, what, archive));
    }

    /**
     * Has {@code save} write a file that has no in-memory form in the bindings (a TorchScript module),
     * into a staging folder in memory ({@code /dev/shm}, else {@code java.io.tmpdir}) that has room for twice
     * {@code estimatedBytes}, then puts it at {@code target} atomically.
     *
     * @param save writes the file to the path it is given, e.g. {@code module::save}
     * @throws IOException naming {@code target} if there is no room to stage it or it cannot be written
     *     (nothing is left behind then)
     */
    public static void writeStaged(Path target, String what, long estimatedBytes, java.util.function.Consumer<String> save)
            throws IOException {
        long needed = 2 * estimatedBytes + (1 << 20);
        Path root = Files.isDirectory(SHARED_MEMORY) && Files.getFileStore(SHARED_MEMORY).getUsableSpace() > needed
                ? SHARED_MEMORY : Path.of(System.getProperty("java.io.tmpdir"));
        long room = Files.getFileStore(root).getUsableSpace();
        if (room < needed) {
            throw new IOException(what + " " + target + " cannot be written: staging it needs about " + needed
                    + " bytes and " + root + " has " + room);
        }
        Path dir = Files.createTempDirectory(root, "dropkit-save-");
        Path staged = dir.resolve("staged");
        try {
            try {
                save.accept(staged.toString());
            } catch (RuntimeException e) {
                throw new IOException(what + " " + target + " cannot be written: "
                        + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e);
            }
            writeBytes(target, what, Files.readAllBytes(staged));
        } finally {
            Files.deleteIfExists(staged);
            Files.deleteIfExists(dir);
        }
    }

    /** {@code bytes} at {@code target}, atomically, with failures named as {@code what}'s. */
    private static void writeBytes(Path target, String what, byte[] bytes) throws IOException {
        try {
            AtomicFiles.write(target, bytes);
        } catch (IOException e) {
            throw new IOException(what + " " + target + " cannot be written: " + e, e);
        }
    }

    /**
     * The bytes of {@code archive} as libtorch would write them to a file, collected in Java memory.
     *
     * @param target the file they are meant for, for messages
     * @param what how to name them in messages
     */
    public static byte[] serialize(Path target, String what, OutputArchive archive) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ArchiveWriter writer = new ArchiveWriter() {
            @Override
            public long call(Pointer data, long size) {
                if (size > Integer.MAX_VALUE - 16) {
                    return 0; // libtorch reports a short write as an error
                }
                byte[] chunk = new byte[(int) size];
                if (data != null && !data.isNull()) { // a null buffer means "skip ahead": zeros, as a file would hold
                    new BytePointer(data).capacity(size).get(chunk);
                }
                out.write(chunk, 0, chunk.length);
                return size;
            }
        };
        try {
            archive.save_to(writer);
        } catch (RuntimeException e) {
            throw new IOException(what + " " + target + " cannot be serialized: "
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e);
        } finally {
            writer.close();
        }
        return out.toByteArray();
    }

    /** An {@link InputArchive} over {@code bytes} that {@link #serialize} (or a file) held, on {@code device}. */
    public static InputArchive read(byte[] bytes, Device device) {
        InputArchive archive = new InputArchive();
        BytePointer data = new BytePointer(bytes);
        archive.load_from(data, bytes.length, new DeviceOptional(device));
        return archive;
    }

    /**
     * The first difference between what two archives hold, or null: a key only one has, a tensor whose
     * shape or dtype differs, recursively through nested archives (a module's children, an optimizer's
     * state). Values are not compared.
     *
     * @param expected what the reader will load into (e.g. the model as it is now)
     * @param found what the file holds
     */
    public static String firstMismatch(InputArchive expected, InputArchive found) {
        return firstMismatch(expected, found, "");
    }

    private static String firstMismatch(InputArchive expected, InputArchive found, String prefix) {
        java.util.List<String> want = keys(expected);
        java.util.List<String> have = keys(found);
        for (String key : want) {
            if (!have.contains(key)) {
                return "'" + prefix + key + "' is missing from the file";
            }
        }
        for (String key : have) {
            if (!want.contains(key)) {
                return "the file has '" + prefix + key + "', which the model does not";
            }
        }
        for (String key : want) {
            Tensor a = new Tensor();
            Tensor b = new Tensor();
            boolean aTensor = expected.try_read(key, a);
            boolean bTensor = found.try_read(key, b);
            if (aTensor != bTensor) {
                return "'" + prefix + key + "' is " + (aTensor ? "a tensor" : "a module") + " in the model but "
                        + (bTensor ? "a tensor" : "not a tensor") + " in the file";
            }
            if (aTensor) {
                String difference = tensorMismatch(prefix + key, a, b);
                if (difference != null) {
                    return difference;
                }
                continue;
            }
            InputArchive childA = new InputArchive();
            InputArchive childB = new InputArchive();
            if (expected.try_read(key, childA) && found.try_read(key, childB)) {
                String inner = firstMismatch(childA, childB, prefix + key + ".");
                if (inner != null) {
                    return inner;
                }
            }
        }
        return null;
    }

    /**
     * How the file's tensor {@code found} differs from the model's {@code expected} in dtype or shape, or null.
     * An empty tensor in the model is a placeholder that a load fills (Gyro Dropout's masks before the first
     * forward), so only its dtype counts.
     */
    private static String tensorMismatch(String name, Tensor expected, Tensor found) {
        if (expected.scalar_type().intern() != found.scalar_type().intern()) {
            return "'" + name + "' is " + found.scalar_type().intern() + " in the file but "
                    + expected.scalar_type().intern() + " in the model";
        }
        String want = java.util.Arrays.toString(expected.sizes().vec().get());
        String have = java.util.Arrays.toString(found.sizes().vec().get());
        if (expected.numel() > 0 && !want.equals(have)) {
            return "'" + name + "' has shape " + have + " in the file but " + want + " in the model";
        }
        return null;
    }

    private static java.util.List<String> keys(InputArchive archive) {
        StringVector keys = archive.keys();
        java.util.List<String> out = new java.util.ArrayList<>();
        for (long i = 0; i < keys.size(); i++) {
            out.add(keys.get(i).getString());
        }
        return out;
    }

    /**
     * Checks every entry of a zip archive (libtorch's format) against its CRC-32, so a damaged file is
     * refused before libtorch reads it (libtorch itself does not check).
     *
     * @param what how to name the file in messages, e.g. "checkpoint" or "TorchScript archive"
     * @throws IOException "... is corrupt" naming the file and the first bad entry, or "is not a zip archive"
     */
    public static void verify(Path file, String what) throws IOException {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            byte[] buffer = new byte[1 << 16];
            for (Enumeration<? extends ZipEntry> entries = zip.entries(); entries.hasMoreElements(); ) {
                ZipEntry entry = entries.nextElement();
                if (entry.isDirectory()) {
                    continue;
                }
                CRC32 crc = new CRC32();
                long size = 0;
                try (InputStream in = zip.getInputStream(entry)) {
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        crc.update(buffer, 0, n);
                        size += n;
                    }
                } catch (ZipException e) {
                    throw new IOException(what + " " + file + " is corrupt: entry " + entry.getName() + " ("
                            + e.getMessage() + ")", e);
                }
                if (entry.getCrc() != -1 && crc.getValue() != entry.getCrc()
                        || entry.getSize() != -1 && size != entry.getSize()) {
                    throw new IOException(what + " " + file + " is corrupt: entry " + entry.getName()
                            + " fails its CRC-32 check");
                }
            }
        } catch (ZipException e) {
            throw new IOException(what + " " + file + " cannot be read: corrupt or not a zip archive ("
                    + e.getMessage() + ")", e);
        }
    }
}
