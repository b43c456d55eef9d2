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
}
