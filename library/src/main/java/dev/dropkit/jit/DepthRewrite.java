package dev.dropkit.jit;

import dev.dropkit.depth.DepthMethod;
import dev.dropkit.depth.DepthScaling;
import dev.dropkit.depth.StochasticDepthOptions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Block;
import org.bytedeco.pytorch.BoolType;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.ValueVector;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Symbol;
import org.bytedeco.pytorch.Value;
import org.bytedeco.pytorch.global.torch.TypeKind;

/**
 * Residual blocks -> stochastic depth at the graph level. In each matched block class's
 * {@code forward}, the residual addition is the last top-level {@code aten::add}/{@code aten::add_} of
 * two tensors that both depend on the block's input; of its operands, the branch is the one computed
 * by more nodes (the shortcut is the input itself or a short projection). The addition becomes
 * {@code self.dropkit_depth_N(branch, shortcut)}, whose TorchScript code drops the branch per sample or
 * per block with the block's own rate (an attribute: rates follow the distribution over block order).
 * Models holding {@code torchvision.ops.StochasticDepth} modules already have it: those are retuned.
 */
final class DepthRewrite {
    static final String TORCHVISION_SD = "torchvision.ops.stochastic_depth.StochasticDepth";

    private DepthRewrite() {}

    /** Where a block's residual addition is, or why it was not found. */
    record Residual(JitNode add, Value branch, Value shortcut, String reason, String addKind) {
        Residual(JitNode add, Value branch, Value shortcut, String reason) {
            this(add, branch, shortcut, reason, add == null ? null : JitGraphs.kind(add));
        }
    }

