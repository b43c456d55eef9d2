package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Tensors;
import dev.dropkit.schedule.Schedule;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * DropGrad configured for one model: which parameters get which drop rate (or none), how the rates
 * change over training, and whether single elements or whole updates are dropped. It is applied in
 * one of two ways, which share {@link DropGradOps}:
 *
 * <ul>
 *   <li>{@link #attach()}: gradient hooks, the primary form. Each gradient is dropped as autograd
 *       produces it. Hooks see every backward pass on its own, so with gradient accumulation every
 *       micro-batch is masked independently.
 *   <li>{@link #apply()} and {@link #wrap(Optimizer)}: the original DropGrad's form. The gradients
 *       accumulated since the last {@code zero_grad()} are dropped once, just before the optimizer step.
 * </ul>
 *
 * <pre>{@code
 * DropGrad dropGrad = DropGrad.builder()
 *         .rate("*.weight", 0.1).rate("*.bias", 0.01)    // the original's example; others untouched
 *         .build(net);
 * try (DropGradHooks hooks = dropGrad.attach()) { ... train ... }
 * }</pre>
 *
 * <p><b>Randomness.</b> Masks come from libtorch's default generator on each parameter's device, so
 * {@link dev.dropkit.core.Seeds#seed(long)} fixes them. Both forms draw the same way, once per round
 * (one backward pass for hooks, one {@link #apply()} for the wrapper): one 64-bit key from the CPU
 * generator if any CPU parameter has a nonzero rate, from which every CPU parameter's mask is hashed
 * (see {@link DropGradOps}: the drop probability is the rate rounded to a multiple of 2^-16), and one mask
 * per parameter with a nonzero rate on another device (CUDA), in parameter order, whether or not that
 * parameter received a gradient. Autograd's order of gradients therefore does not matter, and hooks and
 * wrapper produce bit-identical gradients for the same seed and a single backward pass. A hooks round
 * ends when a parameter's gradient arrives a second time or {@link #update} is called. A round draws
 * every CUDA parameter's mask when it opens and holds each until its gradient arrives, so during backward
 * hooks hold up to the size of all CUDA parameters in masks (CPU masks are computed as gradients arrive).
 *
 * <p>On the CPU a hook drops the gradient in place when nothing but autograd can read it (the usual case:
 * a layer's weight or bias gradient), so no new tensor is made and libtorch does not copy one into
 * {@code .grad}; where autograd hands the same memory to another parameter too, the hook returns a new
 * tensor and leaves the shared one alone.
 *
 * <p>Rate zero is the identity, bit for bit, and costs no random draw and no tensor work.
 */
public final class DropGrad {
    private final List<String> names;
    private final List<Tensor> params;
    private final Schedule[] schedules;
    private final DropGradMode mode;
    private final Object lock = new Object();
    private volatile double[] rates;
    // The open hooks round: its CPU key, masks drawn for it off the CPU, its rates, which parameters are on
    // the CPU and which have used their masks.
    private long roundKey;
    private boolean[] roundCpu;
    private Tensor[] roundMasks;
    private double[] roundRates;
    private boolean[] roundUsed;

    private DropGrad(List<String> names, List<Tensor> params, List<Schedule> schedules, DropGradMode mode) {
        this.names = List.copyOf(names);
        // Own copies: a tensor read from a native container is a view that dies with the container, and one
        // made under the caller's PointerScope dies with the scope, while DropGrad and its hooks live on.
        // The copies share the parameters' storage; the garbage collector frees them with DropGrad.
        this.params = params.stream().map(p -> {
            Tensor own = new Tensor(p);
            own.retainReference();
            return own;
        }).toList();
        this.schedules = schedules.toArray(new Schedule[0]);
        this.mode = mode;
        this.rates = evaluate(0, 0, 0.0);
    }

    /** Starts configuring DropGrad. */
    public static Builder builder() {
        return new Builder();
    }

    /** The names of the parameters DropGrad acts on (those with a rate), in model order. */
    public List<String> parameterNames() {
        return names;
    }

    /** The parameters DropGrad acts on, in the order of {@link #parameterNames()}. */
    public List<Tensor> parameters() {
        return params;
    }

    /** Elements or whole updates. */
    public DropGradMode mode() {
        return mode;
    }

    /** The current drop rate of each parameter DropGrad acts on, by name, in model order. */
    public Map<String, Double> rates() {
        double[] r = rates;
        Map<String, Double> out = new LinkedHashMap<>();
        for (int i = 0; i < r.length; i++) {
            out.put(names.get(i), r[i]);
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * The current drop rate of {@code name}.
     *
     * @throws IllegalArgumentException if DropGrad does not act on a parameter of that name
     */
    public double rate(String name) {
        int i = names.indexOf(Checks.notNull("name", name));
        if (i < 0) {
            throw new IllegalArgumentException("DropGrad has no rate for parameter '" + name + "'; it acts on "
                    + listOf(names));
        }
        return rates[i];
    }

    /**
     * Sets every parameter's rate from its schedule at this point of training, and ends the open hooks
     * round. The training callback calls it before each step; a hand-written loop calls it itself when
     * its rates are scheduled (constant rates never need it).
     *
     * @throws IllegalArgumentException for a negative step or epoch, a progress outside [0, 1], or a
     *     schedule value outside [0, 1) (naming the parameter and the step)
     */
    public void update(long step, int epoch, double progress) {
        Schedule.checkPoint(step, epoch, progress);
        double[] next = evaluate(step, epoch, progress);
        synchronized (lock) {
            rates = next;
            endRound();
        }
    }

    /**
     * Registers a gradient hook on every parameter DropGrad acts on. Close the returned handle to remove
     * them all (until then the hooks, and the parameters they hold, stay alive).
     *
     * @throws IllegalArgumentException in {@link DropGradMode#FULL_UPDATE} mode, which needs the optimizer
     *     wrapper or the masking callback: a hook cannot leave a gradient undefined
     */
    public DropGradHooks attach() {
        if (mode == DropGradMode.FULL_UPDATE) {
            throw new IllegalArgumentException("DropGrad mode full-update cannot run in gradient hooks (a hook cannot"
                    + " leave a gradient undefined); use wrap(optimizer) or DropGradCallback.masking(...)");
        }
        return new DropGradHooks(this, names, params);
    }

    /**
     * Drops the gradients accumulated in every parameter's {@code .grad}, in place: elements, or whole
     * updates (the gradient is reset to undefined) in {@link DropGradMode#FULL_UPDATE} mode. Call it after
     * the last backward pass and before the optimizer step. Temporaries are freed before it returns.
     */
    public void apply() {
        double[] r = rates;
        if (allZero(r)) {
            return;
        }
        NativeMemory.run(() -> {
            if (mode == DropGradMode.FULL_UPDATE) {
                dropWholeUpdates(r);
            } else {
                boolean[] cpu = onCpu(r);
                long roundKey = cpuKey(cpu);
                for (int i = 0; i < r.length; i++) {
                    if (r[i] == 0.0) {
                        continue;
                    }
                    Tensor grad = params.get(i).grad();
                    if (cpu[i]) {
                        if (grad.defined()) {
                            DropGradOps.dropInPlace(checkDense(i, grad), r[i], CpuMasks.subKey(roundKey, i));
                        }
                    } else {
                        Tensor keep = DropGradOps.keepMask(params.get(i), r[i]); // drawn even without a gradient
                        if (grad.defined()) {
                            DropGradOps.applyMaskInPlace(checkDense(i, grad), keep, r[i]);
                        }
                    }
                }
            }
        });
    }

    /** Wraps {@code optimizer} so that its {@code step()} applies DropGrad first; see {@link DropGradOptimizer}. */
    public DropGradOptimizer wrap(Optimizer optimizer) {
        return new DropGradOptimizer(optimizer, this);
    }

    /**
     * Checks that every parameter DropGrad acts on is optimized by {@code optimizer}.
     *
     * @throws IllegalArgumentException naming the first parameter that is not
     */
    void checkTrainedBy(Optimizer optimizer, String what) {
        TensorVector trained = optimizedParameters(optimizer);
        Set<Long> impls = new HashSet<>();
        for (long i = 0; i < trained.size(); i++) {
            impls.add(trained.get(i).unsafeGetTensorImpl().address());
        }
        for (int i = 0; i < params.size(); i++) {
            if (!impls.contains(params.get(i).unsafeGetTensorImpl().address())) {
                throw new IllegalArgumentException("parameter '" + names.get(i) + "' has a drop rate but is not"
                        + " optimized by " + what);
            }
        }
    }

    /**
     * An optimizer's parameters, group by group. {@code Optimizer.parameters()} would do, but libtorch
     * prints a deprecation warning on every call.
     */
    static TensorVector optimizedParameters(Optimizer optimizer) {
        TensorVector out = new TensorVector();
        var groups = optimizer.param_groups();
        for (long g = 0; g < groups.size(); g++) {
            TensorVector params = groups.get(g).params();
            for (long i = 0; i < params.size(); i++) {
                out.push_back(params.get(i));
            }
        }
        return out;
    }

    /** Whether parameter {@code index}'s current rate is zero (its hook then leaves the gradient alone). */
    boolean rateIsZero(int index) {
        return rates[index] == 0.0;
    }

    /**
     * The hooks' work for parameter {@code index}: the dropped gradient as a new tensor, or null to leave
     * the gradient as it is (rate zero, or dropped in place because nobody else can read it; see
     * {@link GradientOwnership}).
     */
    Tensor hookGradient(int index, TensorBase grad) {
        if (rates[index] == 0.0) {
            return null;
        }
        Tensor keep;
        double rate;
        boolean cpu;
        long key;
        synchronized (lock) {
            if (roundRates == null || roundUsed[index] || roundRates[index] == 0.0) {
                startRound();
            }
            keep = roundMasks[index];
            rate = roundRates[index];
            cpu = roundCpu[index];
            key = CpuMasks.subKey(roundKey, index);
            roundMasks[index] = null;
            roundUsed[index] = true;
        }
        if (rate == 0.0) { // the rate became zero between the check and the round
            return null;
        }
        if (grad.is_sparse()) {
            throw sparse(index);
        }
        // Nobody else reads it: dropped in place, no new tensor, no copy into .grad. Decided before any Java
        // copy of the tensor, which would count as one more holder.
        if (cpu && grad.has_storage() && CpuMasks.direct(grad) && GradientOwnership.exclusive(grad)) {
            CpuMasks.drop(grad, grad, rate, key);
            return null;
        }
        Tensor g = new Tensor(grad);
        if (cpu) {
            return DropGradOps.drop(g, rate, key);
        }
        try {
            return DropGradOps.applyMask(g, keep, rate);
        } finally {
            keep.releaseReference();
        }
    }

    /**
     * Which parameters with a nonzero rate the CPU hash masks (on the CPU, rate at most
     * {@link CpuMasks#MAX_HASHED_RATE}): their masks come from one key per round; the others draw a mask.
     */
    private boolean[] onCpu(double[] r) {
        boolean[] cpu = new boolean[r.length];
        try (PointerScope ignored = new PointerScope()) {
            for (int i = 0; i < r.length; i++) {
                cpu[i] = r[i] != 0.0 && DropGradOps.hashed(params.get(i), r[i]);
            }
        }
        return cpu;
    }

    /**
     * A round's one key for every CPU mask, drawn only if some parameter is on the CPU (so CUDA-only models
     * draw nothing from the CPU generator): hooks and wrapper both draw through here, to stay bit-identical.
     */
    private static long cpuKey(boolean[] cpu) {
        for (boolean v : cpu) {
            if (v) {
                return CpuMasks.drawKey();
            }
        }
        return 0L;
    }

    private Tensor checkDense(int index, Tensor grad) {
        if (grad.is_sparse()) {
            throw sparse(index);
        }
        return grad;
    }

    private IllegalArgumentException sparse(int index) {
        return new IllegalArgumentException("DropGrad supports dense gradients only; parameter '"
                + names.get(index) + "' has a sparse one (an embedding with sparse=true?)");
    }

    /**
     * Opens a round the way {@link #apply()} draws: one key for the CPU parameters' masks, then a mask per
     * parameter with a nonzero rate off the CPU, in parameter order.
     */
    private void startRound() {
        endRound();
        double[] r = rates;
        roundRates = r;
        roundUsed = new boolean[r.length];
        roundMasks = new Tensor[r.length];
        roundCpu = onCpu(r);
        roundKey = cpuKey(roundCpu);
        try (PointerScope ignored = new PointerScope()) {
            for (int i = 0; i < r.length; i++) {
                if (r[i] != 0.0 && !roundCpu[i]) {
                    Tensor mask = DropGradOps.keepMask(params.get(i), r[i]);
                    mask.retainReference(); // outlives this scope until its hook uses it
                    roundMasks[i] = mask;
                }
            }
        }
    }

    /** Frees the masks of the open round that no gradient used. */
    private void endRound() {
        if (roundMasks != null) {
            for (Tensor m : roundMasks) {
                if (m != null) {
                    m.releaseReference();
                }
            }
        }
        roundMasks = null;
        roundUsed = null;
        roundRates = null;
        roundCpu = null;
    }

    /** Full-update mode: one uniform per parameter with a nonzero rate, in parameter order, on the CPU. */
    private void dropWholeUpdates(double[] r) {
        int n = 0;
        for (double v : r) {
            n += v == 0.0 ? 0 : 1;
        }
        double[] u = Tensors.toDoubleArray(Tensors.empty(ScalarType.Float, n).uniform_(0.0, 1.0, new GeneratorOptional()));
        int k = 0;
        for (int i = 0; i < r.length; i++) {
            if (r[i] == 0.0) {
                continue;
            }
            boolean drop = u[k++] < r[i];
            Tensor p = params.get(i);
            if (!p.grad().defined()) {
                continue;
            }
            if (drop) {
                p.mutable_grad().reset(); // optimizers skip undefined gradients, state and all
            } else {
                p.grad().mul_(new Scalar(1.0 / (1.0 - r[i]))); // sparse gradients scale too
            }
        }
    }

    private double[] evaluate(long step, int epoch, double progress) {
        double[] out = new double[schedules.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Checks.probabilityBelowOne("drop rate of '" + names.get(i) + "' at step " + step,
                    schedules[i].valueAt(step, epoch, progress));
        }
        return out;
    }

    private static boolean allZero(double[] r) {
        for (double v : r) {
            if (v != 0.0) {
                return false;
            }
        }
        return true;
    }

    static String listOf(List<String> names) {
        int shown = Math.min(names.size(), 12);
        String list = String.join(", ", names.subList(0, shown));
        return names.isEmpty() ? "no parameters" : list + (shown < names.size() ? ", ... (" + names.size() + ")" : "");
    }

    @Override
    public String toString() {
        return "DropGrad(mode=" + mode.id() + ", rates=" + rates() + ")";
    }

    /**
     * Which parameters get which rate. Rules are checked in the order given and the last one that
     * matches a parameter wins; the default rate (if any) applies to parameters no rule matches; a
     * parameter with neither is left alone (the original's {@code drop_rate=None}).
     */
    public static final class Builder {
        private Schedule defaultRate;
        private final List<Rule> rules = new ArrayList<>();
        private DropGradMode mode = DropGradMode.ELEMENTS;

        private record Rule(String pattern, Pattern regex, Tensor parameter, Schedule schedule) {}

        private Builder() {}

        /** One drop rate in [0, 1) for every parameter no rule names. */
        public Builder rate(double rate) {
            return rate(constant("rate", rate));
        }

        /** A scheduled drop rate for every parameter no rule names. */
        public Builder rate(Schedule schedule) {
            this.defaultRate = Checks.notNull("schedule", schedule);
            return this;
        }

        /**
         * A drop rate for the parameters whose dotted name ({@code fc1.weight}) matches {@code pattern}:
         * {@code *} matches any run of characters (dots included), {@code ?} one character.
         */
        public Builder rate(String pattern, double rate) {
            return rate(pattern, constant("rate for '" + pattern + "'", rate));
        }

        /** A scheduled drop rate for the parameters whose name matches {@code pattern}. */
        public Builder rate(String pattern, Schedule schedule) {
            rules.add(new Rule(pattern, glob(pattern), null, Checks.notNull("schedule", schedule)));
            return this;
        }

        /** A drop rate for one parameter, given as the tensor (as in the original's dictionary). */
        public Builder rate(Tensor parameter, double rate) {
            return rate(parameter, constant("rate", rate));
        }

        /** A scheduled drop rate for one parameter. */
        public Builder rate(Tensor parameter, Schedule schedule) {
            rules.add(new Rule(null, null, Checks.notNull("parameter", parameter), Checks.notNull("schedule", schedule)));
            return this;
        }

        /** Drop rates for parameters given as tensors: the original's {@code params={p: rate}} dictionary. */
        public Builder rates(Map<Tensor, Double> rates) {
            Checks.notNull("rates", rates).forEach((p, r) -> rate(p, Checks.notNull("rate", r)));
            return this;
        }

        /** Leaves the parameters whose name matches {@code pattern} alone, whatever the default says. */
        public Builder exclude(String pattern) {
            rules.add(new Rule(pattern, glob(pattern), null, null));
            return this;
        }

        /** Elements (the default) or whole updates. */
        public Builder mode(DropGradMode mode) {
            this.mode = Checks.notNull("mode", mode);
            return this;
        }

        /**
         * Resolves the rules against {@code model}'s trainable parameters (those that require grad).
         *
         * @throws IllegalArgumentException if a tensor given to a rule is not a parameter of the model or
         *     does not require grad, a pattern matches no parameter, no parameter gets a rate, or a rate
         *     at step 0 is outside [0, 1)
         */
        public DropGrad build(Module model) {
            Checks.notNull("model", model);
            StringTensorDict dict = model.named_parameters(true);
            Map<String, Tensor> named = new LinkedHashMap<>();
            for (long i = 0; i < dict.size(); i++) { // by index: native iterators run past the end (native-notes)
                var item = dict.get(i);
                named.put(item.key().getString(), item.value());
            }
            try {
                return build(named);
            } finally {
                Reference.reachabilityFence(dict); // its items are views until build copies them
            }
        }

        /** Resolves the rules against parameters numbered {@code "0"}, {@code "1"}, ... (an optimizer's, say). */
        public DropGrad build(TensorVector parameters) {
            Checks.notNull("parameters", parameters);
            Map<String, Tensor> named = new LinkedHashMap<>();
            for (long i = 0; i < parameters.size(); i++) {
                named.put(Long.toString(i), parameters.get(i));
            }
            try {
                return build(named);
            } finally {
                Reference.reachabilityFence(parameters); // its elements are views until build copies them
            }
        }

        /**
         * Resolves the rules against named parameters, in the map's order. A TorchScript model's come from
         * {@code JitModels.namedParameters(module)}, dotted like a Java model's, so the same rules apply.
         */
        public DropGrad build(Map<String, Tensor> namedParameters) {
            Checks.notNull("namedParameters", namedParameters);
            List<String> allNames = new ArrayList<>(namedParameters.keySet());
            List<Tensor> all = new ArrayList<>(namedParameters.values());
            Schedule[] chosen = new Schedule[all.size()];
            boolean[] excluded = new boolean[all.size()];
            for (Rule rule : rules) {
                boolean matched = false;
                for (int i = 0; i < all.size(); i++) {
                    boolean hit = rule.parameter() != null ? all.get(i).is_same(rule.parameter())
                            : rule.regex().matcher(allNames.get(i)).matches();
                    if (hit) {
                        if (rule.parameter() != null && !all.get(i).requires_grad()) {
                            throw new IllegalArgumentException("parameter '" + allNames.get(i)
                                    + "' has a drop rate but does not require grad");
                        }
                        chosen[i] = rule.schedule();
                        excluded[i] = rule.schedule() == null;
                        matched = true;
                    }
                }
                if (!matched) {
                    throw new IllegalArgumentException(rule.parameter() != null
                            ? "a " + rule.parameter().scalar_type() + " tensor of shape "
                                    + Arrays.toString(Tensors.shape(rule.parameter()))
                                    + " has a drop rate but is not a parameter of the model"
                            : "pattern '" + rule.pattern() + "' matches no parameter of the model; its parameters are "
                                    + listOf(allNames));
                }
            }
            List<String> names = new ArrayList<>();
            List<Tensor> params = new ArrayList<>();
            List<Schedule> schedules = new ArrayList<>();
            for (int i = 0; i < all.size(); i++) {
                Schedule s = chosen[i] != null ? chosen[i] : excluded[i] ? null : defaultRate;
                if (s != null && all.get(i).requires_grad()) {
                    names.add(allNames.get(i));
                    params.add(all.get(i));
                    schedules.add(s);
                }
            }
            if (params.isEmpty()) {
                throw new IllegalArgumentException("no trainable parameter has a drop rate: give a default rate(...)"
                        + " or rates for patterns or parameters; the parameters are " + listOf(allNames));
            }
            return new DropGrad(names, params, schedules, mode);
        }

        private static Schedule constant(String name, double rate) {
            return Schedule.constant(Checks.probabilityBelowOne(name, rate));
        }

        private static Pattern glob(String pattern) {
            if (Checks.notNull("pattern", pattern).isEmpty()) {
                throw new IllegalArgumentException("pattern must not be empty");
            }
            StringBuilder regex = new StringBuilder();
            for (String part : pattern.split("(?=[*?])|(?<=[*?])")) {
                regex.append(switch (part) {
                    case "*" -> ".*";
                    case "?" -> ".";
                    default -> Pattern.quote(part);
                });
            }
            return Pattern.compile(regex.toString());
        }
    }
}
