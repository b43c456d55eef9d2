package dev.dropkit.dropgrad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.testing.NativeScopePerTest;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BinaryOperator;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.TensorTensorHook;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NativeScopePerTest.class)
class GradientOwnershipTest {
    private static final List<TensorTensorHook> KEEP = new ArrayList<>(); // hooks die with their Java objects

    /** What {@link GradientOwnership#exclusive} says of {@code p}'s gradient in {@code loss(p, q)}. */
    private static boolean exclusiveIn(BinaryOperator<Tensor> loss, long... shape) {
        Tensor p = torch.ones(shape).set_requires_grad(true);
        Tensor q = torch.ones(shape).set_requires_grad(true);
        boolean[] seen = {false, false};
        TensorTensorHook hook = new TensorTensorHook() {
            @Override
            public TensorBase call(TensorBase grad) {
                seen[0] = true;
                seen[1] = GradientOwnership.exclusive(grad);
                grad.deallocate(); // as DropGradHooks does
                return new TensorBase();
            }
        };
        KEEP.add(hook);
        int id = p.register_hook(hook);
        try {
            loss.apply(p, q).backward();
        } finally {
            p.remove_hook(id);
        }
        assertTrue(seen[0], "the hook ran");
        return seen[1];
    }

    @Test
    void theProbeRunsUnderANoGradGuardToo() {
        GradientOwnership.forgetProbe();
        assertEquals(false, GradientOwnership.enabled(), "nothing probed: in place is off");
        try (org.bytedeco.pytorch.NoGradGuard noGrad = new org.bytedeco.pytorch.NoGradGuard()) {
            GradientOwnership.probe(); // as an attach() under a no-grad guard would
        }
        assertTrue(GradientOwnership.enabled(), "the probe switched grad mode on for itself");
    }

    @Test
    void privateGradientsAreExclusiveSharedOnesAreNot() {
        GradientOwnership.probe();
        assertTrue(GradientOwnership.enabled(), "the probe saw the reference counts it expects");
        Tensor w = torch.rand(8, 6);
        assertTrue(exclusiveIn((a, b) -> a.mul(w).sum(), 8, 6), "a product's gradient");
        assertTrue(exclusiveIn((a, b) -> torch.linear(torch.ones(3, 6), a).sum(), 8, 6), "a linear weight's (a view)");
        assertTrue(exclusiveIn((a, b) -> torch.linear(torch.ones(3, 8), torch.ones(6, 8), a).sum(), 6), "a linear bias's");
        assertEquals(false, exclusiveIn((a, b) -> a.add(b).mul(w).sum(), 8, 6), "one tensor for both operands");
        assertEquals(false, exclusiveIn((a, b) -> a.view(-1).add(b.view(-1)).mul(w.view(-1)).sum(), 8, 6),
                "a view of a gradient that also flows to q");
        assertEquals(false, exclusiveIn((a, b) -> torch.cat(new TensorVector(a, b)).mul(w.repeat(2, 1)).sum(), 8, 6),
                "a slice of a gradient shared with q");
        assertEquals(false, exclusiveIn((a, b) -> a.sum(), 8, 6), "an expanded scalar: not even its own memory");
        assertTrue(exclusiveIn((a, b) -> a.mul(new Scalar(3.0)).add(a.mul(w)).sum(), 8, 6),
                "two uses of p, summed by autograd into a private tensor");
    }
}