    @SuppressWarnings("deprecation") // names SAMPLE_FAST to say it runs as SAMPLE
    static JitRewriteReport apply(JitModule root, StochasticDepthOptions options, Pattern blocks, long warmupSteps) {
        Map<String, List<JitGraphs.Instance>> byType = JitGraphs.instancesByType(root);
        List<JitGraphs.Instance> tvsd = new ArrayList<>();
        for (List<JitGraphs.Instance> group : byType.values()) {
            if (JitInspector.typeName(group.get(0).module()).equals(TORCHVISION_SD)) {
                tvsd.addAll(group);
            }
        }
        if (!tvsd.isEmpty()) {
            return retune(root, tvsd, options, warmupSteps);
        }
        String settings = settings(options, blocks, warmupSteps);
        List<JitRewriteReport.Skip> skipped = new ArrayList<>();
        Map<String, Residual> rewritable = new LinkedHashMap<>();
        Set<String> matchedTypes = new HashSet<>();
        for (Map.Entry<String, List<JitGraphs.Instance>> e : byType.entrySet()) {
            JitModule rep = e.getValue().get(0).module();
            String type = JitInspector.typeName(rep);
            if (!blocks.matcher(type).matches()) {
                continue;
            }
            matchedTypes.add(type);
            if (rep.find_method(JitGraphs.PREFIX + "depth").has_value()) {
                for (JitGraphs.Instance i : e.getValue()) {
                    skipped.add(new JitRewriteReport.Skip(i.path(), type, "already has dropkit stochastic depth"));
                }
                continue;
            }
            Residual r = findResidual(rep.get_method("forward").graph());
            if (r.reason() != null) {
                for (JitGraphs.Instance i : e.getValue()) {
                    skipped.add(new JitRewriteReport.Skip(i.path(), type, r.reason()));
                }
                continue;
            }
            rewritable.put(e.getKey(), r);
        }
        // block order: the order of the module tree (named_modules is pre-order), over rewritable blocks only
        List<JitGraphs.Instance> order = new ArrayList<>();
        Map<String, String> typeOfPath = new HashMap<>();
        for (Map.Entry<String, JitModule> e : JitInspector.namedModules(root).entrySet()) {
            String key = e.getValue().type().str().getString();
            if (rewritable.containsKey(key)) {
                order.add(new JitGraphs.Instance(e.getKey(), e.getValue()));
                typeOfPath.put(e.getKey(), key);
            }
        }
        if (order.isEmpty()) {
            throw new JitRewriteException("no residual block to rewrite: looked for modules whose type matches /"
                    + blocks.pattern() + "/ (" + (matchedTypes.isEmpty() ? "none found" : "found " + matchedTypes
                    + " but " + skipped.get(0).reason()) + ") and for torchvision.ops.StochasticDepth modules (none)");
        }
        String fn = JitGraphs.PREFIX + "depth";
        int count = order.size();
        for (int i = 0; i < count; i++) {
            JitModule m = order.get(i).module();
            JitGraphs.floatAttribute(m, fn + "_rate", options.rateOfBlock(i, count));
            JitGraphs.floatAttribute(m, fn + "_current", 0.0);
            JitGraphs.boolAttribute(m, fn + "_sample", options.method() != DepthMethod.BLOCK);
            JitGraphs.boolAttribute(m, fn + "_inverted", options.scaling() == DepthScaling.INVERTED);
            JitGraphs.intAttribute(m, fn + "_warmup_steps", warmupSteps);
            JitGraphs.intAttribute(m, fn + "_step", 0);
        }
        Map<String, Boolean> skipsBranch = new HashMap<>();
        for (Map.Entry<String, Residual> e : rewritable.entrySet()) {
            JitModule rep = byType.get(e.getKey()).get(0).module();
            rep.define(SOURCE.replace("NAME", fn));
            Residual r = e.getValue();
            Graph graph = rep.get_method("forward").graph();
            boolean skips = options.method() == DepthMethod.BLOCK && skipBranchWhenDropped(graph, r, fn);
            if (!skips) {
                JitGraphs.replaceWithMethodCall(graph, r.add(), fn, JitGraphs.self(graph), r.branch(), r.shortcut());
            }
            graph.lint();
            skipsBranch.put(e.getKey(), skips);
        }
        List<JitRewriteReport.Change> changes = new ArrayList<>();
        boolean allSkip = true;
        for (int i = 0; i < count; i++) {
            JitGraphs.Instance inst = order.get(i);
            String key = typeOfPath.get(inst.path());
            boolean skips = skipsBranch.get(key);
            allSkip &= skips;
            changes.add(new JitRewriteReport.Change(inst.path(), JitInspector.typeName(inst.module()), "forward",
                    rewritable.get(key).addKind(), (skips
                            ? "if self." + fn + "_skip(): self." + fn + "_dropped(shortcut) else: <branch>; self." + fn
                                    + "_kept(branch, shortcut)"
                            : "self." + fn + "(branch, shortcut)")
                            + ": block " + (i + 1) + " of " + count + ", rate " + options.rateOfBlock(i, count)));
        }
        List<String> notes = new ArrayList<>();
        notes.add(options.method() != DepthMethod.BLOCK
                ? "sample-wise: each sample keeps its branch with probability 1 - rate"
                : allSkip ? "block-wise: the whole batch keeps or drops the branch; the branch's nodes were moved into"
                        + " a prim::If, so a dropped branch is not computed at all"
                : "block-wise: the whole batch keeps or drops the branch; where the branch's nodes are also used"
                        + " elsewhere they could not be moved into a prim::If, and there the branch is computed and"
                        + " multiplied away");
        if (options.method() == DepthMethod.SAMPLE_FAST) {
            notes.add("sample_fast runs as sample: computing the branch for kept samples only needs the branch as its"
                    + " own module, which a graph rewrite does not have");
        }
        notes.add("scaling " + options.scaling().id() + ": " + options.scaling().summary());
        return new JitRewriteReport("stochastic-depth", settings, changes, skipped, notes);
    }

    private static String settings(StochasticDepthOptions o, Pattern blocks, long warmupSteps) {
        return "rate=" + o.dropRate() + ", distribution=" + o.distribution().id() + ", method=" + o.method().id()
                + ", scaling=" + o.scaling().id() + ", blocks=" + blocks.pattern()
                + (warmupSteps > 0 ? ", warmup-steps=" + warmupSteps : "");
    }

