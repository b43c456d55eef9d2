package dev.dropkit.jit;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Block;
import org.bytedeco.pytorch.BlockArrayRef;
import org.bytedeco.pytorch.BoolType;
import org.bytedeco.pytorch.FloatType;
import org.bytedeco.pytorch.Function;
import org.bytedeco.pytorch.FunctionType;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IntType;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Symbol;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.Value;
import org.bytedeco.pytorch.ValueVector;
import org.bytedeco.pytorch.global.torch.JitAttributeKind;
import org.bytedeco.pytorch.global.torch.TypeKind;

/**
 * The graph-editing primitives every TorchScript rewrite shares. A rewrite adds a TorchScript method
 * to a module's class ({@code define}), gives every instance of the class its state as attributes,
 * and replaces one node of a method graph by a {@code prim::CallMethod} of the new method: the
 * archive then prints that call as ordinary TorchScript, which PyTorch loads and trains like any other.
 */
final class JitGraphs {
    /** Prefix of every method and attribute dropkit adds; rewrites skip methods carrying it. */
    static final String PREFIX = "dropkit_";

    private static final Symbol CALL_METHOD = Symbol.fromQualString("prim::CallMethod");
    private static final Symbol NAME = Symbol.attr("name");
    private static final Symbol VALUE = Symbol.attr("value");

    private JitGraphs() {}

    /** The nodes of {@code block} in order, without descending into sub-blocks. */
    static List<JitNode> nodes(Block block) {
        List<JitNode> out = new ArrayList<>();
        JitNode end = block.return_node();
        for (JitNode n = block.nodes().front(); n != null && !n.isNull() && n.address() != end.address(); n = n.next()) {
            out.add(n);
        }
        return out;
    }

    /** The nodes of {@code block} and, depth first, of every sub-block ({@code prim::If}, {@code prim::Loop}). */
    static List<JitNode> allNodes(Block block) {
        List<JitNode> out = new ArrayList<>();
        for (JitNode n : nodes(block)) {
            out.add(n);
            BlockArrayRef subs = n.blocks();
            for (long i = 0, k = subs.size(); i < k; i++) {
                out.addAll(allNodes(subs.at(i)));
            }
        }
        return out;
    }

    static String kind(JitNode node) {
        return node.kind().toQualString().getString();
    }

    /**
     * The unmangled qualified name of the function a {@code prim::CallFunction} calls
     * ({@code torch.nn.functional.dropout}), or null when the callee is not a known function.
     */
    static String calledFunction(JitNode call) {
        if (call.inputs().size() == 0) {
            return null;
        }
        Type.TypePtr type = call.input(0).type();
        if (type.get().kind().intern() != TypeKind.FunctionType) {
            return null;
        }
        Function fn = new FunctionType(type.get()).function();
        if (fn == null || fn.isNull()) {
            return null;
        }
        return JitInspector.unmangle(fn.qualname().qualifiedName().getString());
    }

    /** A method graph's {@code self}. */
    static Value self(Graph graph) {
        return graph.inputs().at(0);
    }

    /**
     * The value of a numeric {@code prim::Constant} ({@code int} or {@code float}), or NaN when {@code v}
     * is computed, or a constant of another kind.
     */
    static double constantNumber(Value v) {
        JitNode def = v.node();
        if (!isConstant(v) || !def.hasAttributeS("value")) {
            return Double.NaN;
        }
        JitAttributeKind k = def.kindOf(VALUE).intern();
        return k == JitAttributeKind.i ? def.i(VALUE) : k == JitAttributeKind.f ? def.f(VALUE) : Double.NaN;
    }

    /** True when {@code v} is produced by a {@code prim::Constant} (a traced model's frozen flags, say). */
    static boolean isConstant(Value v) {
        return kind(v.node()).equals("prim::Constant");
    }

    /**
     * A new, not yet inserted {@code prim::CallMethod} node calling {@code method} on {@code args[0]}
     * (the graph's {@code self}) with the other arguments, its one output typed {@code type}.
     */
    static JitNode methodCall(Graph graph, String method, Type.TypePtr type, Value... args) {
        JitNode call = graph.create(CALL_METHOD, new ValueVector(args), 1);
        call.s_(NAME, new BytePointer(method));
        call.output().setType(type);
        return call;
    }

    /**
     * Inserts {@code self.method(args...)} just before {@code node}, sends every use of the node's
     * output to the call's result and removes the node. Returns the call node.
     */
    static JitNode replaceWithMethodCall(Graph graph, JitNode node, String method, Value... args) {
        JitNode call = methodCall(graph, method, node.output().type(), args);
        call.insertBefore(node);
        node.output().replaceAllUsesWith(call.output());
        node.destroy();
        return call;
    }

    /** Inserts {@code self.training} just before {@code node} and returns it. */
    static Value insertTraining(Graph graph, JitNode node) {
        graph.setInsertPoint(node);
        return graph.insertGetAttr(self(graph), "training");
    }

    /** Inserts a constant just before {@code node}. */
    static Value insertConstant(Graph graph, JitNode node, IValue value) {
        graph.setInsertPoint(node);
        return graph.insertConstant(value);
    }

    /**
     * The modules of {@code root} grouped by class: instances of one scripted class share its methods,
     * so a rewrite edits each class's graphs once and gives state to every instance. Keys are the
     * qualified (mangled, so unique) class names, in the order the classes first appear.
     */
    static Map<String, List<Instance>> instancesByType(JitModule root) {
        Map<String, List<Instance>> out = new LinkedHashMap<>();
        for (Map.Entry<String, JitModule> e : JitInspector.namedModules(root).entrySet()) {
            String type = e.getValue().type().str().getString();
            out.computeIfAbsent(type, t -> new ArrayList<>()).add(new Instance(e.getKey(), e.getValue()));
        }
        return out;
    }

    /** One module of the tree with its dotted path ("" for the root). */
    record Instance(String path, JitModule module) {
        String displayPath() {
            return path.isEmpty() ? "(root)" : path;
        }
    }

    /** Adds a float attribute (a hyperparameter PyTorch users can read and retune). */
    static void floatAttribute(JitModule m, String name, double value) {
        m.register_attribute(name, new Type.TypePtr(FloatType.getFloatTypePtr().get()), new IValue(value), false, false);
    }

    /** Adds an int attribute (a counter TorchScript code updates without a device sync). */
    static void intAttribute(JitModule m, String name, long value) {
        m.register_attribute(name, new Type.TypePtr(IntType.getIntTypePtr().get()), new IValue(value), false, false);
    }

    /** Adds a bool attribute. */
    static void boolAttribute(JitModule m, String name, boolean value) {
        m.register_attribute(name, new Type.TypePtr(BoolType.get().get()), new IValue(value), false, false);
    }

    /** The first {@code prefix + k} (k = 0, 1, ...) that names no method of {@code m}'s class. */
    static String freeMethodName(JitModule m, String prefix) {
        for (int k = 0;; k++) {
            String name = prefix + k;
            if (!m.find_method(name).has_value() && !m.hasattr(name)) {
                return name;
            }
        }
    }
}
