package dev.dropkit.core;

import java.util.function.Supplier;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * The native-memory discipline dropkit follows in every loop: each step runs inside a
 * {@link PointerScope}, so every tensor created during the step is freed when the step ends, and only
 * what the step returns survives (it is detached from the scope and handed to the caller's scope).
 *
 * <pre>{@code
 * for (int i = 0; i < steps; i++) {
 *     double loss = NativeMemory.get(() -> trainBatch(x, y)); // nothing allocated inside leaks
 * }
 * }</pre>
 *
 * <p>JavaCPP frees unreachable pointers only when the garbage collector runs, which is far too late
 * for multi-megabyte tensors in a training loop: without a scope the process grows until the JVM's
 * {@code maxPhysicalBytes} check throws an {@code OutOfMemoryError}.
 *
 * <p>The three entry points have distinct names on purpose: with overloads, a lambda such as
 * {@code () -> t.mul_(x)} (which returns a tensor) would silently pick the value-returning one.
 */
public final class NativeMemory {
    private NativeMemory() {}

    /** Runs {@code body} in a scope that frees every native object it creates. */
    public static void run(Runnable body) {
        try (PointerScope ignored = new PointerScope()) {
            body.run();
        }
    }

    /**
     * Runs {@code body} in a scope and returns its plain Java result; native objects created inside are
     * freed, so the result must not be one of them (use {@link #keep(Supplier)} for that).
     *
     * @throws IllegalArgumentException if {@code body} returns a native object, which would already be freed
     */
    public static <T> T get(Supplier<T> body) {
        try (PointerScope ignored = new PointerScope()) {
            T result = body.get();
            if (result instanceof Pointer) {
                throw new IllegalArgumentException("get(...) would free the native result it returns;"
                        + " use NativeMemory.keep(...) to keep a tensor");
            }
            return result;
        }
    }

    /**
     * Runs {@code body} in a scope that frees every temporary, but keeps the returned native object alive
     * and attaches it to the enclosing scope (if any), where the caller owns it.
     */
    public static <P extends Pointer> P keep(Supplier<P> body) {
        P result;
        try (PointerScope ignored = new PointerScope()) {
            result = body.get();
            result.retainReference(); // survives the inner scope's close
        }
        PointerScope outer = PointerScope.getInnerScope();
        if (outer != null) {
            outer.attach(result);
            result.releaseReference();
        }
        return result;
    }

    /**
     * Resident set size of the process in bytes, as the OS reports it. This, not
     * {@link Pointer#totalBytes()}, is the number to watch for tensor leaks: libtorch allocates tensor
     * storage itself, so JavaCPP's own byte count never sees it.
     */
    public static long residentBytes() {
        return Pointer.physicalBytes();
    }
}
