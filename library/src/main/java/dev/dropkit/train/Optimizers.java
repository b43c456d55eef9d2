package dev.dropkit.train;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.TensorVector;

/** libtorch's SGD and Adam, created once the model's parameters are on their device. */
public final class Optimizers {
    private Optimizers() {}

    /** Makes an optimizer over a model's parameters. */
    @FunctionalInterface
    public interface Factory {
        /** Creates the optimizer for {@code parameters}. */
        Optimizer create(TensorVector parameters);
    }

    /** Plain SGD, {@code p -= lr * grad}, as in the notebook. */
    public static Factory sgd(double lr) {
        return sgd(lr, 0.0);
    }

    /** SGD with momentum. */
    public static Factory sgd(double lr, double momentum) {
        checkLr(lr);
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
        }
        return params -> {
            SGDOptions options = new SGDOptions(lr);
            options.momentum().put(momentum);
            return new SGD(params, options);
        };
    }

    /** Adam with default betas (0.9, 0.999) and eps 1e-8. */
    public static Factory adam(double lr) {
        checkLr(lr);
        return params -> new Adam(params, new AdamOptions(lr));
    }

    /** Parses {@code sgd} or {@code adam} with a learning rate. */
    public static Factory named(String name, double lr) {
        return switch (Checks.notNull("optimizer", name).trim().toLowerCase(java.util.Locale.ROOT)) {
            case "sgd" -> sgd(lr);
            case "adam" -> adam(lr);
            default -> throw new IllegalArgumentException("optimizer must be 'sgd' or 'adam', got '" + name + "'");
        };
    }

    private static void checkLr(double lr) {
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("learning rate must be positive and finite, got " + lr);
        }
    }
}
