package dev.dropkit.jit;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Block;
import org.bytedeco.pytorch.BlockArrayRef;
import org.bytedeco.pytorch.Function;
import org.bytedeco.pytorch.FunctionType;
import org.bytedeco.pytorch.FunctionVector;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Method;
import org.bytedeco.pytorch.NamedJitModule;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.TypeKind;
import org.bytedeco.pytorch.named_module_iterator;
import org.bytedeco.pytorch.named_module_list;

/**
 * Reads what a TorchScript model contains before anything rewrites it: its module tree with
 * unmangled type names, its dropout-family graph nodes and its candidate residual blocks. Names are
 * unmangled because libtorch renames every re-scripted class ({@code ___torch_mangle_12.Dropout}),
 * so matching on raw names would miss most modules of a real export.
 */
public final class JitInspector {
    /**
     * The residual block types of torchvision's ResNets, also when the class was defined in a
     * script's {@code __main__} (libtorch then names it {@code __torch__.BasicBlock}, no package).
     */
    public static final Pattern DEFAULT_BLOCKS = Pattern.compile("(?:.*\\.)?(?:BasicBlock|Bottleneck)");

    /** The node kinds that drop activations: the in-place and feature/alpha variants included. */
    public static final Set<String> DROPOUT_KINDS = Set.of(
            "aten::dropout", "aten::dropout_",
            "aten::feature_dropout", "aten::feature_dropout_",
            "aten::alpha_dropout", "aten::alpha_dropout_",
            "aten::feature_alpha_dropout", "aten::feature_alpha_dropout_");

    private static final Pattern MANGLE = Pattern.compile("___torch_mangle_\\d+\\.");

    private JitInspector() {}

    /**
     * One module of the tree: {@code path} is "" for the root, dotted below it. In
     * {@link Report#dropkitMethods()} the second field is the name of a method a dropkit rewrite added.
     */
    public record ModuleInfo(String path, String type) {}

    /**
     * A dropout-family node: its kind, the module and method whose call reaches it, and {@code via}:
     * the called TorchScript functions between the method and the node ("" when the node sits in the
     * method's own graph). Scripted {@code nn.Dropout} and {@code F.dropout} both reach
     * {@code aten::dropout} through {@code torch.nn.functional.dropout}; traced models hold it directly.
     */
    public record DropoutNode(String kind, String modulePath, String method, String via) {}

    /**
     * What {@link #inspect} found. Counts are per node kind, sorted by kind. They count nodes present
     * in the graphs, not calls made at run time: a scripted {@code F.dropout} holds both an
     * {@code aten::dropout} and an {@code aten::dropout_} (one per branch of its {@code inplace} flag).
     * {@code otherResidual} lists modules (the root aside) whose type does not match the block pattern
     * but whose {@code forward} has a residual addition the stochastic-depth rewrite recognizes:
     * candidates to name with {@code blocks=REGEX} in a model it has not seen.
     */
    public record Report(List<ModuleInfo> modules, List<DropoutNode> dropoutNodes,
            Map<String, Integer> dropoutCounts, List<ModuleInfo> residualBlocks, List<ModuleInfo> dropkitMethods,
            List<ModuleInfo> otherResidual) {
        public Report {
            modules = List.copyOf(modules);
            dropoutNodes = List.copyOf(dropoutNodes);
            dropoutCounts = java.util.Collections.unmodifiableMap(new TreeMap<>(dropoutCounts));
            residualBlocks = List.copyOf(residualBlocks);
            dropkitMethods = List.copyOf(dropkitMethods);
            otherResidual = List.copyOf(otherResidual);
        }

        /** All dropout-family nodes together. */
        public int dropoutTotal() {
            return dropoutNodes.size();
        }

        /** The report as a JSON object, keys in a stable order; one module or node per line. */
        public String toJson() {
            Json json = new Json().beginObject().key("modules");
            writeModules(json, modules, "type");
            json.key("dropoutNodes").beginArray();
            for (DropoutNode d : dropoutNodes) {
                json.beginInlineObject().key("kind").value(d.kind()).key("module").value(d.modulePath())
                        .key("method").value(d.method()).key("via").value(d.via()).endObject();
            }
            json.endArray().key("dropoutCounts").beginInlineObject();
            dropoutCounts.forEach((kind, count) -> json.key(kind).value(count));
            json.endObject().key("dropoutTotal").value(dropoutTotal()).key("residualBlocks");
            writeModules(json, residualBlocks, "type");
            json.key("dropkitMethods");
            writeModules(json, dropkitMethods, "method");
            json.key("otherResidualCandidates");
            writeModules(json, otherResidual, "type");
            return json.endObject().text();
        }

        /** An array of {@code {"path": ..., "<second>": ...}}; {@code second} is "method" for dropkit's methods. */
        private static void writeModules(Json json, List<ModuleInfo> list, String second) {
            json.beginArray();
            for (ModuleInfo m : list) {
                json.beginInlineObject().key("path").value(m.path()).key(second).value(m.type()).endObject();
            }
            json.endArray();
        }
    }

    /** Inspects with the {@link #DEFAULT_BLOCKS} residual-block pattern. */
    public static Report inspect(JitModule module) {
        return inspect(module, DEFAULT_BLOCKS);
    }

