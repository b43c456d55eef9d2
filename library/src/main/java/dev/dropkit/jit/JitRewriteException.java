package dev.dropkit.jit;

/**
 * A TorchScript model that a rewrite cannot act on: it has no target for the rewrite (no dropout, no
 * residual block of the requested types) or a target whose graph has a shape the rewrite does not
 * understand. The message names what was looked for and where.
 */
public class JitRewriteException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public JitRewriteException(String message) {
        super(message);
    }

    public JitRewriteException(String message, Throwable cause) {
        super(message, cause);
    }
}
