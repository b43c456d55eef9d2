package dev.dropkit.data;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that is not a usable IDX file: wrong magic number, truncated header or data, a corrupt
 * {@code .gz}, image and label counts that differ, or a label out of range. The message names the file
 * and the problem, so a user can tell a wrong path from a damaged download.
 */
public final class IdxFormatException extends IOException {
    private final transient Path file;
    private final String problem;

    /** A problem with {@code file}; the message is {@code "<file>: <problem>"}. */
    public IdxFormatException(Path file, String problem) {
        this(file, problem, null);
    }

    /** A problem with {@code file} caused by a lower-level error (for example a {@code ZipException}). */
    public IdxFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
        this.problem = problem;
    }

    /** The file the problem is in, as the caller named it. */
    public Path file() {
        return file;
    }

    /** The problem, without the file name. */
    public String problem() {
        return problem;
    }
}
