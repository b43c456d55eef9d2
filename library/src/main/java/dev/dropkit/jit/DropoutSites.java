package dev.dropkit.jit;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Value;

/**
 * Finds the dropout calls of a TorchScript model and replaces each by a call of a method that a
 * {@link Rewrite} writes. A call is either an {@code aten::dropout}-family node (traced models, and
 * scripted code calling {@code torch.dropout}) or a {@code prim::CallFunction} of
 * {@code torch.nn.functional.dropout} and friends (scripted {@code nn.Dropout} and {@code F.dropout}):
 * the rewrite replaces the call in the calling method, never the shared function body. Every
 * replacement has the signature {@code (self, x: Tensor, p: float, training: bool, inplace: bool)}.
 */
final class DropoutSites {
    private DropoutSites() {}

    /** What a dropout call computes, which decides the op a rewritten call falls back to. */
    enum Flavour {
        DROPOUT("torch.dropout"),
        FEATURE("torch.feature_dropout"),
        ALPHA("torch.alpha_dropout"),
        FEATURE_ALPHA("torch.feature_alpha_dropout");

        /** The TorchScript op with the original semantics: {@code op(x, p, training)}. */
        final String op;

        Flavour(String op) {
            this.op = op;
        }

        boolean alpha() {
            return this == ALPHA || this == FEATURE_ALPHA;
        }
    }

    private static final Map<String, Flavour> FUNCTIONS = Map.of(
            "torch.nn.functional.dropout", Flavour.DROPOUT,
            "torch.nn.functional.dropout1d", Flavour.FEATURE,
            "torch.nn.functional.dropout2d", Flavour.FEATURE,
            "torch.nn.functional.dropout3d", Flavour.FEATURE,
            "torch.nn.functional.alpha_dropout", Flavour.ALPHA,
            "torch.nn.functional.feature_alpha_dropout", Flavour.FEATURE_ALPHA);

    private static Flavour ofKind(String kind) {
        String base = kind.endsWith("_") ? kind.substring(0, kind.length() - 1) : kind;
        return switch (base) {
            case "aten::dropout" -> Flavour.DROPOUT;
            case "aten::feature_dropout" -> Flavour.FEATURE;
            case "aten::alpha_dropout" -> Flavour.ALPHA;
            case "aten::feature_alpha_dropout" -> Flavour.FEATURE_ALPHA;
            default -> null;
        };
    }

    /** One dropout call in one method graph of one class. */
    record Site(String method, Graph graph, JitNode node, String what, Flavour flavour, Value x, Value p,
            Value training, Value inplace, boolean inplaceKind) {
        /** The site's drop probability when it is a constant in the graph, else NaN. */
        double constantP() {
            return JitGraphs.constantNumber(p);
        }
    }

    /** The rewrite-specific part: which sites it takes, the method it writes, the state it gives. */
    interface Rewrite {
        /** Method names start with this; a number is appended. */
        String prefix();

        /** Null to rewrite the site, or why not. */
        String skipReason(Site site);

        /**
         * Registers the attributes {@code method}'s code reads on one instance; {@code selected} is false
         * for instances of the class that the module filter left out (they must keep the original behaviour).
         */
        void attributes(JitModule instance, String method, Site site, boolean selected);

        /** The TorchScript source of {@code method} (and of any helper methods it calls). */
        String source(String method, Site site);

        /** What the report says the site now does. */
        String detail(String method, Site site);
    }

    /** The dropout calls in {@code graph}, sub-blocks included. */
    static List<Site> find(String method, Graph graph) {
        List<Site> out = new ArrayList<>();
        for (JitNode n : JitGraphs.allNodes(graph.block())) {
            String kind = JitGraphs.kind(n);
            Flavour f = ofKind(kind);
            if (f != null && n.inputs().size() == 3) {
                out.add(new Site(method, graph, n, kind, f, n.input(0), n.input(1), n.input(2), null, kind.endsWith("_")));
            } else if (kind.equals("prim::CallFunction") && n.inputs().size() == 5) {
                String fn = JitGraphs.calledFunction(n);
                Flavour ff = fn == null ? null : FUNCTIONS.get(fn);
                if (ff != null) {
                    out.add(new Site(method, graph, n, fn, ff, n.input(1), n.input(2), n.input(3), n.input(4), false));
                }
            }
        }
        return out;
    }

