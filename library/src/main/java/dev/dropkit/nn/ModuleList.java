package dev.dropkit.nn;

import org.bytedeco.pytorch.Module;

/**
 * libtorch's {@code ModuleList} for Java: an indexed list of registered children with no forward of its
 * own; the owner's Java code calls the children, e.g. {@code blocks.forward(i, x)}, which runs child
 * {@code i}'s Java forward. Children are registered as {@code "0"}, {@code "1"}, ... as in
 * {@code ModuleListImpl}, so {@code state_dict} keys match; {@code NativeContainers.convert} builds one
 * from a {@code ModuleListImpl} with the same child modules.
 */
public class ModuleList extends Children {
    /** An empty ModuleList. */
    public ModuleList() {
        super("ModuleList");
    }

    /** Appends {@code module} under its index as name. */
    public ModuleList add(Module module) {
        append(Integer.toString(size()), module);
        return this;
    }
}
