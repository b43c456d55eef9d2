package dev.dropkit.data;

import dev.dropkit.core.AtomicFiles;
import dev.dropkit.data.IdxHeader.Kind;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Inflates {@code .gz} IDX files once into a cache directory, so they can be memory-mapped like plain
 * ones. The cache file's name carries the source's name, size, modification time and a hash of its
 * absolute path, so a changed source gets a new entry; entries are written to a temporary file and
 * renamed into place, so a crash never leaves a half-written entry that a later run would trust.
 */
final class IdxCache {
    /** Environment variable naming the cache directory itself. */
    static final String ENV = "DROPKIT_CACHE";

    private static final Duration STALE_PART = Duration.ofDays(1);

    private IdxCache() {}

    /** {@code $DROPKIT_CACHE}, else {@code $XDG_CACHE_HOME/dropkit/idx}, else {@code ~/.cache/dropkit/idx}. */
    static Path defaultDir() {
        return dir(System.getenv(ENV), System.getenv("XDG_CACHE_HOME"), System.getProperty("user.home"));
    }

    /** The cache directory for the given environment (blank values count as unset). */
    static Path dir(String dropkitCache, String xdgCacheHome, String userHome) {
        if (dropkitCache != null && !dropkitCache.isBlank()) {
            return Path.of(dropkitCache);
        }
        if (xdgCacheHome != null && !xdgCacheHome.isBlank()) {
            return Path.of(xdgCacheHome, "dropkit", "idx");
        }
        return Path.of(userHome, ".cache", "dropkit", "idx");
    }

    static boolean isGz(Path file) {
        return file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gz");
    }

    /**
     * The file to map for {@code source}: the source itself, or for a {@code .gz} its inflated copy in
     * {@code cacheDir} (made now if absent). The inflater checks the header and the data length as it
     * goes, so a bad archive fails here with the source's name, and no cache entry is left behind.
     */
    static Path plain(Path source, Kind kind, Path cacheDir) throws IOException {
        if (!isGz(source)) {
            return source;
        }
        BasicFileAttributes attrs = Files.readAttributes(source, BasicFileAttributes.class);
        String name = source.getFileName().toString();
        String stem = name.substring(0, name.length() - 3);
        String pathHash = String.format(Locale.ROOT, "%08x", source.toAbsolutePath().normalize().toString().hashCode());
        Path target = cacheDir.resolve(stem + "-" + attrs.size() + "-"
                + attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS) + "-" + pathHash);
        if (Files.isRegularFile(target)) {
            return target;
        }
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new IOException("cannot create the cache directory " + cacheDir + " for inflated .gz data"
                    + " (set " + ENV + " to a writable directory): " + e, e);
        }
        Path part = Files.createTempFile(cacheDir, stem + "-", ".part");
        try {
            inflate(source, kind, part);
            AtomicFiles.moveIntoPlace(part, target);
        } finally {
            Files.deleteIfExists(part);
        }
        removeStale(cacheDir, stem, pathHash, target);
        return target;
    }

    /** Copies header and data, then reads the rest of the archive so its CRC and length are checked. */
    private static void inflate(Path source, Kind kind, Path out) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(source), 1 << 16);
                OutputStream os = new BufferedOutputStream(Files.newOutputStream(out), 1 << 16)) {
            byte[] head = in.readNBytes(kind.headerBytes);
            IdxHeader header = IdxHeader.parse(source, kind, head);
            os.write(head);
            long wanted = header.dataBytes();
            long copied = 0;
            byte[] buf = new byte[1 << 16];
            while (copied < wanted) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, wanted - copied));
                if (n < 0) {
                    break;
                }
                os.write(buf, 0, n);
                copied += n;
            }
            header.checkData(source, copied);
            in.transferTo(OutputStream.nullOutputStream()); // trailing bytes are accepted but must be intact gzip
        } catch (ZipException | EOFException e) {
            throw new IdxFormatException(source, "truncated or corrupt gzip data (" + e.getMessage() + ")", e);
        }
    }

    /** Deletes older entries of the same source and temporary files abandoned by crashed runs. */
    private static void removeStale(Path cacheDir, String stem, String pathHash, Path keep) {
        Instant partCutoff = Instant.now().minus(STALE_PART);
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(cacheDir, stem + "-*")) {
            for (Path p : entries) {
                String n = p.getFileName().toString();
                boolean oldEntry = n.endsWith("-" + pathHash) && !p.equals(keep);
                boolean abandonedPart = n.endsWith(".part")
                        && Files.getLastModifiedTime(p).toInstant().isBefore(partCutoff);
                if (oldEntry || abandonedPart) {
                    Files.deleteIfExists(p); // a mapping another process holds stays valid on Linux
                }
            }
        } catch (IOException | RuntimeException e) {
            // best effort: a stale entry only costs disk space
        }
    }
}