    /** Inspects {@code module}; {@code blocks} is matched against whole unmangled type names. */
    public static Report inspect(JitModule module, Pattern blocks) {
        Checks.notNull("module", module);
        Checks.notNull("blocks", blocks);
        List<ModuleInfo> modules = new ArrayList<>();
        List<DropoutNode> nodes = new ArrayList<>();
        List<ModuleInfo> residual = new ArrayList<>();
        List<ModuleInfo> dropkit = new ArrayList<>();
        List<ModuleInfo> other = new ArrayList<>();
        Map<String, Boolean> hasResidual = new java.util.HashMap<>(); // per class: graphs are shared
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (Map.Entry<String, JitModule> e : namedModules(module).entrySet()) {
            JitModule m = e.getValue();
            ModuleInfo info = new ModuleInfo(e.getKey(), typeName(m));
            modules.add(info);
            if (blocks.matcher(info.type()).matches()) {
                residual.add(info);
            } else if (!e.getKey().isEmpty() && hasResidual.computeIfAbsent(m.type().str().getString(),
                    t -> m.find_method("forward").has_value()
                            && DepthRewrite.findResidual(m.get_method("forward").graph()).reason() == null)) {
                other.add(info);
            }
            for (String method : methodNames(m)) {
                if (method.startsWith(JitGraphs.PREFIX)) {
                    dropkit.add(new ModuleInfo(e.getKey(), method)); // a rewrite already applied, not the model's dropout
                    continue;
                }
                Method meth = m.get_method(method);
                Graph graph = meth.graph();
                collect(graph.block(), e.getKey(), method, "", new java.util.HashSet<>(), nodes);
            }
        }
        for (DropoutNode d : nodes) {
            counts.merge(d.kind(), 1, Integer::sum);
        }
        return new Report(modules, nodes, counts, residual, dropkit, other);
    }

    /**
     * Every module with its dotted path, root first under "". The list's iterator is stepped
     * exactly {@code size()} times: its {@code equals} end test is unsafe in these bindings.
     */
    public static Map<String, JitModule> namedModules(JitModule root) {
        Map<String, JitModule> out = new LinkedHashMap<>();
        named_module_list list = root.named_modules();
        long n = list.size();
        named_module_iterator it = list.begin();
        for (long i = 0; i < n; i++) {
            NamedJitModule item = it.access();
            String name = item.name() == null ? "" : item.name().getString();
            out.put(name, new JitModule(item.value()));
            it.increment();
        }
        return out;
    }

    /** The methods compiled for the module's class ({@code forward} and whatever it calls). */
    static List<String> methodNames(JitModule module) {
        List<String> out = new ArrayList<>();
        FunctionVector methods = module.type().methods();
        long n = methods.size();
        for (long i = 0; i < n; i++) {
            out.add(methods.get(i).name().getString());
        }
        return out;
    }

    /** The class name without libtorch's {@code __torch__.} prefix and {@code ___torch_mangle_N.} parts. */
    public static String typeName(JitModule module) {
        return unmangle(module.type().str().getString());
    }

    /** Strips {@code ___torch_mangle_N.} parts and the {@code __torch__.} prefix. */
    public static String unmangle(String qualified) {
        Checks.notNull("qualified", qualified);
        String s = MANGLE.matcher(qualified).replaceAll("");
        return s.startsWith("__torch__.") ? s.substring("__torch__.".length()) : s;
    }

    /**
     * Walks a block's nodes and their sub-blocks ({@code prim::If}, {@code prim::Loop}). The node
     * list is circular around the block's return node, so the walk stops there rather than trusting
     * the iterator's end test.
     */
    private static void collect(Block block, String path, String method, String via, Set<String> onStack,
            List<DropoutNode> out) {
        JitNode end = block.return_node();
        for (JitNode n = block.nodes().front(); n != null && !n.isNull()
                && n.address() != end.address(); n = n.next()) {
            String kind = n.kind().toQualString().getString();
            if (DROPOUT_KINDS.contains(kind)) {
                out.add(new DropoutNode(kind, path, method, via));
            } else if (kind.equals("prim::CallFunction")) {
                followCall(n, path, method, via, onStack, out);
            }
            BlockArrayRef subs = n.blocks();
            long k = subs.size();
            for (long i = 0; i < k; i++) {
                collect(subs.at(i), path, method, via, onStack, out);
            }
        }
    }

    /**
     * Walks the graph of a {@code prim::CallFunction}'s callee (its first input has a
     * {@code FunctionType}); libtorch keeps free functions out of line in scripted modules.
     */
    private static void followCall(JitNode call, String path, String method, String via, Set<String> onStack,
            List<DropoutNode> out) {
        Type.TypePtr type = call.input(0).type();
        if (type.get().kind().intern() != TypeKind.FunctionType) {
            return;
        }
        Function fn = new FunctionType(type.get()).function();
        if (fn == null || fn.isNull() || !fn.isGraphFunction()) {
            return;
        }
        String name = fn.qualname().qualifiedName().getString();
        if (!onStack.add(name)) {
            return; // recursion is not scriptable, but stay safe
        }
        String inner = unmangle(name);
        collect(torch.toGraphFunction(fn).graph().block(), path, method, via.isEmpty() ? inner : via + " -> " + inner,
                onStack, out);
        onStack.remove(name);
    }
}
