package dev.dropkit.gyro;

import dev.dropkit.core.Tensors;
import dev.dropkit.ffm.TensorSegments;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Everything a {@link GyroDropout} remembers between steps, in one place: the {@code sigma} masks, the
 * active set, the step counter, the schedule's seed and the drop probability the masks were drawn for.
 *
 * <p>The host holds the truth (plain Java fields), so a training step reads nothing back from a device.
 * The module's registered buffers mirror it for {@code save}/{@code load}: {@code state} ({@code [3]} long:
 * step, index of the re-draw {@code active} holds or -1, seed), {@code active} ({@code [tau]} long) and
 * {@code p} ({@code [1]} double) are kept on the CPU even when the module moves to a GPU, and are written
 * by plain stores into their memory as the host values change (no kernel, no dispatcher call), so any
 * {@code save} at any time sees the current state. {@code masks} ({@code [sigma, C]} bool) lives on the
 * module's device, where the ready mask is built from it.
 *
 * <p>libtorch's {@code load} and {@code to()} change the registered tensors in place (same
 * {@code TensorImpl}, new storage or version: native-notes/module-load-replaces-buffers.md). Each buffer's
 * version and data address are remembered after we touch it; when either moved, {@link #refresh()} reads
 * the buffers back once (a device read only right after a {@code load} onto a GPU or a {@code to(device)}),
 * moves them back to the CPU, and tells the caller that the ready mask is stale. The stores go through
 * segments over the buffers' CPU memory, so {@link GyroDropout} refreshes at the start of every public entry
 * point before it writes: a store never reaches storage that libtorch has since replaced and freed.
 */
final class GyroState {
    private static final int STEP = 0;
    private static final int DRAW = 1;
    private static final int SEED = 2;

    private final int sigma;
    private final int tau;
    final Tensor masks;
    private final Tensor active;
    private final Tensor state;
    private final Tensor p;

    long step;
    long draw = -1;
    long seed;
    /** The drop probability the masks were drawn for (the one in force). */
    double effectiveP;
    /** The drop probability asked for; it takes effect at the next active-set change. */
    double requestedP;
    long[] activeSet = new long[0];
    /** Bumped whenever the masks, the active set or their p change: the ready mask must be rebuilt. */
    long generation;

    private final long[] seenVersion = new long[4];
    private final long[] seenAddress = new long[4];
    private final int[] seenType = new int[4];
    private MemorySegment stateMemory;
    private MemorySegment activeMemory;
    private MemorySegment pMemory;

    GyroState(Module owner, int sigma, int tau, double p) {
        this.sigma = sigma;
        this.tau = tau;
        this.effectiveP = p;
        this.requestedP = p;
        masks = torch.empty(new long[] {0, 0}, new TensorOptions(torch.ScalarType.Bool), new MemoryFormatOptional());
        active = torch.zeros(new long[] {tau}, new TensorOptions(torch.ScalarType.Long));
        state = torch.tensor(new long[] {0, -1, 0}).to(torch.ScalarType.Long);
        this.p = torch.full(new long[] {1}, new org.bytedeco.pytorch.Scalar(p), new TensorOptions(torch.ScalarType.Double));
        owner.register_buffer("masks", masks);
        owner.register_buffer("active", active);
        owner.register_buffer("state", state);
        owner.register_buffer("p", this.p);
        remember();
        stateMemory = TensorSegments.view(state);
        activeMemory = TensorSegments.view(active);
        pMemory = TensorSegments.view(this.p);
    }

    private Tensor[] buffers() {
        return new Tensor[] {masks, active, state, p};
    }

    /** Whether libtorch changed a buffer behind our back (load, to) since we last wrote or read it. */
    private boolean changed() {
        Tensor[] b = buffers();
        for (int i = 0; i < b.length; i++) {
            // the type too: a to(device) and back can land a converted buffer at the address it had before
            if (b[i]._version() != seenVersion[i] || address(b[i]) != seenAddress[i]
                    || b[i].scalar_type().value != seenType[i]) {
                return true;
            }
        }
        return false;
    }

    /** The data address, 0 for an empty tensor (whose data_ptr() is null). */
    private static long address(Tensor t) {
        var ptr = t.data_ptr();
        return ptr == null ? 0 : ptr.address();
    }

    private void remember() {
        Tensor[] b = buffers();
        for (int i = 0; i < b.length; i++) {
            seenVersion[i] = b[i]._version();
            seenAddress[i] = address(b[i]);
            seenType[i] = b[i].scalar_type().value;
        }
    }

    /**
     * Reads the buffers back into the host fields if libtorch changed them; returns whether it did (the
     * ready mask is then stale).
     *
     * @throws IllegalStateException for buffers that do not fit this module or were converted to a type that
     *     cannot hold them exactly
     */
    boolean refresh() {
        if (!changed()) {
            return false;
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
        if (state.numel() != 3 || active.numel() != tau || p.numel() != 1
                || (masks.numel() > 0 && (masks.dim() != 2 || masks.size(0) != sigma))) {
            throw new IllegalStateException("GyroDropout buffers do not fit sigma=" + sigma + ", tau=" + tau + ": state "
                    + Arrays.toString(Tensors.shape(state)) + ", active " + Arrays.toString(Tensors.shape(active))
                    + ", p " + Arrays.toString(Tensors.shape(p)) + ", masks " + Arrays.toString(Tensors.shape(masks))
                    + "; was the checkpoint written with other sigma or tau?");
        }
        double[] s = Tensors.toDoubleArray(state);
        double[] a = Tensors.toDoubleArray(active);
        double loadedP = Tensors.toDoubleArray(p)[0];
        torch.ScalarType pType = p.scalar_type().intern();
        if (pType != torch.ScalarType.Double && (float) loadedP == (float) effectiveP) {
            loadedP = effectiveP; // Module.to(Float) rounded our own value: keep it exact
        }
        toCpu(state, torch.ScalarType.Long);
        toCpu(active, torch.ScalarType.Long);
        toCpu(p, torch.ScalarType.Double);
        if (masks.numel() > 0 && masks.scalar_type().intern() != torch.ScalarType.Bool) {
            masks.set_data(masks.to(torch.ScalarType.Bool));
        }
        stateMemory = TensorSegments.view(state);
        activeMemory = TensorSegments.view(active);
        pMemory = TensorSegments.view(p);
        step = (long) s[STEP];
        draw = (long) s[DRAW];
        seed = (long) s[SEED];
        boolean pChanged = effectiveP != loadedP;
        effectiveP = loadedP;
        if (pChanged) {
            requestedP = loadedP;
        }
        activeSet = draw < 0 ? new long[0] : Arrays.stream(a).mapToLong(v -> (long) v).toArray();
        writeAll(); // the converted buffers hold the same values, exactly
        generation++;
        return true;
    }

    private static void toCpu(Tensor t, torch.ScalarType type) {
        if (t.is_cuda() || t.scalar_type().intern() != type || !t.is_contiguous()) {
            t.set_data(t.to(type).cpu().contiguous());
        }
    }

    /** Sets the step counter (one store into the CPU buffer). */
    void setStep(long value) {
        step = value;
        stateMemory.setAtIndex(ValueLayout.JAVA_LONG, STEP, value);
    }

    /** A new active set, for re-draw {@code index}. */
    void setActive(long index, long[] set) {
        draw = index;
        activeSet = set.clone();
        writeAll();
        generation++;
    }

    /**
     * Freshly drawn masks for {@code drawnFor} (or none, {@code drawn == null}, when it is 0), with the
     * schedule's seed; an active set is to be chosen next.
     */
    void setMasks(Tensor drawn, double drawnFor, long newSeed) {
        if (drawn != null) {
            masks.set_(drawn);
        }
        effectiveP = drawnFor;
        seed = newSeed;
        writeAll();
        generation++;
    }

    /** The drop probability in force changes without new masks (to or from 0, where none are used). */
    void setEffectiveP(double value) {
        effectiveP = value;
        writeAll();
        generation++;
    }

    private void writeAll() {
        stateMemory.setAtIndex(ValueLayout.JAVA_LONG, STEP, step);
        stateMemory.setAtIndex(ValueLayout.JAVA_LONG, DRAW, draw);
        stateMemory.setAtIndex(ValueLayout.JAVA_LONG, SEED, seed);
        for (int i = 0; i < activeSet.length; i++) {
            activeMemory.setAtIndex(ValueLayout.JAVA_LONG, i, activeSet[i]);
        }
        pMemory.setAtIndex(ValueLayout.JAVA_DOUBLE, 0, effectiveP);
        remember();
    }

    boolean hasMasks() {
        return masks.numel() > 0;
    }
}
