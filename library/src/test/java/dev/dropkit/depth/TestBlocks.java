package dev.dropkit.depth;

import dev.dropkit.core.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** Residual blocks and tensor helpers for the stochastic-depth tests. */
final class TestBlocks {
    private TestBlocks() {}

    /**
     * A block without BatchNorm whose branch treats every sample on its own ({@code tanh(x * w + b)} with
     * per-channel parameters), identity shortcut and no activation: the fast mode must match the masked
     * mode exactly on it. Counts branch calls.
     */
    static final class AffineBlock extends Module implements ResidualBlock {
        final Tensor weight;
        final Tensor bias;
        int branchCalls;
        long lastBranchBatch = -1; // samples the last branch call saw

        AffineBlock(long channels, Device device) {
            super("AffineBlock");
            var options = Tensors.options(torch.ScalarType.Float, device);
            // Keep the tensors passed in, not what register_parameter returns: that is a reference into the
            // module's parameter list, which dangles once the next registration grows the list (native-notes).
            weight = torch.randn(new long[] {channels, 1, 1}, options).add_(Tensors.scalar(1));
            bias = torch.randn(new long[] {channels, 1, 1}, options);
            register_parameter("weight", weight);
            register_parameter("bias", bias);
        }

        @Override
        public Tensor branch(Tensor x) {
            branchCalls++;
            lastBranchBatch = x.size(0);
            return x.mul(weight).add(bias).tanh();
        }

        @Override
        public Tensor shortcut(Tensor x) {
            return x;
        }
    }

    /** Standard-normal float inputs on {@code device}. */
    static Tensor randn(Device device, long... shape) {
        return torch.randn(shape, Tensors.options(torch.ScalarType.Float, device));
    }

    /** For each row (first dimension): whether {@code a} and {@code b} are exactly equal on all of it. */
    static boolean[] rowsEqual(Tensor a, Tensor b) {
        float[] eq = Tensors.toFloatArray(a.eq(b).flatten(1, -1).all(1));
        boolean[] out = new boolean[eq.length];
        for (int i = 0; i < eq.length; i++) {
            out[i] = eq[i] != 0f;
        }
        return out;
    }

    /**
     * For each row: whether {@code y}, a fused {@code addcmul} result {@code fl(a + s*b)}, is within the
     * rounding a CUDA fused multiply-add allows of {@code ref = fl(a + fl(s*b))}, the unfused reference,
     * element by element. {@code scaledBranch} is {@code fl(s*b)} as the reference computed it.
     *
     * <p>Derivation, with {@code u = 2^-24} (float32's unit roundoff), {@code z = a + s*b} exact and
     * {@code p = fl(s*b)}: one rounding gives {@code y = z(1+d1)}, {@code |d1| <= u}, so
     * {@code |y - z| <= u|z| <= u/(1-u)|y|}. The reference rounds twice: {@code p = s*b(1+d2)}, so
     * {@code |p - s*b| <= u|s*b| <= u/(1-u)|p|}, and {@code ref = (a+p)(1+d3)}, so
     * {@code |ref - (a+p)| <= u/(1-u)|ref|}. By the triangle inequality over {@code y -> z -> a+p -> ref}:
     * {@code |y - ref| <= u/(1-u) (|p| + |y| + |ref|)}. Each term comes from one rounding of a value that
     * is in the test (no blanket epsilon); subnormal results would need an absolute term too, and the values
     * here are of order 1. The bound is checked in double, where its own rounding is negligible.
     */
    static boolean[] rowsWithinFmaRounding(Tensor y, Tensor ref, Tensor scaledBranch) {
        long rows = y.size(0);
        float[] yv = Tensors.toFloatArray(y);
        float[] rv = Tensors.toFloatArray(ref);
        float[] pv = Tensors.toFloatArray(scaledBranch);
        if (rv.length != yv.length || pv.length != yv.length) {
            throw new IllegalArgumentException("y, ref and scaledBranch must have the same shape");
        }
        int per = (int) (yv.length / Math.max(1, rows));
        double u = Math.scalb(1.0, -24);
        double k = u / (1 - u);
        boolean[] out = new boolean[(int) rows];
        for (int r = 0; r < rows; r++) {
            boolean ok = true;
            for (int i = r * per; i < (r + 1) * per && ok; i++) {
                double bound = k * (Math.abs((double) pv[i]) + Math.abs((double) yv[i]) + Math.abs((double) rv[i]));
                ok = Math.abs((double) yv[i] - rv[i]) <= bound;
            }
            out[r] = ok;
        }
        return out;
    }

    /** Whether any element of a row differs from the reference at all (to show a bound test is not vacuous). */
    static int rowsDiffering(Tensor a, Tensor b) {
        int n = 0;
        for (boolean eq : rowsEqual(a, b)) {
            n += eq ? 0 : 1;
        }
        return n;
    }
}
