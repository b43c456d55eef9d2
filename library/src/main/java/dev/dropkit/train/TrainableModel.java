package dev.dropkit.train;

import dev.dropkit.core.Checks;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * What the training loop needs of a model. libtorch's Java {@link Module} has no {@code forward}
 * (every module declares its own), and TorchScript modules are not {@code Module}s at all, so the loop
 * talks to this interface; {@link #of(Module, UnaryOperator)} adapts an ordinary Java model.
 */
public interface TrainableModel {
    /** Computes logits for a batch of inputs. */
    Tensor forward(Tensor input);

    /** Switches training mode (dropout active) on or off, recursively. */
    void train(boolean on);

    /** The trainable parameters, for the optimizer. */
    TensorVector parameters();

    /** Moves parameters and buffers to {@code device}. */
    void to(Device device);

    /** Writes parameters and buffers into {@code archive}. */
    void save(OutputArchive archive);

    /** Reads parameters and buffers written by {@link #save(OutputArchive)}. */
    void load(InputArchive archive);

    /**
     * Adapts a Java module tree and its forward function.
     *
     * <pre>{@code TrainableModel model = TrainableModel.of(net, net::forward);}</pre>
     */
    static TrainableModel of(Module module, UnaryOperator<Tensor> forward) {
        Checks.notNull("module", module);
        Checks.notNull("forward", forward);
        return new TrainableModel() {
            @Override
            public Tensor forward(Tensor input) {
                return forward.apply(input);
            }

            @Override
            public void train(boolean on) {
                module.train(on);
            }

            @Override
            public TensorVector parameters() {
                return module.parameters();
            }

            @Override
            public void to(Device device) {
                module.to(device, false);
            }

            @Override
            public void save(OutputArchive archive) {
                module.save(archive);
            }

            @Override
            public void load(InputArchive archive) {
                module.load(archive);
            }
        };
    }
}
