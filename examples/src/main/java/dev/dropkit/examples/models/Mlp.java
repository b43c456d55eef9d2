package dev.dropkit.examples.models;

import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A multi-layer perceptron {@code in -> H -> ... -> H -> classes} with ReLU, and optionally a
 * {@link Dropout} after each hidden layer. Every child is also held in a Java list, because libtorch
 * frees a registered module whose Java object is collected (native-notes).
 */
public final class Mlp extends Module {
    private final List<LinearImpl> layers = new ArrayList<>();
    private final List<Dropout> dropouts = new ArrayList<>();

    /**
     * @param in input features (784 for 28x28 images)
     * @param hidden width H of every hidden layer
     * @param depth number of hidden layers
     * @param classes output classes
     * @param dropP drop probability after each hidden layer (length {@code depth}), or null for none
     * @param mode dropout mode
     */
    public Mlp(int in, int hidden, int depth, int classes, double[] dropP, DropoutMode mode) {
        this(in, hidden, depth, classes, dropP, mode, false);
    }

    /** As {@link #Mlp(int, int, int, int, double[], DropoutMode)}, with masks shared across the batch if asked. */
    public Mlp(int in, int hidden, int depth, int classes, double[] dropP, DropoutMode mode, boolean sharedMasks) {
        super("Mlp");
        if (dropP != null && dropP.length != depth) {
            throw new IllegalArgumentException("need " + depth + " drop probabilities, got " + dropP.length);
        }
        int width = in;
        for (int i = 0; i < depth; i++) {
            layers.add(register_module("fc" + (i + 1), new LinearImpl(width, hidden)));
            if (dropP != null) {
                dropouts.add(register_module("drop" + (i + 1), new Dropout(dropP[i], mode, sharedMasks)));
            }
            width = hidden;
        }
        layers.add(register_module("out", new LinearImpl(width, classes)));
    }

    /** The notebook's model: three hidden layers, classic dropout keeping 0.9, then 0.8 and 0.8. */
    public static Mlp notebook(int hidden, boolean withDropout) {
        return notebook(hidden, withDropout, false);
    }

    /**
     * The notebook's model; with {@code sharedMasks} each dropout draws one mask per feature for the whole
     * batch, as the notebook's {@code Dropout1D} does.
     */
    public static Mlp notebook(int hidden, boolean withDropout, boolean sharedMasks) {
        return new Mlp(784, hidden, 3, 10, withDropout ? new double[] {0.1, 0.2, 0.2} : null, DropoutMode.CLASSIC,
                sharedMasks);
    }

    /** Logits for a batch of flattened inputs. */
    public Tensor forward(Tensor x) {
        for (int i = 0; i < layers.size() - 1; i++) {
            x = torch.relu(layers.get(i).forward(x));
            if (!dropouts.isEmpty()) {
                x = dropouts.get(i).forward(x);
            }
        }
        return layers.get(layers.size() - 1).forward(x);
    }

    /** The dropout modules, in depth order (empty without dropout). */
    public List<Dropout> dropouts() {
        return List.copyOf(dropouts);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Mlp(").append(layers.get(0).weight().size(1));
        for (LinearImpl l : layers) {
            sb.append(" -> ").append(l.weight().size(0));
        }
        return sb.append(dropouts.isEmpty() ? ", no dropout)" : ", dropout " + dropouts + ")").toString();
    }
}
