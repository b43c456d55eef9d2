package dev.dropkit.surgery;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Modules;
import dev.dropkit.nn.Children;
import dev.dropkit.nn.ModuleDict;
import dev.dropkit.nn.ModuleList;
import dev.dropkit.nn.NativeCasts;
import dev.dropkit.nn.Sequential;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.Module;

/**
 * Turns libtorch's containers ({@code SequentialImpl}, {@code ModuleListImpl}, {@code ModuleDictImpl}) into
 * dropkit's Java ones ({@link Sequential}, {@link ModuleList}, {@link ModuleDict}), which call each child's
 * Java {@code forward} and which surgery can rewrite. A native container calls its children's C++ forward,
 * so a Java module put into it would be bypassed (native-notes/native-containers-call-cpp-forward.md):
 * that is why Gyro Dropout, classic dropout and stochastic depth could not touch such a model before.
 *
 * <p>Nothing is copied: every layer is the same native module, registered under the same name in the same
 * order, so parameters, {@code state_dict} keys, an optimizer built before the conversion and the outputs
 * (bit for bit) stay what they were. Conversion is recursive. A child the bindings cannot cast to a layer
 * class ({@link NativeCasts}: a module written in Java, which a native container hands back only as a plain
 * view, or a C++ class they do not map) is refused by name with {@link NotConvertible}, unless a
 * {@link Mapper} builds something callable for it.
 *
 * <pre>{@code
 * SequentialImpl native = ...;                             // Linear, ReLU, Dropout, ... as in the Bytedeco samples
 * Module model = NativeContainers.convert(native);         // a dev.dropkit.nn.Sequential: use it from now on
 * GyroDropout.apply(model, options);                       // now finds and replaces the dropouts
 * }</pre>
 *
 * <p>A native root cannot be changed into a Java object in place, so {@link #convert} returns the new root
 * and the caller must use it (the native root still runs the old C++ forward). A Java root is converted in
 * place: each native container its fields or lists hold is swapped, as surgery swaps modules, and the root
 * itself is returned. {@link ModuleSurgery#replace} does that on its own for the containers around its
 * matches and lists them in {@link SurgeryReport#conversions()}.
 */
public final class NativeContainers {
    /** libtorch's container types, by native name. */
    public static final Set<String> CONTAINERS = Set.of("torch::nn::SequentialImpl", "torch::nn::ModuleListImpl",
            "torch::nn::ModuleDictImpl");

    private NativeContainers() {}

    /**
     * Builds the Java module for a part of a native tree, or returns null to let the conversion decide. It is
     * asked about every native module the conversion meets, children first, so that it can, for example,
     * turn a {@code ModuleListImpl} of residual branches into blocks that add their shortcut
     * ({@link dev.dropkit.nn.Residual}, which stochastic depth can wrap), or give a plain
     * {@code torch::nn::Module} root a forward. Keep the children's names to keep {@code state_dict} keys.
     */
    @FunctionalInterface
    public interface Mapper {
        /** The Java module for {@code node}, or null for the default conversion. */
        Module map(Node node);
    }

    /**
     * One native module met by the conversion.
     *
     * @param path dotted path from the model given to {@code convert} ({@code ""} for a native root)
     * @param nativeType libtorch's type name, e.g. {@code torch::nn::ModuleListImpl}
     * @param module the native module (a view)
     * @param children its children already converted, by name, in order (empty for a layer)
     */
    public record Node(String path, String nativeType, Module module, Map<String, Module> children) {
        /** The converted children as a {@link Sequential} of the same modules under the same names. */
        public Sequential asSequential() {
            return Sequential.of(children);
        }
    }

    /** A native module that cannot be made callable from Java, with the reason. */
    public static final class NotConvertible extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        private final String path;
        private final String nativeType;
        private final String reason;

        NotConvertible(String path, String nativeType, String reason) {
            super("cannot convert " + (path.isEmpty() ? "the root" : path) + " (" + nativeType + ") to a Java"
                    + " module: " + reason + "; hold it in a Java module, or give NativeContainers.convert a Mapper"
                    + " that builds one for it");
            this.path = path;
            this.nativeType = nativeType;
            this.reason = reason;
        }

        /** Dotted path of the refused module. */
        public String path() {
            return path;
        }

        /** Its libtorch type name. */
        public String nativeType() {
            return nativeType;
        }

