package dev.dropkit.surgery;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Modules;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;
import org.bytedeco.pytorch.Module;

/**
 * The one surgery walker every algorithm uses (dropout swaps, stochastic-depth wrapping).
 *
 * <p>It walks libtorch's registered children of each module and, by reflection, the Java fields,
 * {@link List}s and arrays of the module's class that hold them, so it knows for every child both its
 * registered name and the Java references {@code forward} uses. Replacing re-registers the new module
 * under the old name (parameter and buffer names stay the same) and updates every Java reference.
 * A match held only by a libtorch container ({@code SequentialImpl}, {@code ModuleListImpl},
 * {@code ModuleDictImpl}), whose C++ forward would never call a Java replacement, is reached by first
 * converting that container into dropkit's Java one ({@link NativeContainers}), when a Java field or list
 * holds it; anything else held only natively is reported, not replaced.
 */
public final class ModuleSurgery {
    private ModuleSurgery() {}

    /** Every child slot below {@code root}, depth-first in registration order (the root itself excluded). */
    public static List<ModuleSlot> slots(Module root) {
        Checks.notNull("root", root);
        List<ModuleSlot> out = new ArrayList<>();
        walk(root, "", out, new HashSet<>());
        return out;
    }

    /** The slots whose module matches {@code target}. */
    public static List<ModuleSlot> find(Module root, Predicate<ModuleSlot> target) {
        return slots(root).stream().filter(target).toList();
    }

    /**
     * Replaces every module matching {@code target} with {@code replacement.apply(slot)}, in place.
     * Matches below a replaced module are not visited (the replacement decides what it contains). Native
     * containers around matches are converted first ({@link SurgeryReport#conversions()}); a conversion keeps
     * the model's behaviour, so it stays even if building a replacement then fails.
     *
     * @param operation name of the operation, for the report
     * @return what changed, with a warning for each match that could not be replaced (naming a container
     *     that could not be converted, and why) and a warning if nothing matched
     * @throws IllegalArgumentException if {@code root} itself is a libtorch module holding matches: a native
     *     root cannot be swapped for a Java one in place, so convert it with {@link NativeContainers#convert}
     *     first and use the model it returns
     */
    public static SurgeryReport replace(Module root, String operation, Predicate<ModuleSlot> target,
            Function<ModuleSlot, ? extends Module> replacement) {
        Checks.notNull("target", target);
        Checks.notNull("replacement", replacement);
        SurgeryReport report = new SurgeryReport(operation);
        List<ModuleSlot> all = slots(root);
        List<ModuleSlot> nativeOnly = all.stream().filter(s -> !s.javaHeld() && target.test(s)).toList();
        if (!nativeOnly.isEmpty()) {
            if (NativeContainers.isNative(root) && !NativeContainers.isNativeContainer(root)) {
                throw new IllegalArgumentException("the model is a libtorch " + root.name().getString() + ", whose C++"
                        + " forward calls " + nativeOnly.stream().map(ModuleSlot::path).toList() + " itself; no Java"
                        + " module can take their place");
            }
            if (NativeContainers.isNative(root)) {
                throw new IllegalArgumentException("the model is a libtorch " + root.name().getString() + ", whose C++"
                        + " forward never calls a Java module, and a native root cannot be replaced in place: call"
                        + " NativeContainers.convert(model) first and use the model it returns (" + operation
                        + " would change " + nativeOnly.stream().map(ModuleSlot::path).toList() + ")");
            }
            NativeContainers.convertAround(root, all, nativeOnly, report);
            if (!report.conversions().isEmpty()) {
                all = slots(root);
            }
        }
        List<ModuleSlot> matches = new ArrayList<>();
        for (ModuleSlot slot : all) {
            if (target.test(slot) && matches.stream().noneMatch(m -> slot.path().startsWith(m.path() + "."))) {
                matches.add(slot);
            }
        }
        // Every replacement is built before the first swap: one that throws (a bad option for one match)
        // leaves the whole model as it was, not half rewritten.
        Map<ModuleSlot, Module> swaps = new LinkedHashMap<>();
        for (ModuleSlot slot : matches) {
            if (!slot.javaHeld()) {
                report.warn(slot.path() + " (" + slot.nativeType() + ") left alone: "
                        + slot.whyNotReplaceableBy(Module.class));
                continue;
            }
            Module next = replacement.apply(slot);
            String why = slot.whyNotReplaceableBy(next.getClass());
            if (why != null) {
                report.warn(slot.path() + " left alone: " + why);
                continue;
            }
            swaps.put(slot, next);
        }
        swaps.forEach((slot, next) -> {
            String before = describe(slot.module());
            slot.replace(next);
            report.add(new SurgeryReport.Change(slot.path(), before, describe(next)));
        });
        if (report.count() == 0) {
            report.warn("nothing was changed: no module matched" + (matches.isEmpty() ? "" : " that could be replaced"));
        }
        return report;
    }

