package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.Tensors;
import dev.dropkit.schedule.Schedule;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
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
 * (one backward pass for hooks, one {@link #apply()} for the wrapper; see {@code RoundDraw}): one 64-bit
 * key from the CPU generator if any CPU parameter has a nonzero rate, from which every CPU parameter's mask
 * is hashed (see {@link DropGradOps}: the drop probability is the rate rounded to a multiple of 2^-16), and
 * one mask per rate group on another device (CUDA; parameters sharing a schedule, device and dtype form a
 * group, see {@code RateGroups}), in group order, whether or not its parameters received a gradient.
 * Autograd's order of gradients therefore does not matter, and hooks and wrapper produce bit-identical
 * gradients for the same seed and a single backward pass. A hooks round ends when a parameter's gradient
 * arrives a second time or {@link #update} is called; during backward it holds its group masks.
 *
 * <p><b>Cost on CUDA.</b> A round draws each group's mask with two kernels and no host sync; the wrapper
 * multiplies each accumulated gradient, and hooks each incoming one, by its view of the group mask
 * (libtorch's post-accumulate-grad hook, which would allow one multiply per group, cannot be registered
 * from Java). With {@code -Ddropkit.dropgrad.flatBuffers=true} the wrapper keeps each group's gradients in
 * one flat buffer ({@code FlatGradients}, when zeroed through {@link DropGradOptimizer#zero_grad()}) and
 * masks it with one multiply, which counts two kernels more per group (autograd then adds into the buffer).
 *
 * <p>A hook drops the gradient in place when nothing but autograd can read it (the usual case: a layer's
 * weight or bias gradient), on any device, so no new tensor is made and libtorch does not copy one into
 * {@code .grad} (on CUDA: one kernel per gradient); where autograd hands the same memory to another
 * parameter too, the hook returns a new tensor and leaves the shared one alone.
 *
 * <p>Rate zero is the identity, bit for bit, and costs no random draw and no tensor work.
 */
public final class DropGrad {
    private final DropGradRules rules;
    private final List<String> names;
    private final List<Tensor> params;
    private final DropGradMode mode;
    private final HookRound round = new HookRound();
    private final FlatGradients flat;
    private volatile double[] rates;
    private RateGroups groups; // guarded by this

    private DropGrad(DropGradRules rules, DropGradMode mode) {
        this.rules = rules;
        this.names = rules.names;
        this.params = rules.params;
        this.mode = mode;
        this.flat = new FlatGradients(FlatGradients.onByDefault());
        this.rates = rules.evaluate(0, 0, 0.0);
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
     * The highest current drop rate over the parameters: the rate, when every parameter has the same one.
     * It is what {@link DropGradCallback} logs per step as {@value DropGradCallback#METRIC}: one number
     * that follows the schedule, where the per-parameter rates of {@link #rates()} could be hundreds.
     */
    public double maxRate() {
        double max = 0.0;
        for (double v : rates) {
            max = Math.max(max, v);
        }
        return max;
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
        double[] next = rules.evaluate(step, epoch, progress);
        synchronized (round) {
            rates = next;
            round.end();
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
     *
     * <p>One round is drawn ({@code RoundDraw}); a rate group whose gradients all live in its flat buffer
     * ({@link #zeroGrad(Optimizer)}) is masked with one multiply, any other parameter by itself.
     */
    public void apply() {
        double[] r = rates;
        if (allZero(r)) {
            return;
        }
        NativeMemory.run(() -> {
            if (mode == DropGradMode.FULL_UPDATE) {
                dropWholeUpdates(r);
                return;
            }
            RateGroups gs = groups();
            try (RoundDraw draw = RoundDraw.draw(gs, r)) {
                flat.dropAccumulated(gs, draw, params, this::sparse);
            }
        });
    }

    /**
     * The wrapper's {@code zero_grad()}: {@code inner.zero_grad()}, then, where flat buffers are on
     * ({@code -Ddropkit.dropgrad.flatBuffers=true}), each buffer zeroed in place and
     * its slices made the members' gradients again. Those gradients are then zero tensors, not undefined
     * (PyTorch's {@code zero_grad(set_to_none=False)}): an optimizer steps a parameter that got no gradient
     * this step with a zero one (weight decay and momentum still act).
     */
    void zeroGrad(Optimizer inner) {
        inner.zero_grad();
        if (mode == DropGradMode.FULL_UPDATE) {
            return; // dropped updates leave gradients undefined; a flat buffer would define them
        }
        if (flat.on()) { // off (the default): nothing more than the inner zero_grad
            RateGroups gs = groups();
            NativeMemory.run(() -> flat.zeroGrad(gs, params));
        }
    }

    /** The rate groups, regrouped if a parameter moved to another device or dtype since. */
    synchronized RateGroups groups() {
        if (groups == null || !groups.matches(params)) {
            groups = RateGroups.of(params, rules.schedules);
        }
        return groups;
    }

    /** The flat buffers (tests). */
    FlatGradients flatGradients() {
        return flat;
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
        rules.checkTrainedBy(optimizer, what);
    }

    /** An optimizer's parameters, group by group (see {@link DropGradRules#optimizedParameters}). */
    static TensorVector optimizedParameters(Optimizer optimizer) {
        return DropGradRules.optimizedParameters(optimizer);
    }

    /** Whether parameter {@code index}'s current rate is zero (its hook then leaves the gradient alone). */
    boolean rateIsZero(int index) {
        return rates[index] == 0.0;
    }

    /**
     * The hooks' work for parameter {@code index}: the dropped gradient as a new tensor, or null to leave
     * the gradient as it is (rate zero, or dropped in place because nobody else can read it; see
     * {@link GradientOwnership}). Off the CPU that is one multiply by the parameter's view of its group's
     * mask, drawn once per round.
     */
    Tensor hookGradient(int index, TensorBase grad) {
        if (rates[index] == 0.0) {
            return null;
        }
        // The round's take() locks the round, as update() does to swap the rates and end it: a round is
        // always drawn for the rates of one update.
        return round.gradient(index, grad, () -> RoundDraw.draw(groups(), rates), this::sparse);
    }

    private IllegalArgumentException sparse(int index) {
        return new IllegalArgumentException("DropGrad supports dense gradients only; parameter '"
                + names.get(index) + "' has a sparse one (an embedding with sparse=true?)");
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

    private static boolean allZero(double[] r) {
        for (double v : r) {
            if (v != 0.0) {
                return false;
            }
        }
        return true;
    }

    static String listOf(List<String> names) {
        return DropGradRules.listOf(names);
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
        private final List<DropGradRules.Rule> rules = new ArrayList<>();
        private DropGradMode mode = DropGradMode.ELEMENTS;

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
            rules.add(new DropGradRules.Rule(pattern, glob(pattern), null, Checks.notNull("schedule", schedule)));
            return this;
        }

        /** A drop rate for one parameter, given as the tensor (as in the original's dictionary). */
        public Builder rate(Tensor parameter, double rate) {
            return rate(parameter, constant("rate", rate));
        }

        /** A scheduled drop rate for one parameter. */
        public Builder rate(Tensor parameter, Schedule schedule) {
            rules.add(new DropGradRules.Rule(null, null, Checks.notNull("parameter", parameter), Checks.notNull("schedule", schedule)));
            return this;
        }

        /** Drop rates for parameters given as tensors: the original's {@code params={p: rate}} dictionary. */
        public Builder rates(Map<Tensor, Double> rates) {
            Checks.notNull("rates", rates).forEach((p, r) -> rate(p, Checks.notNull("rate", r)));
            return this;
        }

        /** Leaves the parameters whose name matches {@code pattern} alone, whatever the default says. */
        public Builder exclude(String pattern) {
            rules.add(new DropGradRules.Rule(pattern, glob(pattern), null, null));
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
            return new DropGrad(DropGradRules.resolve(rules, defaultRate, namedParameters), mode);
        }

        private static Schedule constant(String name, double rate) {
            return Schedule.constant(Checks.probabilityBelowOne(name, rate));
        }

        private static Pattern glob(String pattern) {
            return DropGradRules.glob(pattern);
        }
    }
}
