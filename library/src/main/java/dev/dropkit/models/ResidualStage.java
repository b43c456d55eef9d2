package dev.dropkit.models;

import dev.dropkit.depth.ResidualBlock;
import dev.dropkit.depth.StochasticDepthSurgery;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A run of residual blocks registered as {@code 0}, {@code 1}, ... (torchvision's {@code layer1.0}).
 *
 * <p>The blocks sit in a mutable Java list of {@link Module}, not in a native {@code SequentialImpl}:
 * a native container would call the blocks' C++ {@code forward} (which Java modules do not have), and
 * surgery such as {@link StochasticDepthSurgery} swaps list entries for wrappers in place.
 * {@link #forward(Tensor)} calls every block through {@link ResidualBlock}, so whatever sits in the list
 * now is what runs.
 */
public final class ResidualStage extends Module {
    private final List<Module> blocks = new ArrayList<>(); // mutable on purpose: surgery writes here

    /**
     * @param blocks the blocks, in order; each must be a {@link Module} implementing {@link ResidualBlock}
     * @throws IllegalArgumentException if the list is empty or holds something else
     */
    public ResidualStage(List<? extends Module> blocks) {
        super("ResidualStage");
        if (blocks == null || blocks.isEmpty()) {
            throw new IllegalArgumentException("a stage needs at least one block, got " + blocks);
        }
        for (int i = 0; i < blocks.size(); i++) {
            Module b = blocks.get(i);
            if (!(b instanceof ResidualBlock)) {
                throw new IllegalArgumentException("block " + i + " must implement ResidualBlock, got "
                        + (b == null ? "null" : b.getClass().getName()));
            }
            this.blocks.add(register_module(String.valueOf(i), b));
        }
    }

    /** Runs every block in order. */
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (Module b : blocks) {
            h = ((ResidualBlock) b).forward(h);
        }
        return h;
    }

    /** The blocks as they are now (wrappers after surgery), read-only. */
    public List<Module> blocks() {
        return Collections.unmodifiableList(blocks);
    }

    @Override
    public String toString() {
        return "ResidualStage(" + blocks.size() + " blocks)";
    }
}
