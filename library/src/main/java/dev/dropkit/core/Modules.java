package dev.dropkit.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringSharedModuleDict;

/**
 * Safe walks over a libtorch module tree. They index the native dictionaries instead of iterating
 * them (see native-notes/iterator-equals-runs-past-end.md) and skip the root entry, whose key is null.
 *
 * <p>The {@link Module} objects returned are JavaCPP handles of the native modules: each holds a share
 * of its module's {@code shared_ptr} (so it may be registered again, as surgery does), but it is never
 * the Java subclass instance a model registered (native-notes/module-views-are-not-your-subclass.md):
 * a Java {@code forward} override is not reachable through it. The maps returned here also hold the
 * root, so the whole tree stays alive while a map is reachable.
 */
public final class Modules {
    private Modules() {}

    /** Every descendant of {@code root} by dotted path ({@code "layer1.0.conv1"}), in registration order, root excluded. */
    public static Map<String, Module> namedDescendants(Module root) {
        return toMap(root, root.named_modules(), true);
    }

    /** The direct children of {@code root} by name, in registration order. */
    public static Map<String, Module> namedChildren(Module root) {
        return toMap(root, root.named_children(), false);
    }

    /** Names of every parameter below {@code root}, e.g. {@code "layer1.0.conv1.weight"}, in registration order. */
    public static List<String> namedParameterNames(Module root) {
        var dict = root.named_parameters();
        List<String> names = new ArrayList<>();
        for (long i = 0; i < dict.size(); i++) {
            names.add(dict.get(i).key().getString());
        }
        return names;
    }

    private static Map<String, Module> toMap(Module root, StringSharedModuleDict dict, boolean skipRoot) {
        Map<String, Module> out = new RootedMap(root);
        long n = dict.size();
        for (long i = 0; i < n; i++) {
            var item = dict.get(i);
            var key = item.key();
            if (key == null || key.isNull()) {
                if (skipRoot) {
                    continue;
                }
                throw new IllegalStateException("module entry " + i + " has no name");
            }
            out.put(key.getString(), item.value());
        }
        return out;
    }

    /** An insertion-ordered map that keeps the module tree its views point into alive. */
    private static final class RootedMap extends LinkedHashMap<String, Module> {
        @SuppressWarnings("unused") // held only for reachability
        private final transient Module root;

        RootedMap(Module root) {
            this.root = root;
        }
    }
}
