package dev.dropkit.dropgrad;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.TensorTensorHook;

/**
 * The gradient hooks {@link DropGrad#attach()} registered; {@link #close()} removes every one of them.
 *
 * <p>Each hook runs when autograd has computed its parameter's gradient for one backward pass, before it
 * is added to {@code .grad}, and replaces it with the dropped gradient. So hooks see every backward pass
 * separately: with gradient accumulation each micro-batch is masked independently (use the optimizer
 * wrapper to mask the accumulated sum once instead). On the CPU hooks run on the thread that called
 * {@code backward()}; on CUDA, on libtorch's device thread.
 *
 * <p>An exception inside a hook does not crash the JVM: it aborts the backward pass, which throws a
 * {@link RuntimeException} whose message names the parameter and the cause; {@link #failure()} keeps
 * the original exception.
 *
 * <p>JavaCPP frees a callback whose Java object is collected, and a hook libtorch still calls would then
 * jump into freed memory. So the hook objects are held here, and every open handle is held by a static
 * set until it is closed: an unclosed handle leaks (its hooks and parameters), it never crashes.
 */
public final class DropGradHooks implements AutoCloseable {
    private static final Set<DropGradHooks> OPEN = ConcurrentHashMap.newKeySet();

    private final List<Tensor> params;
    private final List<Hook> hooks = new ArrayList<>();
    private final int[] ids;
    private final TensorBase unchanged = new TensorBase(); // what a hook returns to keep the gradient as is
    private volatile Throwable failure;
    private boolean closed;

    DropGradHooks(DropGrad owner, List<String> names, List<Tensor> params) {
        this.params = List.copyOf(params);
        this.ids = new int[params.size()];
        for (int i = 0; i < params.size(); i++) {
            if (!params.get(i).requires_grad()) { // libtorch refuses a hook on it, with a native error
                throw new IllegalArgumentException("parameter '" + names.get(i) + "' no longer requires grad (frozen"
                        + " after DropGrad was built?): it gets no gradient to drop; build DropGrad again");
            }
        }
        unchanged.retainReference(); // a PointerScope around attach() must not free it
        OPEN.add(this);
        GradientOwnership.probe(); // its one small backward pass now, not inside the first hook
        try {
            for (int i = 0; i < params.size(); i++) {
                Hook hook = new Hook(this, owner, i, names.get(i));
                hook.retainReference(); // likewise for the callback: libtorch keeps calling it
                try {
                    ids[i] = params.get(i).register_hook(hook);
                } catch (RuntimeException e) {
                    hook.releaseReference();
                    throw e;
                }
                hooks.add(hook); // only registered hooks: close() removes hooks.size() of them
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Number of hooks registered (one per parameter DropGrad acts on). */
    public int size() {
        return hooks.size();
    }

    /** Whether the hooks are still registered. */
    public synchronized boolean isOpen() {
        return !closed;
    }

    /** The last exception thrown inside a hook, or null. */
    public Throwable failure() {
        return failure;
    }

    /** Removes every hook and frees what they hold. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < hooks.size(); i++) {
            params.get(i).remove_hook(ids[i]);
            hooks.get(i).releasePending();
            hooks.get(i).releaseReference();
        }
        unchanged.releaseReference();
        OPEN.remove(this);
    }

    /** One parameter's hook. Its result must outlive the call: libtorch copies it after Java returns. */
    private static final class Hook extends TensorTensorHook {
        private final DropGradHooks handle;
        private final DropGrad owner;
        private final int index;
        private final String name;
        private Tensor pending; // the last result when no PointerScope was there to own it

        Hook(DropGradHooks handle, DropGrad owner, int index, String name) {
            this.handle = handle;
            this.owner = owner;
            this.index = index;
            this.name = name;
        }

        @Override
        public TensorBase call(TensorBase grad) {
            try {
                if (owner.rateIsZero(index)) {
                    return handle.unchanged; // rate zero: no scope, no tensor, no draw
                }
                Tensor out;
                try (PointerScope ignored = new PointerScope()) {
                    out = owner.hookGradient(index, grad);
                    if (out == null) {
                        return handle.unchanged;
                    }
                    out.retainReference(); // survives this scope
                }
                PointerScope outer = PointerScope.getInnerScope();
                if (outer != null) { // the caller's step scope frees it with the step's other tensors
                    outer.attach(out);
                    out.releaseReference();
                    releasePending();
                } else { // no scope (a bare loop, a CUDA autograd thread): freed at the next call or close()
                    keepPending(out);
                }
                return out;
            } catch (Throwable t) {
                handle.failure = t;
                throw new IllegalStateException("DropGrad hook for parameter '" + name + "' failed: " + t, t);
            } finally {
                // JavaCPP's copy of the argument would otherwise hold the gradient until the caller's scope
                // closes, and AccumulateGrad copies a gradient that someone else still references.
                grad.deallocate();
            }
        }

        synchronized void releasePending() {
            keepPending(null);
        }

        private synchronized void keepPending(Tensor next) {
            if (pending != null) {
                pending.releaseReference();
            }
            pending = next;
        }
    }
}