        /** Why it cannot be called from Java. */
        public String reason() {
            return reason;
        }
    }

    /** {@link #convert(Module, Mapper)} without a mapper. */
    public static Module convert(Module model) {
        return convert(model, node -> null);
    }

    /**
     * Converts every native container in {@code model} into dropkit's Java containers, sharing the layers.
     *
     * @return the converted model: for a native root a new Java module, which the caller must use from now
     *     on; for a Java root the same object, its native containers swapped in place
     * @throws NotConvertible naming the first module that cannot be made callable, and why; nothing has
     *     been changed then
     * @throws IllegalArgumentException if a Java field or list holding a native container cannot hold the
     *     Java container (its declared type is too narrow), naming it
     */
    public static Module convert(Module model, Mapper mapper) {
        Checks.notNull("model", model);
        Checks.notNull("mapper", mapper);
        if (isNative(model)) {
            return build("", model, mapper);
        }
        Map<ModuleSlot, Module> swaps = new LinkedHashMap<>();
        for (ModuleSlot slot : topContainers(model)) {
            Module converted = build(slot.path(), slot.module(), mapper);
            String why = slot.whyNotReplaceableBy(converted.getClass());
            if (why != null) {
                throw new IllegalArgumentException(slot.path() + " (" + slot.nativeType() + ") cannot be converted: "
                        + advice(why, converted));
            }
            swaps.put(slot, converted);
        }
        swaps.forEach(ModuleSlot::replace);
        return model;
    }

    /** Whether {@code module} is a libtorch module rather than a Java subclass (a layer, a container or a view). */
    public static boolean isNative(Module module) {
        return module.getClass().getName().startsWith("org.bytedeco.");
    }

    /** Whether {@code module} is one of libtorch's containers ({@link #CONTAINERS}). */
    public static boolean isNativeContainer(Module module) {
        return isNative(module) && CONTAINERS.contains(module.name().getString());
    }

    /** Paths of the native containers in {@code model} (the root, as {@code ""}, included), outermost first. */
    public static List<String> nativeContainers(Module model) {
        Checks.notNull("model", model);
        List<String> out = new java.util.ArrayList<>();
        if (isNativeContainer(model)) {
            out.add("");
        }
        for (ModuleSlot slot : ModuleSurgery.slots(model)) {
            if (CONTAINERS.contains(slot.nativeType()) && isNative(slot.module())) {
                out.add(slot.path());
            }
        }
        return out;
    }

    /** The Java-held native containers of a Java model that no other such container encloses. */
    private static List<ModuleSlot> topContainers(Module model) {
        List<ModuleSlot> out = new java.util.ArrayList<>();
        for (ModuleSlot slot : ModuleSurgery.slots(model)) {
            if (slot.javaHeld() && isNativeContainer(slot.module())
                    && out.stream().noneMatch(o -> slot.path().startsWith(o.path() + "."))) {
                out.add(slot);
            }
        }
        return out;
    }

    /**
     * Converts the native containers that enclose {@code matches} (surgery targets held only natively) and
     * that a Java field or list holds, recording each conversion, or a warning naming the container and
     * why it stays native.
     */
    static void convertAround(Module root, List<ModuleSlot> all, List<ModuleSlot> matches, SurgeryReport report) {
        Map<String, ModuleSlot> byPath = new LinkedHashMap<>();
        all.forEach(s -> byPath.put(s.path(), s));
        Set<String> done = new java.util.HashSet<>();
        for (ModuleSlot match : matches) {
            ModuleSlot container = null;
            String path = match.path();
            for (int dot = path.lastIndexOf('.'); dot > 0; dot = path.lastIndexOf('.', dot - 1)) {
                ModuleSlot up = byPath.get(path.substring(0, dot));
                if (up != null && up.javaHeld()) {
                    container = up;
                    break;
                }
            }
            if (container == null || !isNativeContainer(container.module()) || !done.add(container.path())) {
                continue; // no Java reference to swap, or a Java module's unreferenced child: warned about later
            }
            Module converted;
            try {
                converted = build(container.path(), container.module(), node -> null);
            } catch (NotConvertible e) {
                report.warn(container.path() + " (" + container.nativeType() + ") not converted to a Java container: "
                        + e.getMessage());
                continue;
            }
            String why = container.whyNotReplaceableBy(converted.getClass());
            if (why != null) {
                report.warn(container.path() + " (" + container.nativeType() + ") not converted to a Java container: "
                        + advice(why, converted));
                continue;
            }
            String before = container.nativeType();
            container.replace(converted);
            report.convert(new SurgeryReport.Conversion(container.path(), before, converted.toString()));
        }
        java.lang.ref.Reference.reachabilityFence(root);
    }

    /** {@code why} a reference cannot hold the Java container, with what to declare instead. */
    private static String advice(String why, Module converted) {
        int hint = why.indexOf("; declare it with a wider type");
        String base = hint < 0 ? why : why.substring(0, hint);
        return base + "; declare it as " + converted.getClass().getName() + " (or Module) and build it as one, or"
                + " assign it NativeContainers.convert(container)";
    }

    private static Module build(String path, Module module, Mapper mapper) {
        String type = module.name().getString();
        Map<String, Module> children = new LinkedHashMap<>();
        boolean container = CONTAINERS.contains(type) && isNative(module);
        if (container || !NativeCasts.castable(type)) { // a plain or unknown module: its children for the mapper
            Modules.namedChildren(module).forEach((name, child) -> children.put(name,
                    isNative(child) ? build(path.isEmpty() ? name : path + "." + name, child, mapper) : child));
        }
        Module mapped = mapper.map(new Node(path, type, module, Collections.unmodifiableMap(children)));
        if (mapped != null) {
            return mapped;
        }
        if (!container) {
            String why = NativeCasts.whyNot(type);
            if (why != null && module.getClass() == Module.class) {
                throw new NotConvertible(path, type, why);
            }
            return module; // a layer: registered as it is, shared
        }
        Children out = switch (type) {
            case "torch::nn::SequentialImpl" -> new Sequential();
            case "torch::nn::ModuleListImpl" -> new ModuleList();
            default -> new ModuleDict();
        };
        for (Map.Entry<String, Module> child : children.entrySet()) {
            try {
                if (out instanceof Sequential s) {
                    s.add(child.getKey(), child.getValue());
                } else if (out instanceof ModuleList l) {
                    l.add(child.getValue());
                } else {
                    ((ModuleDict) out).put(child.getKey(), child.getValue());
                }
            } catch (IllegalArgumentException e) {
                throw new NotConvertible(path.isEmpty() ? child.getKey() : path + "." + child.getKey(),
                        child.getValue().name().getString(), e.getMessage());
            }
        }
        return out;
    }
}
