package dev.dropkit.nn;

import org.bytedeco.pytorch.Module;

/**
 * libtorch's {@code ModuleDict} for Java: children by name, in insertion order, with no forward of its own;
 * the owner's Java code calls them, e.g. {@code heads.forward(heads.names().indexOf("cls"), x)} or
 * {@code get("cls")}. {@code NativeContainers.convert} builds one from a {@code ModuleDictImpl} with the
 * same child modules and keys.
 */
public class ModuleDict extends Children {
    /** An empty ModuleDict. */
    public ModuleDict() {
        super("ModuleDict");
    }

    /** Adds {@code module} under {@code name}. */
    public ModuleDict put(String name, Module module) {
        append(name, module);
        return this;
    }
}
