package dev.dropkit.surgery;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import dev.dropkit.core.Modules;
import org.bytedeco.pytorch.Module;

/**
 * Where one child module lives: its parent, its registered name, its dotted path from the root, and
 * every Java reference to it (a field, a list slot or an array slot of the parent). A slot with no
 * Java reference is "native-only": its module sits in a libtorch container (for example a
 * {@code SequentialImpl}) whose C++ {@code forward} would never call a Java replacement.
 */
public final class ModuleSlot {
    private final Module parent;
    private final String name;
    private final String path;
    private final Module module;
    private final List<Holder> holders = new ArrayList<>();

    ModuleSlot(Module parent, String name, String path, Module module) {
        this.parent = parent;
        this.name = name;
        this.path = path;
        this.module = module;
    }

    /** Dotted path from the root, as in {@code named_modules()} ({@code "layer1.0.conv1"}). */
    public String path() {
        return path;
    }

    /** Name the module is registered under in its parent. */
    public String name() {
        return name;
    }

    /** The parent module (a Java object for Java-held slots, a libtorch view otherwise). */
    public Module parent() {
        return parent;
    }

    /**
     * The module: the Java object the parent holds, or a non-owning libtorch view when the slot is
     * native-only (then {@code instanceof} checks on Java classes fail; use {@link #nativeType()}).
     */
    public Module module() {
        return module;
    }

    /** libtorch's type name of the module, e.g. {@code torch::nn::DropoutImpl} or the name given to {@code Module(String)}. */
    public String nativeType() {
        return module.name().getString();
    }

    /** Whether a Java field, list or array of the parent refers to the module. */
    public boolean javaHeld() {
        return !holders.isEmpty();
    }

    /** Human descriptions of the Java references, e.g. {@code field Net.drop} or {@code list Net.blocks[3]}. */
    public List<String> references() {
        List<String> out = new ArrayList<>();
        holders.forEach(h -> out.add(h.toString()));
        return Collections.unmodifiableList(out);
    }

    void addHolder(Holder holder) {
        holders.add(holder);
    }

    /**
     * Why {@code replacement} cannot take this slot's place, or null if it can: every Java reference must
     * be able to hold it, and there must be at least one.
     */
    String whyNotReplaceableBy(Class<?> replacement) {
        if (holders.isEmpty()) {
            return "no Java field or list holds it (it lives in a native container, whose C++ forward cannot call a"
                    + " Java module); hold it in a Java field or list instead, or its container in a field of type"
                    + " Module so that surgery can convert it (NativeContainers)";
        }
        for (Holder h : holders) {
            if (!h.accepts(replacement)) {
                return h instanceof ListHolder list && !list.writable()
                        ? h + " is an unmodifiable list; hold replaceable children in a mutable list (e.g. ArrayList)"
                        : h + " has " + (h instanceof ListHolder ? "element type " : "type ") + h.type().getSimpleName()
                                + ", which cannot hold a " + replacement.getSimpleName()
                                + "; declare it with a wider type (e.g. Module)";
            }
        }
        return null;
    }

    /**
     * Swaps in {@code replacement}: re-registers it under the same name, in the same place among its
     * siblings, updates every Java reference, and puts it in the replaced module's training or eval mode
     * (a new module starts in training mode, and a model put in eval mode before surgery must stay there).
     */
    void replace(Module replacement) {
        String why = whyNotReplaceableBy(replacement.getClass());
        if (why != null) {
            throw new IllegalStateException(path + ": " + why);
        }
        replacement.train(module().is_training());
        // libtorch appends a registered child at the end of its parent's list: the siblings registered after
        // this one are registered again, in order, so children, parameters and the blocks a later surgery
        // walks keep their order. The handles in this map share ownership of the native modules.
        Map<String, Module> siblings = Modules.namedChildren(parent);
        parent.unregister_module(name);
        parent.register_module(name, replacement);
        boolean after = false;
        for (Map.Entry<String, Module> sibling : siblings.entrySet()) {
            if (after) {
                parent.unregister_module(sibling.getKey());
                parent.register_module(sibling.getKey(), sibling.getValue());
            }
            after |= sibling.getKey().equals(name);
        }
        for (Holder h : holders) {
            h.set(replacement);
        }
    }

    /** One Java reference to the module. */
    abstract static sealed class Holder permits FieldHolder, ListHolder, ArrayHolder {
        abstract Class<?> type();

        abstract void set(Module value);

        boolean accepts(Class<?> c) {
            return type().isAssignableFrom(c);
        }
    }

    static final class FieldHolder extends Holder {
        private final Object owner;
        private final Field field;

        FieldHolder(Object owner, Field field) {
            this.owner = owner;
            this.field = field;
        }

        @Override
        Class<?> type() {
            return field.getType();
        }

        @Override
        void set(Module value) {
            try {
                field.set(owner, value);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException("cannot write " + this + ": " + e.getMessage(), e);
            }
        }

        @Override
        public String toString() {
            return "field " + field.getDeclaringClass().getSimpleName() + "." + field.getName();
        }
    }

    static final class ListHolder extends Holder {
        private final Field field;
        private final List<Object> list;
        private final int index;

        ListHolder(Field field, List<Object> list, int index) {
            this.field = field;
            this.list = list;
            this.index = index;
        }

        /**
         * The element type the field declares ({@code List<Bottleneck>} gives Bottleneck): erased at run
         * time, so a list that takes a replacement of another type only fails later, when the model's code
         * reads the element back as its declared type.
         */
        @Override
        Class<?> type() {
            return elementType(field.getGenericType());
        }

        @Override
        boolean accepts(Class<?> c) {
            return super.accepts(c) && writable();
        }

        boolean writable() {
            try {
                list.set(index, list.get(index)); // probes writability without changing anything
                return true;
            } catch (UnsupportedOperationException e) {
                return false;
            }
        }

        private static Class<?> elementType(Type declared) {
            if (declared instanceof ParameterizedType p && p.getActualTypeArguments().length == 1) {
                return erasure(p.getActualTypeArguments()[0]);
            }
            return Object.class; // a raw List: any module fits
        }

        private static Class<?> erasure(Type t) {
            if (t instanceof Class<?> c) {
                return c;
            }
            if (t instanceof ParameterizedType p) {
                return erasure(p.getRawType());
            }
            if (t instanceof WildcardType w) {
                return erasure(w.getUpperBounds()[0]);
            }
            if (t instanceof TypeVariable<?> v) {
                return erasure(v.getBounds()[0]);
            }
            return Object.class;
        }

        @Override
        void set(Module value) {
            list.set(index, value);
        }

        @Override
        public String toString() {
            return "list " + field.getDeclaringClass().getSimpleName() + "." + field.getName() + "[" + index + "]";
        }
    }

    static final class ArrayHolder extends Holder {
        private final Field field;
        private final Object array;
        private final int index;

        ArrayHolder(Field field, Object array, int index) {
            this.field = field;
            this.array = array;
            this.index = index;
        }

        @Override
        Class<?> type() {
            return array.getClass().getComponentType();
        }

        @Override
        void set(Module value) {
            Array.set(array, index, value);
        }

        @Override
        public String toString() {
            return "array " + field.getDeclaringClass().getSimpleName() + "." + field.getName() + "[" + index + "]";
        }
    }
}