    private static String describe(Module m) {
        return m.getClass() == Module.class || m.getClass().getName().startsWith("org.bytedeco.")
                ? m.name().getString() : m.toString();
    }

    private static void walk(Module parent, String prefix, List<ModuleSlot> out, Set<Long> visited) {
        if (!visited.add(parent.address())) {
            return;
        }
        Map<String, Module> registered = Modules.namedChildren(parent);
        Map<Long, String> nameByAddress = new HashMap<>();
        registered.forEach((name, view) -> nameByAddress.putIfAbsent(view.address(), name));
        Map<String, ModuleSlot> slots = new LinkedHashMap<>();
        registered.forEach((name, view) -> slots.put(name, new ModuleSlot(parent, name, prefix + name, view)));
        collectJavaReferences(parent, nameByAddress, slots);
        for (ModuleSlot slot : slots.values()) {
            out.add(slot);
            walk(slot.module(), slot.path() + ".", out, visited);
        }
    }

    /** Replaces views by the Java objects the parent's fields, lists and arrays hold, and records those references. */
    private static void collectJavaReferences(Module parent, Map<Long, String> nameByAddress,
            Map<String, ModuleSlot> slots) {
        for (Class<?> c = parent.getClass(); c != null && !c.getName().startsWith("org.bytedeco."); c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) {
                    continue;
                }
                Object value;
                try {
                    f.setAccessible(true);
                    value = f.get(parent);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    continue; // a field we may not read cannot hold a child we could swap
                }
                if (value instanceof Module m) {
                    bind(slots, nameByAddress, m, new ModuleSlot.FieldHolder(parent, f));
                } else if (value instanceof List<?> list) {
                    @SuppressWarnings("unchecked")
                    List<Object> objects = (List<Object>) list;
                    for (int i = 0; i < objects.size(); i++) {
                        if (objects.get(i) instanceof Module m) {
                            bind(slots, nameByAddress, m, new ModuleSlot.ListHolder(f, objects, i));
                        }
                    }
                } else if (value != null && value.getClass().isArray()
                        && Module.class.isAssignableFrom(value.getClass().getComponentType())) {
                    Object[] array = (Object[]) value;
                    for (int i = 0; i < array.length; i++) {
                        if (array[i] instanceof Module m) {
                            bind(slots, nameByAddress, m, new ModuleSlot.ArrayHolder(f, array, i));
                        }
                    }
                }
            }
        }
    }

    private static void bind(Map<String, ModuleSlot> slots, Map<Long, String> nameByAddress, Module javaObject,
            ModuleSlot.Holder holder) {
        String name = nameByAddress.get(javaObject.address());
        if (name == null) {
            return; // a reference to something that is not a registered child of this parent
        }
        ModuleSlot slot = slots.get(name);
        if (!slot.javaHeld()) {
            ModuleSlot withObject = new ModuleSlot(slot.parent(), slot.name(), slot.path(), javaObject);
            slots.put(name, withObject);
            slot = withObject;
        }
        slot.addHolder(holder);
    }
}
