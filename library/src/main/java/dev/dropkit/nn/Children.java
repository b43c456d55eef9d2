package dev.dropkit.nn;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Modules;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * The ordered, named children of a dropkit container, held twice as every dropkit module holds its
 * children: registered in libtorch under their names (what {@code parameters()}, {@code train()},
 * {@code to()} and checkpoints see) and in a Java list (what {@code forward} calls, and what
 * {@link dev.dropkit.surgery.ModuleSurgery} rewrites). A module read back from libtorch is registered as
 * it is (its handle shares the module's ownership) and listed as its layer class (see {@link NativeCasts}),
 * so that surgery sees a {@code DropoutImpl} where there is one.
 */
public abstract class Children extends Module {
    private final List<Module> modules = new ArrayList<>();
    private final List<String> names = new ArrayList<>();
    private final List<JavaForward> calls = new ArrayList<>();

    /** A container named {@code name} in libtorch's printouts. */
    protected Children(String name) {
        super(name);
    }

    /**
     * Registers {@code module} under {@code name} and appends it.
     *
     * @throws IllegalArgumentException if the name is taken or the module is a view of a type Java cannot
     *     call (named in the message)
     */
    protected void append(String name, Module module) {
        Checks.notNull("name", name);
        Checks.notNull("module", module);
        if (names.contains(name)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " already has a child named '" + name + "'");
        }
        Module callable = NativeCasts.cast(module);
        register_module(name, module);
        names.add(name);
        modules.add(callable);
        calls.add(null);
    }

    /** Number of children. */
    public int size() {
        return modules.size();
    }

    /**
     * Child {@code i}: the Java object, or for a libtorch layer its layer class ({@code LinearImpl}, ...), a
     * cast that owns nothing: call it, do not register it elsewhere (use {@link #entries()} for that).
     */
    public Module get(int i) {
        return modules.get(i);
    }

    /** The child registered under {@code name}. */
    public Module get(String name) {
        int i = names.indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " has no child named '" + name
                    + "'; it has " + names);
        }
        return modules.get(i);
    }

    /** The children's names, in order. */
    public List<String> names() {
        return Collections.unmodifiableList(names);
    }

    /**
     * The children by name, in order, as handles that may be registered again (in another container, or by
     * {@link Residual#of(Children)}): the Java objects of modules written in Java, and for libtorch layers
     * handles from {@code named_children()}, which share the module's ownership. The layer-class casts
     * {@link #get} returns own nothing and must not be registered anywhere (native-notes/native-module-casts.md).
     */
    public Map<String, Module> entries() {
        Map<String, Module> views = Modules.namedChildren(this);
        Map<String, Module> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            Module m = modules.get(i);
            out.put(names.get(i), m.getClass().getName().startsWith("org.bytedeco.") ? views.get(names.get(i)) : m);
        }
        return out;
    }

    /**
     * Calls child {@code i}'s Java forward.
     *
     * @throws IllegalArgumentException if the child has no {@code Tensor forward(Tensor)}
     */
    public Tensor forward(int i, Tensor x) {
        Module m = modules.get(i);
        JavaForward call = calls.get(i);
        if (call == null || call.module() != m) { // surgery may have swapped the child
            call = JavaForward.of(m);
            calls.set(i, call);
        }
        return call.forward(x);
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + names;
    }
}
