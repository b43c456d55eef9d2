package dev.dropkit.nn;

import dev.dropkit.core.Checks;
import dev.dropkit.depth.ResidualBlock;
import java.util.Map;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A residual block made of a chain of layers: {@code forward(x) = x + branch(x)}, where the branch runs the
 * children in order as a {@link Sequential} does. Being a {@link ResidualBlock}, it is what stochastic depth
 * wraps. It registers the branch's children directly under their own names, so a residual branch written
 * as a {@code SequentialImpl} in a {@code ModuleListImpl} (as JavaCPP users write residual blocks, adding the
 * shortcut in their own forward) keeps its {@code state_dict} keys ({@code blocks.0.0.weight}) when a
 * {@code NativeContainers.Mapper} turns it into a Residual.
 */
public class Residual extends Sequential implements ResidualBlock {
    /** An empty residual block (its branch is the identity until children are added). */
    public Residual() {}

    /** A residual block whose branch is {@code branch}'s children, the same modules under the same names. */
    public static Residual of(Children branch) {
        return of(Checks.notNull("branch", branch).entries());
    }

    /** A residual block whose branch is {@code children}, in order. */
    public static Residual of(Map<String, ? extends Module> children) {
        Residual r = new Residual();
        Checks.notNull("children", children).forEach(r::add);
        return r;
    }

    @Override
    public Residual add(String name, Module module) {
        super.add(name, module);
        return this;
    }

    /** The chain of children. */
    @Override
    public Tensor branch(Tensor x) {
        return super.forward(x);
    }

    /** The input itself. */
    @Override
    public Tensor shortcut(Tensor x) {
        return x;
    }

    /** {@code x + branch(x)}. */
    @Override
    public Tensor forward(Tensor x) {
        return activateOutput(shortcut(x).add(branch(x)));
    }
}
