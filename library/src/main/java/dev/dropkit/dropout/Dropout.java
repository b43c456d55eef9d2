package dev.dropkit.dropout;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * Dropout as a module, for Java models built on {@link Module}: register it with
 * {@code register_module("drop", new Dropout(0.2))} and call {@link #forward(Tensor)}. It follows the
 * module's training flag ({@code train()} / {@code eval()} on it or on any parent).
 *
 * <p>It extends libtorch's {@link DropoutImpl} so that it fits wherever a model holds one (a field
 * typed {@code DropoutImpl}), which is what lets surgery swap dropouts in place; Java callers get this
 * class's {@code forward}. A native container such as {@code SequentialImpl} calls the C++ forward
 * instead, so keep dropkit modules in Java fields or lists, or in dropkit's Java containers
 * ({@link dev.dropkit.nn.Sequential}; see native-notes).
 *
 * <pre>{@code
 * Dropout drop = new Dropout(0.5);                       // inverted, like nn.Dropout(0.5)
 * Dropout paper = new Dropout(0.2, DropoutMode.CLASSIC);  // scales at evaluation instead
 * }</pre>
 */
public class Dropout extends DropoutImpl {
    private volatile double p;
    private final DropoutMode mode;
    private final boolean sharedAcrossBatch;

    /** Inverted dropout with drop probability {@code p} in [0, 1]. */
    public Dropout(double p) {
        this(p, DropoutMode.INVERTED);
    }

    /**
     * Dropout with drop probability {@code p} in [0, 1] and the given mode.
     *
     * @throws IllegalArgumentException if {@code p} is outside [0, 1] or not finite, or mode is null
     */
    public Dropout(double p, DropoutMode mode) {
        this(p, mode, false);
    }

    /**
     * Dropout whose mask, in training, is drawn once per feature and shared by the whole batch (the
     * notebook's {@code Dropout1D}) when {@code sharedAcrossBatch}; see
     * {@link DropoutOps#dropout(Tensor, double, DropoutMode, boolean, boolean)}.
     */
    public Dropout(double p, DropoutMode mode, boolean sharedAcrossBatch) {
        super(Checks.probability("p", p));
        this.p = p;
        this.mode = Checks.notNull("mode", mode);
        this.sharedAcrossBatch = sharedAcrossBatch;
    }

    /** A dropout in the paper's classic form, given the keep probability the notebook calls {@code p}. */
    public static Dropout classicWithKeepProbability(double keep) {
        return new Dropout(1.0 - Checks.probability("keep probability", keep), DropoutMode.CLASSIC);
    }

    /** Applies dropout according to this module's training flag. */
    @Override
    public Tensor forward(Tensor input) {
        return DropoutOps.dropout(input, p, mode, is_training(), sharedAcrossBatch);
    }

    /** Drop probability. */
    public double p() {
        return p;
    }

    /**
     * Changes the drop probability from the next forward on (schedules: early or late dropout, ramps).
     *
     * @throws IllegalArgumentException if {@code p} is outside [0, 1] or not finite
     */
    public void setP(double p) {
        this.p = Checks.probability("p", p);
    }

    /** Where the {@code 1/(1-p)} correction is applied. */
    public DropoutMode mode() {
        return mode;
    }

    /** Whether one mask per feature is shared by every sample of a batch. */
    public boolean sharedAcrossBatch() {
        return sharedAcrossBatch;
    }

    @Override
    public String toString() {
        return "Dropout(p=" + p + ", mode=" + mode.id() + (sharedAcrossBatch ? ", shared_across_batch" : "") + ")";
    }
}