    /** Sets rate (by the distribution over their order) and mode on torchvision's own modules. */
    private static JitRewriteReport retune(JitModule root, List<JitGraphs.Instance> sd, StochasticDepthOptions o,
            long warmupSteps) {
        if (warmupSteps > 0) {
            throw new IllegalArgumentException("warm-up is not available when retuning torchvision.ops.StochasticDepth"
                    + " modules (their code has no step counter); got warmup-steps=" + warmupSteps);
        }
        List<JitGraphs.Instance> order = new ArrayList<>();
        Set<String> paths = new HashSet<>();
        sd.forEach(i -> paths.add(i.path()));
        for (Map.Entry<String, JitModule> e : JitInspector.namedModules(root).entrySet()) {
            if (paths.contains(e.getKey())) {
                order.add(new JitGraphs.Instance(e.getKey(), e.getValue()));
            }
        }
        String mode = o.method() == DepthMethod.BLOCK ? "batch" : "row";
        List<JitRewriteReport.Change> changes = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            JitModule m = order.get(i).module();
            if (!m.hasattr("p") || !m.hasattr("mode")) {
                throw new JitRewriteException(order.get(i).displayPath() + " is a " + TORCHVISION_SD
                        + " without the attributes p and mode; cannot retune it");
            }
            double before = m.attr("p").toDouble();
            String modeBefore = m.attr("mode").toStringRef().getString();
            double rate = o.rateOfBlock(i, order.size());
            m.setattr("p", new IValue(rate));
            m.setattr("mode", new IValue(mode));
            changes.add(new JitRewriteReport.Change(order.get(i).path(), TORCHVISION_SD, "forward", "attributes p, mode",
                    "p " + before + " -> " + rate + ", mode " + modeBefore + " -> " + mode));
        }
        List<String> notes = List.of("the model already holds torchvision.ops.StochasticDepth modules: retuned their p"
                + " and mode instead of wrapping blocks; torchvision scales kept branches by 1/(1-p) in training"
                + " (inverted), whatever the scaling option says");
        return new JitRewriteReport("stochastic-depth", "rate=" + o.dropRate() + ", distribution="
                + o.distribution().id() + ", method=" + o.method().id() + " (retune " + TORCHVISION_SD + ")",
                changes, List.of(), notes);
    }

    /** Finds the residual addition of a block's forward graph. */
    static Residual findResidual(Graph graph) {
        if (graph.inputs().size() < 2) {
            return new Residual(null, null, null, "forward takes no input");
        }
        Value x = graph.inputs().at(1);
        List<JitNode> top = JitGraphs.nodes(graph.block());
        Set<Long> tainted = new HashSet<>();
        tainted.add(x.address());
        JitNode add = null;
        for (JitNode n : top) {
            boolean t = false;
            for (JitNode inner : withSubNodes(n)) {
                for (long i = 0, k = inner.inputs().size(); i < k && !t; i++) {
                    t = tainted.contains(inner.input(i).address());
                }
            }
            if (t) {
                for (long i = 0, k = n.outputs().size(); i < k; i++) {
                    tainted.add(n.outputs().at(i).address());
                }
            }
            String kind = JitGraphs.kind(n);
            if ((kind.equals("aten::add") || kind.equals("aten::add_")) && n.inputs().size() == 3
                    && isTensor(n.input(0)) && isTensor(n.input(1)) && JitGraphs.constantNumber(n.input(2)) == 1.0
                    && tainted.contains(n.input(0).address()) && tainted.contains(n.input(1).address())) {
                add = n;
            }
        }
        if (add == null) {
            return new Residual(null, null, null, "no residual addition in forward: no top-level aten::add/aten::add_"
                    + " (alpha 1) of two tensors that both depend on the input");
        }
        int a = cone(add.input(0), top);
        int b = cone(add.input(1), top);
        if (a == b) {
            return new Residual(null, null, null, "cannot tell the branch from the shortcut in the residual addition:"
                    + " both operands are computed by " + a + " nodes");
        }
        Value branch = a > b ? add.input(0) : add.input(1);
        Value shortcut = a > b ? add.input(1) : add.input(0);
        if (JitGraphs.kind(add).equals("aten::add_") && usedAfter(add.input(0), add, top)) {
            return new Residual(null, null, null, "the in-place residual addition's first operand is read again after"
                    + " it, which a rewritten (out-of-place) addition would change");
        }
        return new Residual(add, branch, shortcut, null);
    }

    /**
     * Block-wise: moves the branch's nodes into the "kept" block of a new {@code prim::If} on
     * {@code self.dropkit_depth_skip()}, so a dropped branch is not computed (its BatchNorm statistics
     * are not updated either, as in dropkit's Java module). Returns false, changing nothing, when a
     * node of the branch is also used outside it.
     */
    private static boolean skipBranchWhenDropped(Graph graph, Residual r, String fn) {
        List<JitNode> top = JitGraphs.nodes(graph.block());
        // the branch's cone: top-level nodes it is computed from (constants stay where they are)
        Set<Long> movable = new HashSet<>(slice(r.branch(), top).keySet());
        // keep only nodes whose every use is inside the cone or the addition itself
        Map<Long, List<Long>> users = new HashMap<>(); // value address -> addresses of top-level users
        for (JitNode n : top) {
            for (JitNode inner : withSubNodes(n)) {
                for (long i = 0, k = inner.inputs().size(); i < k; i++) {
                    users.computeIfAbsent(inner.input(i).address(), a -> new ArrayList<>()).add(n.address());
                }
            }
        }
        JitNode ret = graph.block().return_node();
        for (long i = 0, k = ret.inputs().size(); i < k; i++) {
            users.computeIfAbsent(ret.input(i).address(), a -> new ArrayList<>()).add(ret.address());
        }
        boolean changed = true;
        while (changed) {
            changed = false;
            for (JitNode n : top) {
                if (!movable.contains(n.address())) {
                    continue;
                }
                for (long i = 0, k = n.outputs().size(); i < k && movable.contains(n.address()); i++) {
                    for (long user : users.getOrDefault(n.outputs().at(i).address(), List.of())) {
                        if (user != r.add().address() && !movable.contains(user)) {
                            movable.remove(n.address());
                            changed = true;
                            break;
                        }
                    }
                }
            }
        }
        if (!movable.contains(r.branch().node().address())) {
            return false;
        }
        Value self = JitGraphs.self(graph);
        JitNode add = r.add();
        JitNode skip = JitGraphs.methodCall(graph, fn + "_skip", new Type.TypePtr(BoolType.get().get()), self);
        skip.insertBefore(add);
        JitNode ifNode = graph.create(Symbol.fromQualString("prim::If"), new ValueVector(skip.output()), 1);
        ifNode.output().setType(add.output().type());
        Block dropped = ifNode.addBlock();
        Block kept = ifNode.addBlock();
        ifNode.insertBefore(add);
        JitNode drop = JitGraphs.methodCall(graph, fn + "_dropped", add.output().type(), self, r.shortcut());
        dropped.appendNode(drop);
        dropped.registerOutput(drop.output());
        for (JitNode n : top) {
            if (movable.contains(n.address())) {
                n.moveBefore(kept.return_node());
            }
        }
        JitNode keep = JitGraphs.methodCall(graph, fn + "_kept", add.output().type(), self, r.branch(), r.shortcut());
        kept.appendNode(keep);
        kept.registerOutput(keep.output());
        add.output().replaceAllUsesWith(ifNode.output());
        add.destroy();
        return true;
    }

    private static List<JitNode> withSubNodes(JitNode n) {
        List<JitNode> out = new ArrayList<>();
        out.add(n);
        for (long i = 0, k = n.blocks().size(); i < k; i++) {
            out.addAll(JitGraphs.allNodes(n.blocks().at(i)));
        }
        return out;
    }

    private static boolean isTensor(Value v) {
        return v.type().get().kind().intern() == TypeKind.TensorType;
    }

    /** How many top-level nodes (not constants or attribute reads) compute {@code v}. */
    private static int cone(Value v, List<JitNode> top) {
        return (int) slice(v, top).values().stream().filter(n -> !JitGraphs.kind(n).equals("prim::GetAttr")).count();
    }

    /** The top-level nodes, constants aside, that {@code v} is computed from, by address. */
    private static Map<Long, JitNode> slice(Value v, List<JitNode> top) {
        Set<Long> inTop = new HashSet<>();
        top.forEach(n -> inTop.add(n.address()));
        Map<Long, JitNode> out = new LinkedHashMap<>();
        List<Value> work = new ArrayList<>(List.of(v));
        while (!work.isEmpty()) {
            JitNode def = work.remove(work.size() - 1).node();
            if (!inTop.contains(def.address()) || JitGraphs.kind(def).equals("prim::Constant")
                    || out.putIfAbsent(def.address(), def) != null) {
                continue;
            }
            for (long i = 0, k = def.inputs().size(); i < k; i++) {
                work.add(def.input(i));
            }
        }
        return out;
    }

    private static boolean usedAfter(Value v, JitNode node, List<JitNode> top) {
        boolean after = false;
        for (JitNode n : top) {
            if (n.address() == node.address()) {
                after = true;
                continue;
            }
            if (after) {
                for (JitNode inner : withSubNodes(n)) {
                    for (long i = 0, k = inner.inputs().size(); i < k; i++) {
                        if (inner.input(i).address() == v.address()) {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }

    /**
     * The per-block methods: TorchScript's copy of {@link dev.dropkit.depth.StochasticDepthOps#dropPathAdd}
     * (the graph cannot call Java), with the same kernels. {@code NAME_rate_now} applies the warm-up and counts
     * training steps. Dropped samples get exactly the shortcut, kept ones shortcut + branch (times
     * {@code 1/(1-rate)} when inverted); the result is always a new tensor, because blocks often apply an
     * in-place ReLU to it and the shortcut may be the block's input. Sample-wise: the decisions are drawn on
     * the branch's device and applied by one {@code addcmul} whose {@code value} carries the scale (no
     * division of the mask, no host synchronization); block-wise: the decision is drawn on the host
     * ({@code torch.rand([1])} is a CPU tensor), which must know it to skip the branch.
     */
    private static final String SOURCE = """
            def NAME_rate_now(self) -> float:
                rate = self.NAME_rate
                warm = self.NAME_warmup_steps
                if warm > 0:
                    step = self.NAME_step
                    if step < warm:
                        rate = rate * step / warm
                    self.NAME_step = step + 1
                return rate

            def NAME(self, branch: Tensor, shortcut: Tensor) -> Tensor:
                rate = self.NAME_rate
                if self.training:
                    rate = self.NAME_rate_now()
                    if rate <= 0.0:
                        return shortcut + branch
                    if rate >= 1.0:
                        return shortcut.clone()
                    if self.NAME_sample:
                        shape = [branch.size(0)] + [1] * (branch.dim() - 1)
                        keep = torch.empty(shape, dtype=branch.dtype, device=branch.device).bernoulli_(1.0 - rate)
                        if self.NAME_inverted:
                            return torch.addcmul(shortcut, branch, keep, value=1.0 / (1.0 - rate))
                        return torch.addcmul(shortcut, branch, keep)
                    if float(torch.rand([1])) < rate:
                        return shortcut.clone()
                    if self.NAME_inverted:
                        return shortcut + branch * (1.0 / (1.0 - rate))
                    return shortcut + branch
                if self.NAME_inverted:
                    return shortcut + branch
                return shortcut + branch * (1.0 - rate)

            def NAME_skip(self) -> bool:
                if not self.training:
                    return False
                rate = self.NAME_rate_now()
                self.NAME_current = rate
                if rate <= 0.0:
                    return False
                return float(torch.rand([1])) < rate

            def NAME_dropped(self, shortcut: Tensor) -> Tensor:
                return shortcut.clone()

            def NAME_kept(self, branch: Tensor, shortcut: Tensor) -> Tensor:
                if self.training:
                    rate = self.NAME_current
                    if self.NAME_inverted and rate > 0.0 and rate < 1.0:
                        return shortcut + branch * (1.0 / (1.0 - rate))
                    return shortcut + branch
                if self.NAME_inverted:
                    return shortcut + branch
                return shortcut + branch * (1.0 - self.NAME_rate)
            """;
}
