package dev.dropkit.dropgrad;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AutoGradMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.TensorTensorHook;
import org.bytedeco.pytorch.global.torch;

/**
 * Tells a gradient hook whether it may change the gradient it was handed in place.
 *
 * <p>A hook that returns a new tensor costs two gradient-sized allocations: its result, and the copy
 * {@code AccumulateGrad} makes of it because Java still holds a reference (native-notes/
 * tensor-hooks-from-java.md). On a small MLP that was a third of the training step, against about 2%
 * for masking in place. In place is safe when nothing but autograd's own call path can reach the
 * gradient's memory: no other holder of the tensor (another parameter's pending gradient, when an
 * addition hands one tensor to both operands), no other tensor on its storage (a view of a gradient
 * that is still on its way elsewhere), except the private base of a transposed result.
 *
 * <p>How many references the call path itself holds is an implementation detail of libtorch and JavaCPP,
 * so it is measured once, on two gradients known to be private: a multiplication's (a plain tensor) and a
 * linear layer's weight gradient (a view of the matrix product's result). A gradient counts as exclusive
 * only if its counts are no higher than those. If the probe sees anything unexpected, in place is off
 * and hooks return new tensors as before.
 */
final class GradientOwnership {
    private GradientOwnership() {}

    /** Reference counts inside a hook: of the gradient, of its storage, and of its base if it is a view. */
    private record Counts(long uses, long weakUses, long storageUses, long baseUses, boolean view) {
        static Counts of(TensorBase g) {
            boolean view = g.is_view();
            long base = -1;
            if (view) {
                TensorBase b = g._base();
                base = b.weak_use_count() > 1 ? Long.MAX_VALUE : b.use_count();
            }
            return new Counts(g.use_count(), g.weak_use_count(), g.storage().use_count(), base, view);
        }
    }

    private static volatile Counts plainCounts; // null until a probe succeeds: in place is off
    private static volatile Counts viewCounts;
    private static boolean probed;

    /**
     * Runs the probe if no probe has succeeded yet: {@link DropGradHooks} calls it on attach, so the small
     * backward pass never runs inside a hook. Grad mode is switched on for it (an attach under a no-grad
     * guard must not turn in place off for good); if it fails anyway, the next attach tries again.
     */
    static synchronized void probe() {
        if (probed) {
            return;
        }
        try (PointerScope ignored = new PointerScope(); AutoGradMode on = new AutoGradMode(true)) {
            Counts plain = Probe.probe(false);
            Counts view = Probe.probe(true);
            if (plain != null && !plain.view() && plain.weakUses() == 1) {
                viewCounts = view != null && view.view() && view.weakUses() == 1 ? view : null;
                plainCounts = plain;
            }
            probed = true;
        } catch (RuntimeException e) {
            // in place stays off until a later probe succeeds; hooks return new tensors meanwhile
        }
    }

    /** Forgets the probe's result (tests: so a probe can be watched running). */
    static synchronized void forgetProbe() {
        probed = false;
        plainCounts = null;
        viewCounts = null;
    }

    private static final class Probe {
        static Counts probe(boolean linear) {
            Counts[] out = new Counts[1];
            TensorTensorHook hook = new TensorTensorHook() {
                @Override
                public TensorBase call(TensorBase grad) {
                    out[0] = Counts.of(grad);
                    grad.deallocate(); // as DropGradHooks does, so the counts match its call path
                    return new TensorBase();
                }
            };
            Tensor p = linear ? torch.ones(3, 4) : torch.ones(4);
            p.set_requires_grad(true);
            int id = p.register_hook(hook);
            try {
                Tensor y = linear ? torch.linear(torch.ones(2, 4), p) : p.mul(new Scalar(2.0));
                y.sum().backward();
            } finally {
                p.remove_hook(id);
            }
            hook.deallocate();
            return out[0];
        }
    }

    /** Whether hooks can drop in place at all (a probe ran and saw what it expected). */
    static boolean enabled() {
        return plainCounts != null;
    }

    /**
     * Whether {@code grad}, as a hook receives it, is reachable only through autograd's call path, so
     * that changing it in place changes nothing anyone else reads.
     */
    static boolean exclusive(TensorBase grad) {
        Counts plain = plainCounts;
        if (plain == null) {
            return false;
        }
        Counts c = Counts.of(grad);
        if (c.weakUses() > 1) {
            return false;
        }
        if (!c.view()) {
            return c.uses() <= plain.uses() && c.storageUses() <= plain.storageUses();
        }
        Counts view = viewCounts;
        return view != null && c.uses() <= view.uses() && c.storageUses() <= view.storageUses()
                && c.baseUses() <= view.baseUses();
    }
}
