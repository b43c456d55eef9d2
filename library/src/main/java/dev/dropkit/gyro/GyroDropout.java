package dev.dropkit.gyro;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Devices;
import dev.dropkit.core.Modules;
import dev.dropkit.core.SplitMix64;
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
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;

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
 * the module's device; the order in which sub-networks become active comes from {@link GyroSchedule},
 * whose seed is drawn from libtorch's default CPU generator (so reading it never waits for a GPU, and
 * {@link dev.dropkit.core.Seeds#seed(long)} fixes it). A fixed seed gives the same schedule on the CPU and
 * on CUDA, but not the same masks: each device's generator draws its own.
 *
 * <p>State lives in {@link GyroState}: host values that a step reads and writes without touching a
 * device, mirrored in four buffers so that {@code save}/{@code load} and {@link dev.dropkit.train.Trainer}
 * checkpoints carry it and a resumed run is bit-identical to an uninterrupted one:
 * {@code masks} ({@code [sigma, C]} bool, on the module's device; {@code [0, 0]} before the first training
 * forward), and on the CPU whatever the module's device, {@code active} ({@code [tau]} long: the active
 * sub-networks, group {@code i} uses entry {@code i}), {@code state} ({@code [3]} long: the step counter,
 * the index of the re-draw {@code active} holds or -1, and the schedule's seed) and {@code p}
 * ({@code [1]} double: the drop probability the masks were drawn for). libtorch's {@code Module::load}
 * replaces a buffer's contents whatever its shape, so a fresh module (masks not drawn yet) loads a
 * checkpoint directly; no warm-up forward is needed (native-notes/module-load-replaces-buffers.md). A
 * checkpoint written before the {@code p} buffer existed does not load: libtorch's {@code load} fails
 * with "No such serialized tensor 'p'".
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
    /** Schedule seeds stay below 2^24 so that they survive a Module.to(Float) of every buffer exactly. */
    private static final long SEED_BOUND = 1L << 24;
    /** Keeps the redraw generators' seeds apart from the schedule's permutation streams. */
    private static final long REDRAW_STREAM = 0x6A09E667F3BCC909L;

    private final GyroDropoutOptions options;
    private int itersPerEpoch;
    private int maxEpoch;
    private final GyroState gs;
    private GyroSchedule schedule;
    // The ready mask: the active set's masks, scaled by 1/(1-p), in the batch layout, on the device and in
    // the type of the inputs it was built for. It lives across steps, so it holds its own reference
    // (native-notes/cached-tensors-need-an-owned-handle.md).
    private Tensor ready;
    private ReadyKey readyKey;
    private long readyBuilds;

    /**
     * What a ready mask was built for: the masks' generation (active set, p, redraws), the inputs' type and
     * device, their rank, and the batch size when the groups are uneven (-1: even groups, any such batch).
     */
    private record ReadyKey(long generation, torch.ScalarType type, boolean cuda, long device, long batch, int dims) {}

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
        gs = new GyroState(this, options.sigma(), options.tau(), options.p());
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
     * evaluation (or while {@code p == 0}) the input itself.
     *
     * <p>A training step is one multiply by a ready mask (and one in the backward pass): the active set's
     * masks, already scaled and laid out for the batch, are built on the input's device and in its type
     * when the active set changes (every {@link #iterNum()} steps), or the batch layout, device or type
     * does; the step counter is a host value. So on CUDA a step launches one kernel forward and one
     * backward and never waits for the GPU.
     *
     * @throws IllegalStateException if the run's length is still unknown (see {@link GyroDropoutCallback})
     * @throws IllegalArgumentException for an input that is not {@code [N, C, *]}, a batch smaller than
     *     {@code tau}, a feature count other than the one the masks were drawn for, or another device
     */
    @Override
    public Tensor forward(Tensor input) {
        Checks.notNull("input", input);
        if (!is_training()) {
            return input;
        }
        gs.refresh();
        if (gs.effectiveP == 0.0 && gs.requestedP == 0.0) {
            return input;
        }
        long iterNum = iterNum();
        if (input.dim() < 2) {
            throw new IllegalArgumentException("Gyro Dropout needs an input of shape [N, C, *] (a batch and a"
                    + " feature or channel dimension), got shape " + Arrays.toString(Tensors.shape(input)));
        }
        GyroDropoutOps.groupSizes(input.size(0), options.tau()); // a batch smaller than tau fails here
        long step = gs.step;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            long draw = step / iterNum;
            boolean fresh = ensureMasks(input);
            if (draw != gs.draw || fresh) {
                if (!fresh && gs.requestedP != gs.effectiveP) {
                    redraw(gs.requestedP, draw);
                }
                select(draw);
            }
        }
        gs.setStep(step + 1);
        if (gs.effectiveP == 0.0) {
            return input;
        }
        return GyroDropoutOps.applyReadyMask(input, readyMask(input), options.tau());
    }

    /** How many times the ready mask was built (tests: it changes only with the active set, p, layout or device). */
    long readyBuilds() {
        return readyBuilds;
    }

    /** Draws the masks if there are none yet (for the requested p); returns whether it did. */
    private boolean ensureMasks(Tensor input) {
        long c = input.size(options.featuresLast() ? input.dim() - 1 : 1);
        if (gs.hasMasks()) {
            if (gs.masks.size(1) != c) {
                throw new IllegalArgumentException("this GyroDropout's masks were drawn for " + gs.masks.size(1)
                        + " features or channels, got an input with " + c + " (shape "
                        + Arrays.toString(Tensors.shape(input)) + ")");
            }
            return false;
        }
        if (gs.requestedP == 0.0) {
            gs.setEffectiveP(0.0); // nothing to draw until p rises; seed and masks come then
            return false;
        }
        Checks.positive("features (input dimension 1)", c);
        Device device = gs.masks.device();
        if (!device.equals(input.device())) {
            throw new IllegalArgumentException("the input is on " + Devices.describe(input.device())
                    + " but this GyroDropout's buffers are on " + Devices.describe(device)
                    + "; move the model with to(device) first");
        }
        Tensor drawn = drawMasks(c, device, gs.requestedP);
        // The schedule's seed comes from the CPU generator, so reading it never waits for a GPU.
        long seed = torch.randint(SEED_BOUND, new long[] {1}, new TensorOptions(torch.ScalarType.Long)).item_long();
        gs.setMasks(drawn, gs.requestedP, seed);
        return true;
    }

    private Tensor drawMasks(long c, Device device, double p, GeneratorOptional generator) {
        return torch.empty(new long[] {options.sigma(), c}, Tensors.options(torch.ScalarType.Float, device),
                new MemoryFormatOptional()).bernoulli_(1.0 - p, generator).to(torch.ScalarType.Bool);
    }

    private Tensor drawMasks(long c, Device device, double p) {
        return drawMasks(c, device, p, new GeneratorOptional());
    }

    /**
     * A new p takes effect at re-draw {@code draw}: fresh masks for it, or none while it is 0. They come from
     * a private generator on the masks' device seeded from (schedule seed, draw), so a run resumed from a
     * checkpoint redraws exactly what the uninterrupted run did, whatever the global generators did since;
     * seeding a CUDA generator is a host operation, so this does not synchronize either.
     */
    private void redraw(double p, long draw) {
        if (p == 0.0) {
            gs.setEffectiveP(0.0);
            return;
        }
        if (!gs.hasMasks()) {
            return; // drawn by ensureMasks
        }
        Device device = gs.masks.device();
        Generator generator = device.is_cuda() ? torch_cuda.make_generator_cuda(device.index())
                : torch.createCPUGenerator();
        generator.set_current_seed(SplitMix64.streamSeed(gs.seed ^ REDRAW_STREAM, draw));
        gs.setMasks(drawMasks(gs.masks.size(1), device, p, new GeneratorOptional(generator)), p, gs.seed);
    }

    private void select(long draw) {
        if (schedule == null || schedule.seed() != gs.seed) {
            schedule = new GyroSchedule(options.sigma(), options.tau(), options.selection(), gs.seed);
        }
        gs.setActive(draw, schedule.activeSet(draw));
    }

    /** The cached ready mask for this input, rebuilt when the active set, p, layout, device or type changed. */
    private Tensor readyMask(Tensor input) {
        long n = input.size(0);
        int dims = (int) input.dim();
        boolean cuda = input.is_cuda();
        ReadyKey key = new ReadyKey(gs.generation, input.scalar_type().intern(), cuda,
                cuda ? input.device().index() : -1, n % options.tau() == 0 ? -1 : n, dims);
        if (ready != null && key.equals(readyKey)) {
            return ready;
        }
        Tensor built;
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            built = GyroDropoutOps.readyMask(gs.masks, gs.activeSet, n, dims, options.featuresLast(), gs.effectiveP,
                    key.type(), input.device());
            built.retainReference(); // outlives this scope and the caller's
        }
        if (ready != null) {
            ready.releaseReference();
        }
        ready = built;
        readyBuilds++;
        readyKey = key;
        return ready;
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
        gs.refresh();
        return gs.step;
    }

    /**
     * Sets the step counter, for example to the training loop's step; the next training forward uses the
     * sub-networks scheduled for that step.
     *
     * @throws IllegalArgumentException if {@code step} is negative
     */
    public void setStep(long step) {
        Checks.nonNegative("step", step);
        gs.refresh();
        if (gs.step != step) {
            gs.setStep(step);
        }
    }

    /** Whether the masks have been drawn (by a training forward, or restored by {@code load}). */
    public boolean hasMasks() {
        return gs.hasMasks();
    }

    /** A copy of the {@code [sigma, C]} masks (true keeps a unit), or an empty {@code [0, 0]} tensor before they are drawn. */
    public Tensor masks() {
        return gs.masks.clone();
    }

    /** The sub-networks active now, group {@code i} using entry {@code i}; empty before the first training forward. */
    public long[] activeSet() {
        gs.refresh();
        return gs.draw < 0 ? new long[0] : gs.activeSet.clone();
    }

    /** The seed of the schedule (drawn with the masks), or 0 before that. */
    public long scheduleSeed() {
        gs.refresh();
        return gs.seed;
    }

    /**
     * The drop probability asked for: the options' {@code p}, or the last {@link #setP}. It is in force
     * from the next active-set change on; {@link #effectiveP()} is the one in force now.
     */
    @Override
    public double p() {
        return gs == null ? super.p() : gs.requestedP;
    }

    /**
     * Asks for another drop probability, for schedules ({@link GyroDropoutSchedules}). Gyro Dropout's masks
     * were drawn for one {@code p}, and its sub-networks are trained as those fixed masks, so a new {@code p}
     * cannot apply to them half-way through an active set: it takes effect at the next active-set change
     * (every {@link #iterNum()} steps), when all {@code sigma} masks are redrawn for it (the schedule of
     * which sub-networks are active continues unchanged; the new masks come from a generator seeded by the
     * schedule's seed and the re-draw's index, so a resumed run redraws what the uninterrupted one did).
     * Until then {@link #effectiveP()} keeps the old value. {@code p = 0} makes the module the identity from
     * that change on, and a later {@code p > 0} draws fresh masks at the change after it is set. Before the
     * masks were first drawn there is nothing to keep: the next training forward draws them for the new
     * {@code p}.
     *
     * @throws IllegalArgumentException if {@code p} is not in [0, 1)
     */
    @Override
    public void setP(double p) {
        Checks.probabilityBelowOne("p", p);
        super.setP(p);
        gs.refresh();
        gs.requestedP = p;
    }

    /** The drop probability the masks in use were drawn for (restored by {@code load} from the {@code p} buffer). */
    public double effectiveP() {
        gs.refresh();
        return gs.effectiveP;
    }

    @Override
    public String toString() {
        return "GyroDropout(" + options.settings(Double.toString(effectiveP()), itersPerEpoch, maxEpoch,
                hasTrainingLength() ? iterNum() : 0) + ")";
    }
}
