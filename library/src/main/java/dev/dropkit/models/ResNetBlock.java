package dev.dropkit.models;

import dev.dropkit.depth.ResidualBlock;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * What ResNet's two blocks share, written once: torchvision's shortcut (the identity, or a 1x1 convolution +
 * BatchNorm projection registered as {@code downsample} when the stride is not 1 or the channel count
 * changes) and ReLU after the addition. The subclasses differ only in their branch.
 */
public abstract sealed class ResNetBlock extends Module implements ResidualBlock permits BasicBlock, Bottleneck {
    private final long inChannels;
    private final long outChannels;
    private final long stride;
    /** The projection shortcut, or null for the identity; set once, by {@link #registerShortcut()}. */
    Projection downsample;

    /** Sizes already checked to be positive (each subclass names them in its own terms). */
    ResNetBlock(String name, long inChannels, long outChannels, long stride) {
        super(name);
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.stride = stride;
    }

    /**
     * Registers the projection if the shape changes. Subclass constructors call it after registering their
     * branch: torchvision's parameter order, and the order in which the initial weights are drawn.
     */
    final void registerShortcut() {
        if (Projection.needed(inChannels, outChannels, stride)) {
            downsample = register_module("downsample", new Projection(inChannels, outChannels, stride));
        }
    }

    @Override
    public final Tensor shortcut(Tensor x) {
        return downsample == null ? x : downsample.forward(x);
    }

    /** The projection is a convolution + BatchNorm, whose backward does not read its output. */
    @Override
    public final boolean projectionIsPrivate() {
        return true;
    }

    /** ReLU after the addition, out of place (the sum may be the block's input). */
    @Override
    public final Tensor activateOutput(Tensor sum) {
        return torch.relu(sum);
    }

    /** ReLU in place: the sum is the caller's own tensor. */
    @Override
    public final Tensor activateOwnedOutput(Tensor sum) {
        return sum.relu_();
    }

    /** Input channels. */
    public final long inChannels() {
        return inChannels;
    }

    /** Output channels. */
    public final long outChannels() {
        return outChannels;
    }

    /** Stride of the block's strided convolution (2 halves the resolution). */
    public final long stride() {
        return stride;
    }

    /** The sizes {@link #toString()} lists before the stride. */
    String sizes() {
        return "in=" + inChannels + ", out=" + outChannels;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + sizes() + ", stride=" + stride
                + (downsample == null ? "" : ", projection") + ")";
    }
}
