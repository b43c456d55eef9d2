package dev.dropkit.nn;

import dev.dropkit.core.Checks;
import java.util.Map;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * libtorch's {@code Sequential} for Java: its forward passes the input through each child's Java
 * {@code forward} in turn. A {@code SequentialImpl} calls the C++ forward of its children instead, so a
 * Java module in it (dropkit's {@code Dropout}, {@code GyroDropout}, a stochastic-depth wrapper) is
 * silently bypassed (native-notes/native-containers-call-cpp-forward.md), and surgery cannot rewrite it.
 * Children are registered under the names given, so {@code state_dict} keys are those of a
 * {@code SequentialImpl} with the same names; {@code NativeContainers.convert} builds one from a
 * {@code SequentialImpl} with the same child modules.
 *
 * <pre>{@code
 * Sequential net = new Sequential().add("fc", new LinearImpl(784, 64)).add("relu", new ReLUImpl())
 *         .add("drop", new Dropout(0.5)).add("out", new LinearImpl(64, 10));
 * }</pre>
 *
 * <p>As with every libtorch module, keep the Java objects you add reachable only through the container:
 * it holds them in a Java list, which keeps their native modules alive.
 */
public class Sequential extends Children {
    /** An empty Sequential. */
    public Sequential() {
        super("Sequential");
    }

    /** A Sequential of {@code children}, registered under their keys, in the map's order. */
    public static Sequential of(Map<String, ? extends Module> children) {
        Sequential s = new Sequential();
        Checks.notNull("children", children).forEach(s::add);
        return s;
    }

    /**
     * Appends {@code module} under {@code name}.
     *
     * @throws IllegalArgumentException if the name is taken, or the module cannot be called with one tensor
     */
    public Sequential add(String name, Module module) {
        String why = JavaForward.whyNotCallable(Checks.notNull("module", module));
        if (why != null) {
            throw new IllegalArgumentException("cannot add '" + name + "' to a Sequential: " + why);
        }
        append(name, module);
        return this;
    }

    /** Appends {@code module} under its index as name ({@code "0"}, {@code "1"}, ...), as {@code SequentialImpl.push_back} does. */
    public Sequential add(Module module) {
        return add(Integer.toString(size()), module);
    }

    /** Each child's forward in turn. */
    public Tensor forward(Tensor x) {
        for (int i = 0; i < size(); i++) {
            x = forward(i, x);
        }
        return x;
    }
}
