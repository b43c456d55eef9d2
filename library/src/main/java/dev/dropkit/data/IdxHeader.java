package dev.dropkit.data;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The fixed-size start of an IDX file (big-endian): magic number, item count, and for images the rows
 * and columns. Shared by the mapped-file path and the {@code .gz} inflater so both reject the same
 * files with the same messages.
 */
record IdxHeader(Kind kind, int count, int rows, int cols) {

    /** The two IDX layouts dropkit reads: unsigned bytes in 3 dimensions (images) or 1 (labels). */
    enum Kind {
        IMAGES(0x00000803, 16, "images", "unsigned byte, 3 dimensions"),
        LABELS(0x00000801, 8, "labels", "unsigned byte, 1 dimension");

        final int magic;
        final int headerBytes;
        final String noun;
        final String layout;

        Kind(int magic, int headerBytes, String noun, String layout) {
            this.magic = magic;
            this.headerBytes = headerBytes;
            this.noun = noun;
            this.layout = layout;
        }
    }

    /** Bytes of data the header promises after itself. */
    long dataBytes() {
        return (long) count * rows * cols;
    }

    /**
     * Parses the header from the first bytes of a file.
     *
     * @param file the file to name in errors
     * @param head the file's first bytes; fewer than the header size means the file is that short
     */
    static IdxHeader parse(Path file, Kind kind, byte[] head) throws IdxFormatException {
        ByteBuffer buf = ByteBuffer.wrap(head); // big-endian, as IDX is
        if (head.length >= 4) {
            int magic = buf.getInt(0);
            if (magic != kind.magic) {
                throw new IdxFormatException(file, String.format(Locale.ROOT,
                        "wrong magic number 0x%08X, expected 0x%08X (IDX %s: %s)%s",
                        magic, kind.magic, kind.noun, kind.layout, magicHint(kind, magic, head)));
            }
        }
        if (head.length < kind.headerBytes) {
            throw new IdxFormatException(file, "truncated header: the file has " + head.length
                    + " bytes, an IDX " + kind.noun + " file needs at least " + kind.headerBytes);
        }
        int count = dimension(file, "item count", buf.getInt(4), 0);
        int rows = kind == Kind.IMAGES ? dimension(file, "rows", buf.getInt(8), 1) : 1;
        int cols = kind == Kind.IMAGES ? dimension(file, "cols", buf.getInt(12), 1) : 1;
        long pixels = (long) rows * cols; // an image is one Java array and one int-indexed block of a batch
        if (pixels > Integer.MAX_VALUE) {
            throw new IdxFormatException(file, "header has images of " + rows + " x " + cols + " = " + pixels
                    + " pixels, more than 2^31 - 1");
        }
        return new IdxHeader(kind, count, rows, cols); // so count * rows * cols < 2^62: dataBytes() cannot wrap
    }

    /** Fails unless {@code available} bytes after the header hold all the data the header promises. */
    void checkData(Path file, long available) throws IdxFormatException {
        if (available < dataBytes()) {
            String promised = kind == Kind.IMAGES
                    ? count + " x " + rows + " x " + cols + " = " + dataBytes() + " bytes of pixels"
                    : count + " labels (" + dataBytes() + " bytes)";
            throw new IdxFormatException(file, "truncated data: the header says " + promised
                    + " but the file has only " + available + " bytes after its " + kind.headerBytes
                    + "-byte header");
        }
    }

    private static int dimension(Path file, String what, int raw, int min) throws IdxFormatException {
        if (raw < min) {
            throw new IdxFormatException(file, "header has " + what + " " + Integer.toUnsignedString(raw)
                    + (raw < 0 ? ", which does not fit a Java int" : ", must be at least " + min));
        }
        return raw;
    }

    private static String magicHint(Kind kind, int magic, byte[] head) {
        if ((head[0] & 0xFF) == 0x1F && (head[1] & 0xFF) == 0x8B) {
            return "; the file looks gzip-compressed: give it a name ending in .gz";
        }
        for (Kind other : Kind.values()) {
            if (other != kind && other.magic == magic) {
                return "; this is an IDX " + other.noun + " file (were images and labels swapped?)";
            }
        }
        return "";
    }
}
