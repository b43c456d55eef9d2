package dev.dropkit.gyro;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Modules;
import dev.dropkit.core.Tensors;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.surgery.ModuleSlot;
import dev.dropkit.surgery.ModuleSurgery;
import dev.dropkit.surgery.SurgeryReport;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Gyro Dropout (Lee et al., "Gyro Dropout: Maximizing Ensemble Effect in Neural Network Training",
 * MLSys 2022) as a module. Instead of a fresh random mask every step, it pre-selects {@code sigma} fixed
 * masks (sub-networks), each keeping a unit with probability {@code 1 - p}, and trains only those: in
 * every step {@code tau} of them are active at once, the batch is split into {@code tau} groups of
 * consecutive samples and group {@code i} uses active mask {@code i}; kept units are scaled by
 * {@code 1/(1-p)} and evaluation is the identity. The active set is re-drawn every
 * {@link GyroSchedule#iterNum iterNum} steps, so that over the run every sub-network is trained about
 * equally; the paper finds the resulting ensemble of well-trained sub-networks more accurate than
 * dropout's ever-changing ones.
 *
 * <pre>{@code
 * GyroDropout drop = register_module("drop", new GyroDropout(GyroDropoutOptions.builder()
 *         .p(0.5).sigma(256).tau(16).itersPerEpoch(196).maxEpoch(100).build()));
 * // or leave the run's length unset and add GyroDropoutCallback.forModel(net) to the Trainer
 * }</pre>
 *
 * <p>Masks act on dimension 1 of an {@code [N, C, *]} input, one value per feature or channel
 * (broadcast over spatial positions, as {@code Dropout2d}); see {@link GyroDropoutOps}. They are drawn
 * on the first training forward, when the feature count is known, with libtorch's default generator on
 * the module's device; the order in which sub-networks become active comes from {@link GyroSchedule}.
 *
 * <p>State lives in three buffers, so {@code save}/{@code load} and {@link dev.dropkit.train.Trainer}
 * checkpoints carry it and a resumed run is bit-identical to an uninterrupted one:
 * {@code masks} ({@code [sigma, C]} bool; {@code [0, 0]} before the first training forward),
 * {@code active} ({@code [tau]} long: the active sub-networks, group {@code i} uses entry {@code i}) and
 * {@code state} ({@code [3]} long: the step counter, the index of the re-draw {@code active} holds or -1,
 * and the schedule's seed). libtorch's {@code Module::load} replaces a buffer's contents whatever its
 * shape, so a fresh module (masks not drawn yet) loads a checkpoint directly; no warm-up forward is
 * needed (native-notes/module-load-replaces-buffers.md).
 *
 * <p>The step counter advances by one per training forward; {@link GyroDropoutCallback} also aligns it
 * with the training loop's step, so call the module once per training step. It extends dropkit's
 * {@link Dropout} (and so libtorch's {@code DropoutImpl}) so that surgery can put it into fields of those
 * types; as with every dropkit module, a native container such as {@code SequentialImpl} would call the
 * C++ dropout instead of this class's {@link #forward(Tensor)}, which is why {@link #apply} converts such
 * containers into dropkit's Java ones ({@link dev.dropkit.surgery.NativeContainers}).
 *
 * <p>Differences from the reference implementation (Composer's {@code GyroDropoutLayer}): active
 * sub-networks are distinct and by default follow a permutation ({@link GyroSelection}); batches need not
 * be a multiple of {@code tau} ({@link GyroDropoutOps#groupSizes}); inputs of any rank work; state is in
 * buffers; randomness comes from libtorch's seeded generators; a run shorter than {@code sigma} steps is
 * rejected with an explanation instead of dividing by zero.
 */
public class GyroDropout extends Dropout {
    /** Native address of every live GyroDropout, to find the Java object behind a module view. */
    private static final Map<Long, WeakReference<GyroDropout>> REGISTRY = new ConcurrentHashMap<>();
    private static final int STEP = 0;
    private static final int DRAW = 1;
    private static final int SEED = 2;
    /** Schedule seeds stay below 2^24 so that they survive a Module.to(Float) of every buffer exactly. */
    private static final long SEED_BOUND = 1L << 24;

    private final GyroDropoutOptions options;
    private int itersPerEpoch;
    private int maxEpoch;
    // The Tensor handles we registered: libtorch's load and to() change these same TensorImpls in place.
    private final Tensor masks;
    private final Tensor active;
    private final Tensor state;
    // A host-side copy of `state`, so that a step on CUDA needs no device-to-host read. It is re-read
    // whenever the buffer changed behind our back (load, to(device)): its version or storage differs.
    private final long[] mirror = {0, -1, 0};
    private long mirrorVersion = -1;
    private long mirrorAddress;
    private GyroSchedule schedule;

    /**
     * A Gyro Dropout with the given options; its masks are drawn on the first training forward.
     *
     * @throws IllegalArgumentException if options is null
     */
    public GyroDropout(GyroDropoutOptions options) {
        super(pOf(options));
        this.options = options;
        this.itersPerEpoch = options.itersPerEpoch();
        this.maxEpoch = options.maxEpoch();
        masks = torch.empty(new long[] {0, 0}, new TensorOptions(torch.ScalarType.Bool), new MemoryFormatOptional());
        active = torch.zeros(new long[] {options.tau()}, new TensorOptions(torch.ScalarType.Long));
        state = torch.tensor(new long[] {0, -1, 0}).to(torch.ScalarType.Long);
        register_buffer("masks", masks);
        register_buffer("active", active);
        register_buffer("state", state);
        REGISTRY.values().removeIf(ref -> ref.get() == null);
        REGISTRY.put(address(), new WeakReference<>(this));
    }

    private static double pOf(GyroDropoutOptions options) {
        return Checks.notNull("options", options).p();
    }

    /**
     * The GyroDropout Java objects in a module tree ({@code root} included), in registration order. Module
     * trees read back from libtorch hold plain {@link Module} views (native-notes); this maps them back
     * through a registry of live GyroDropout objects, keyed by native address.
     */
    public static List<GyroDropout> findIn(Module root) {
        Checks.notNull("root", root);
        Map<GyroDropout, Boolean> found = new IdentityHashMap<>();
        List<GyroDropout> out = new ArrayList<>();
        List<Module> candidates = new ArrayList<>();
        candidates.add(root);
        candidates.addAll(Modules.namedDescendants(root).values());
        for (Module m : candidates) {
            GyroDropout g = lookup(m.address());
            if (g != null && found.put(g, Boolean.TRUE) == null) {
                out.add(g);
            }
        }
        java.lang.ref.Reference.reachabilityFence(root);
        return out;
    }

    /**
     * Model surgery: replaces every dropout in a Java module tree (libtorch's {@code DropoutImpl} and
     * dropkit's {@link Dropout}, in fields, lists or arrays) by a GyroDropout with {@code options}, in place
     * and under the same names, like Composer's {@code apply_gyro_dropout}. Dropouts that are already
     * GyroDropout are left alone, so applying twice changes nothing the second time.
     *
     * <p>Dropouts inside libtorch containers ({@code SequentialImpl}, {@code ModuleListImpl}) that a Java
     * field or list holds are reached by converting those containers into dropkit's Java ones first (same
     * modules, same names; listed in {@link SurgeryReport#conversions()}). A model whose root is itself a
     * libtorch container must be converted by the caller, who then uses the model returned:
     * {@code model = NativeContainers.convert(model); GyroDropout.apply(model, options);}
     *
     * @return what was replaced and converted; zero replacements carry a warning, and a dropout that stays
     *     in a native container (its container could not be converted: named, with the reason) is reported
     * @throws IllegalArgumentException if {@code model} is itself a libtorch container holding dropouts
     */
    public static SurgeryReport apply(Module model, GyroDropoutOptions options) {
        return apply(model, options, false);
    }

    /**
     * Like {@link #apply(Module, GyroDropoutOptions)}; with {@code keepEachP} every replacement keeps the
     * drop probability of the dropout it replaces instead of {@code options.p()} (Composer ignores it).
     *
     * @throws IllegalArgumentException if a kept {@code p} is 1, which Gyro Dropout cannot train
     */
    public static SurgeryReport apply(Module model, GyroDropoutOptions options, boolean keepEachP) {
        Checks.notNull("model", model);
        Checks.notNull("options", options);
        return ModuleSurgery.replace(model, "dropout -> gyro dropout", GyroDropout::isPlainDropout, slot -> {
            if (!keepEachP) {
                return new GyroDropout(options);
            }
            double p = ((DropoutImpl) slot.module()).options().p().get();
            if (slot.module() instanceof Dropout d) {
                p = d.p();
            }
            if (p >= 1.0) {
                throw new IllegalArgumentException(slot.path() + " has p = " + p
                        + ", which Gyro Dropout cannot keep (p must be < 1)");
            }
            return new GyroDropout(options.toBuilder().p(p).build());
        });
    }

    private static boolean isPlainDropout(ModuleSlot slot) {
        if (slot.module() instanceof GyroDropout) {
            return false;
        }
        return slot.module() instanceof DropoutImpl || (!slot.javaHeld() && slot.nativeType().equals(
                "torch::nn::DropoutImpl"));
    }

    private static GyroDropout lookup(long address) {
        WeakReference<GyroDropout> ref = REGISTRY.get(address);
        GyroDropout g = ref == null ? null : ref.get();
        // A module freed explicitly has address 0; its slot may since hold another module.
        return g != null && !g.isNull() && g.address() == address ? g : null;
    }

    /**
     * Masks according to the training flag: in training, the active sub-networks' masks on consecutive
     * groups of the batch, kept units scaled by {@code 1/(1-p)}, and the step counter advances; in
     * evaluation (or with {@code p == 0}) the input itself.
     *
     * @throws IllegalStateException if the run's length is still unknown (see {@link GyroDropoutCallback})
     * @throws IllegalArgumentException for an input that is not {@code [N, C, *]}, a batch smaller than
     *     {@code tau}, a feature count other than the one the masks were drawn for, or another device
     */
    @Override
    public Tensor forward(Tensor input) {
        Checks.notNull("input", input);
        if (!is_training() || options.p() == 0.0) {
            return input;
        }
        long iterNum = iterNum();
        if (input.dim() < 2) {
            throw new IllegalArgumentException("Gyro Dropout needs an input of shape [N, C, *] (a batch and a"
                    + " feature or channel dimension), got shape " + Arrays.toString(Tensors.shape(input)));
        }
        GyroDropoutOps.groupSizes(input.size(0), options.tau()); // a batch smaller than tau fails here
        long step;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            readState();
            ensureMasks(input);
            step = mirror[STEP];
            long draw = step / iterNum;
            if (draw != mirror[DRAW]) {
                select(draw);
            }
        }
        Tensor out = GyroDropoutOps.gyroDropout(input, masks, active, options.p(), true, options.featuresLast());
        writeStep(step + 1);
        return out;
    }

    private void ensureMasks(Tensor input) {
        long c = input.size(options.featuresLast() ? input.dim() - 1 : 1);
        if (masks.numel() > 0) {
            if (masks.size(1) != c) {
                throw new IllegalArgumentException("this GyroDropout's masks were drawn for " + masks.size(1)
                        + " features or channels, got an input with " + c + " (shape "
                        + Arrays.toString(Tensors.shape(input)) + ")");
            }
            return;
        }
        Checks.positive("features (input dimension 1)", c);
        Device device = state.device();
        if (!device.equals(input.device())) {
            throw new IllegalArgumentException("the input is on " + Devices.describe(input.device())
                    + " but this GyroDropout's buffers are on " + Devices.describe(device)
                    + "; move the model with to(device) first");
        }
        Tensor drawn = torch.empty(new long[] {options.sigma(), c}, Tensors.options(torch.ScalarType.Float, device),
                new MemoryFormatOptional()).bernoulli_(1.0 - options.p(), new GeneratorOptional());
        long seed = torch.randint(SEED_BOUND, new long[] {1}, Tensors.options(torch.ScalarType.Long, device))
                .item_long();
        masks.set_(drawn.to(masks.scalar_type()));
        writeState(mirror[STEP], -1, seed);
    }

    private void select(long draw) {
        if (schedule == null || schedule.seed() != mirror[SEED]) {
            schedule = new GyroSchedule(options.sigma(), options.tau(), options.selection(), mirror[SEED]);
        }
        active.copy_(torch.tensor(schedule.activeSet(draw)));
        writeState(mirror[STEP], draw, mirror[SEED]);
    }

    /** Refreshes the host copy of {@code state} if the buffer changed since we last wrote or read it. */
    private void readState() {
        if (state._version() == mirrorVersion && state.data_ptr().address() == mirrorAddress) {
            return;
        }
        // Module.to(ScalarType) converts every buffer, long ones included; scalar_type() must be
        // intern()ed before comparing (both in native-notes).
        torch.ScalarType stateType = state.scalar_type().intern();
        if (stateType == torch.ScalarType.Half || stateType == torch.ScalarType.BFloat16) {
            // Float keeps the seed (< 2^24) exactly; 16-bit floats turn it into infinity or a neighbour,
            // which would silently change the schedule (and be saved into later checkpoints).
            throw new IllegalStateException("GyroDropout's schedule state (step, draw, seed) was converted to "
                    + stateType + ", which cannot hold it exactly; convert the other modules only and keep GyroDropout"
                    + " in Float or Double");
        }
        if (stateType != torch.ScalarType.Long) {
            state.set_data(state.to(torch.ScalarType.Long));
        }
        if (active.scalar_type().intern() != torch.ScalarType.Long) {
            active.set_data(active.to(torch.ScalarType.Long));
        }
        if (state.numel() != 3 || active.numel() != options.tau()
                || (masks.numel() > 0 && (masks.dim() != 2 || masks.size(0) != options.sigma()))) {
            throw new IllegalStateException("GyroDropout buffers do not fit " + this + ": state "
                    + Arrays.toString(Tensors.shape(state)) + ", active " + Arrays.toString(Tensors.shape(active))
                    + ", masks " + Arrays.toString(Tensors.shape(masks))
                    + "; was the checkpoint written with other sigma or tau?");
        }
        double[] values = Tensors.toDoubleArray(state);
        for (int i = 0; i < 3; i++) {
            mirror[i] = (long) values[i];
        }
        remember();
    }

    private void writeState(long step, long draw, long seed) {
        state.copy_(torch.tensor(new long[] {step, draw, seed}));
        mirror[STEP] = step;
        mirror[DRAW] = draw;
        mirror[SEED] = seed;
        remember();
    }

    private void writeStep(long step) {
        state.narrow(0, STEP, 1).fill_(new Scalar(step)); // no host-device sync on CUDA
        mirror[STEP] = step;
        remember();
    }

    private void remember() {
        mirrorVersion = state._version();
        mirrorAddress = state.data_ptr().address();
    }

    /**
     * The options this module was built with (the run's length may since have been set). Not
     * {@code options()}: that is libtorch's {@code DropoutOptions} accessor, which this class inherits.
     */
    public GyroDropoutOptions gyroOptions() {
        return options;
    }

    /** Number of pre-selected sub-networks. */
    public int sigma() {
        return options.sigma();
    }

    /** Number of sub-networks active in one step. */
    public int tau() {
        return options.tau();
    }

    /** How active sub-networks are drawn. */
    public GyroSelection selection() {
        return options.selection();
    }

    /** Steps per epoch of the run, or 0 while unknown. */
    public int itersPerEpoch() {
        return itersPerEpoch;
    }

    /** Epochs of the run, or 0 while unknown. */
    public int maxEpoch() {
        return maxEpoch;
    }

    /** Whether both {@link #itersPerEpoch()} and {@link #maxEpoch()} are known. */
    public boolean hasTrainingLength() {
        return itersPerEpoch > 0 && maxEpoch > 0;
    }

    /**
     * Sets the run's length, which fixes {@link #iterNum()}; {@link GyroDropoutCallback} calls this with
     * the training loop's numbers.
     *
     * @throws IllegalArgumentException if a count is not positive or the run is shorter than {@code sigma} steps
     */
    public void setTrainingLength(int itersPerEpoch, int maxEpoch) {
        GyroSchedule.iterNum(itersPerEpoch, maxEpoch, options.sigma(), options.tau());
        this.itersPerEpoch = itersPerEpoch;
        this.maxEpoch = maxEpoch;
    }

    /**
     * Steps between two re-draws of the active sub-networks.
     *
     * @throws IllegalStateException while the run's length is unknown
     */
    public long iterNum() {
        if (!hasTrainingLength()) {
            throw new IllegalStateException(this + " does not know the length of the run, which sets how often"
                    + " the active sub-networks change: give itersPerEpoch and maxEpoch in its options, call"
                    + " setTrainingLength, or add GyroDropoutCallback to the Trainer to take them from the loop");
        }
        return GyroSchedule.iterNum(itersPerEpoch, maxEpoch, options.sigma(), options.tau());
    }

    /** Training forwards so far (restored by {@code load}). */
    public long step() {
        readState();
        return mirror[STEP];
    }

    /**
     * Sets the step counter, for example to the training loop's step; the next training forward uses the
     * sub-networks scheduled for that step.
     *
     * @throws IllegalArgumentException if {@code step} is negative
     */
    public void setStep(long step) {
        Checks.nonNegative("step", step);
        readState();
        if (mirror[STEP] != step) {
            writeStep(step);
        }
    }

    /** Whether the masks have been drawn (by a training forward, or restored by {@code load}). */
    public boolean hasMasks() {
        return masks.numel() > 0;
    }

    /** A copy of the {@code [sigma, C]} masks (true keeps a unit), or an empty {@code [0, 0]} tensor before they are drawn. */
    public Tensor masks() {
        return masks.clone();
    }

    /** The sub-networks active now, group {@code i} using entry {@code i}; empty before the first training forward. */
    public long[] activeSet() {
        readState();
        if (mirror[DRAW] < 0) {
            return new long[0];
        }
        return Arrays.stream(Tensors.toDoubleArray(active)).mapToLong(v -> (long) v).toArray();
    }

    /** The seed of the schedule (drawn with the masks), or 0 before that. */
    public long scheduleSeed() {
        readState();
        return mirror[SEED];
    }

    @Override
    public String toString() {
        return "GyroDropout(" + options.settings(Double.toString(options.p()), itersPerEpoch, maxEpoch,
                hasTrainingLength() ? iterNum() : 0) + ")";
    }
}