    /**
     * Applies {@code rewrite} to every dropout call of {@code root} whose module path matches
     * {@code modules} (null: all). Instances of one class share their graphs, so a class is rewritten
     * when any of its instances is selected and the others keep the original behaviour through their
     * attributes.
     *
     * @throws JitRewriteException when nothing was rewritten
     */
    static JitRewriteReport apply(JitModule root, Pattern modules, Rewrite rewrite, String name, String settings,
            List<String> notes) {
        List<JitRewriteReport.Change> changes = new ArrayList<>();
        List<JitRewriteReport.Skip> skipped = new ArrayList<>();
        int found = 0;
        for (List<JitGraphs.Instance> group : JitGraphs.instancesByType(root).values()) {
            List<JitGraphs.Instance> selected = group.stream()
                    .filter(i -> modules == null || modules.matcher(i.path()).matches()).toList();
            if (selected.isEmpty()) {
                continue;
            }
            JitModule rep = group.get(0).module();
            String type = JitInspector.typeName(rep);
            for (String method : JitInspector.methodNames(rep)) {
                if (method.startsWith(JitGraphs.PREFIX)) {
                    continue;
                }
                Graph graph = rep.get_method(method).graph();
                List<Site> sites = find(method, graph);
                for (Site site : sites) {
                    found++;
                    String reason = rewrite.skipReason(site);
                    if (reason != null) {
                        for (JitGraphs.Instance i : selected) {
                            skipped.add(new JitRewriteReport.Skip(i.path(), type, site.what() + " in " + method + ": " + reason));
                        }
                        continue;
                    }
                    String fn = JitGraphs.freeMethodName(rep, rewrite.prefix());
                    for (JitGraphs.Instance i : group) {
                        rewrite.attributes(i.module(), fn, site, selected.contains(i));
                    }
                    rep.define(rewrite.source(fn, site));
                    JitNode node = site.node();
                    boolean frozenMode = JitGraphs.isConstant(site.training());
                    Value training = frozenMode ? JitGraphs.insertTraining(graph, node) : site.training();
                    Value inplace = site.inplace() != null ? site.inplace()
                            : JitGraphs.insertConstant(graph, node, new IValue(site.inplaceKind()));
                    JitGraphs.replaceWithMethodCall(graph, node, fn, JitGraphs.self(graph), site.x(), site.p(),
                            training, inplace);
                    String detail = rewrite.detail(fn, site)
                            + (frozenMode ? "; follows the module's training flag"
                                    + " (the original's was frozen to a constant, as tracing does)" : "");
                    for (JitGraphs.Instance i : selected) {
                        changes.add(new JitRewriteReport.Change(i.path(), type, method, site.what(), detail));
                    }
                }
                if (!sites.isEmpty()) {
                    graph.lint();
                }
            }
        }
        if (changes.isEmpty()) {
            List<String> earlier = JitInspector.inspect(root).dropkitMethods().stream()
                    .map(m -> (m.path().isEmpty() ? "(root)" : m.path()) + "." + m.type()).toList();
            throw new JitRewriteException("no dropout to rewrite"
                    + (earlier.isEmpty() ? "" : " (the model already carries dropkit rewrites, which replaced its"
                            + " dropout calls: " + String.join(", ", earlier.subList(0, Math.min(4, earlier.size())))
                            + (earlier.size() > 4 ? ", ..." : "") + ")") + (modules == null ? "" : " in modules matching /"
                    + modules.pattern() + "/") + ": looked for aten::dropout, aten::feature_dropout, aten::alpha_dropout"
                    + " (and their in-place forms) and calls of torch.nn.functional.dropout/dropout1d/2d/3d/alpha_dropout/"
                    + "feature_alpha_dropout in every method of every module; found " + found
                    + (skipped.isEmpty() ? "" : ", all skipped (" + skipped.get(0).reason() + ")"));
        }
        return new JitRewriteReport(name, settings, changes, skipped, notes);
    }
}
