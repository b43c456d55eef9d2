package dev.dropkit.gyro;

import dev.dropkit.core.Checks;
import dev.dropkit.train.TrainingCallback;
import dev.dropkit.train.TrainingContext;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Module;

/**
 * Connects {@link GyroDropout} modules to {@link dev.dropkit.train.Trainer}'s loop. At the start of
 * training it gives every module whose run length is unset the loop's
 * optimizer steps per epoch as {@code iters_per_epoch} (batches per epoch divided by the gradient-accumulation
 * steps, rounded up: {@code globalStep} counts optimizer steps) and {@link TrainingContext#epochs()
 * max_epoch}; before every step it sets the modules' step counters to the loop's global step, so the
 * schedule follows optimizer steps even if the model was run in training mode outside the loop (a resumed
 * run restores both, and they agree).
 *
 * <pre>{@code
 * Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward))
 *         .callback(GyroDropoutCallback.forModel(net))   // every GyroDropout under net
 *         .epochs(100).build();
 * }</pre>
 */
public final class GyroDropoutCallback implements TrainingCallback {
    private final Module root;
    private final List<GyroDropout> given;
    private List<GyroDropout> modules;

    private GyroDropoutCallback(Module root, List<GyroDropout> given) {
        this.root = root;
        this.given = given;
        this.modules = given;
    }

    /** A callback for these modules. */
    public static GyroDropoutCallback of(GyroDropout... modules) {
        Checks.notNull("modules", modules);
        List<GyroDropout> list = new ArrayList<>();
        for (GyroDropout m : modules) {
            list.add(Checks.notNull("module", m));
        }
        if (list.isEmpty()) {
            throw new IllegalArgumentException("GyroDropoutCallback.of needs at least one GyroDropout");
        }
        return new GyroDropoutCallback(null, List.copyOf(list));
    }

    /**
     * A callback for every {@link GyroDropout} in {@code root}'s tree, looked up when training begins (so
     * after any surgery); finding none then is an error, as the callback would do nothing.
     */
    public static GyroDropoutCallback forModel(Module root) {
        return new GyroDropoutCallback(Checks.notNull("root", root), List.of());
    }

    /** The modules the callback drives (for {@link #forModel}, those found when training began). */
    public List<GyroDropout> modules() {
        return Collections.unmodifiableList(modules);
    }

    /**
     * Finds the modules and fills in their run length from the loop.
     *
     * @throws IllegalStateException if a model was given and holds no GyroDropout
     * @throws IllegalArgumentException if the run has fewer steps than a module's {@code sigma}
     */
    @Override
    public void onTrainBegin(TrainingContext context) {
        if (root != null) {
            Map<GyroDropout, Boolean> seen = new IdentityHashMap<>();
            List<GyroDropout> all = new ArrayList<>();
            for (GyroDropout g : given) {
                if (seen.put(g, Boolean.TRUE) == null) {
                    all.add(g);
                }
            }
            for (GyroDropout g : GyroDropout.findIn(root)) {
                if (seen.put(g, Boolean.TRUE) == null) {
                    all.add(g);
                }
            }
            if (all.isEmpty()) {
                throw new IllegalStateException("GyroDropoutCallback found no GyroDropout in the model, so it would"
                        + " do nothing; replace the model's dropouts first, or leave the callback out");
            }
            modules = List.copyOf(all);
        }
        for (GyroDropout g : modules) {
            if (!g.hasTrainingLength()) {
                int iters = g.itersPerEpoch() > 0 ? g.itersPerEpoch() : context.optimizerStepsPerEpoch();
                int epochs = g.maxEpoch() > 0 ? g.maxEpoch() : context.epochs();
                try {
                    g.setTrainingLength(iters, epochs);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("the training loop runs " + context.optimizerStepsPerEpoch()
                            + " steps per epoch for " + context.epochs() + " epochs, too short for " + g + ": "
                            + e.getMessage(), e);
                }
            }
        }
    }

    /** Sets every module's step counter to the loop's global step. */
    @Override
    public void onBatchBegin(TrainingContext context) {
        for (GyroDropout g : modules) {
            g.setStep(context.globalStep());
        }
    }

    @Override
    public String toString() {
        return "GyroDropoutCallback(" + (root != null ? "model" : modules.size() + " module(s)") + ")";
    }
}
