package dev.dropkit.examples;

import dev.dropkit.cli.options.DeviceOption;
import dev.dropkit.core.Devices;
import dev.dropkit.core.TorchInfo;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import java.util.Arrays;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The smallest end-to-end check: libtorch loads, a device is chosen, and dropkit's Dropout runs in both
 * modes, in training and in evaluation: a check that the native stack works on this machine.
 */
@Command(name = "smoke", mixinStandardHelpOptions = true,
        description = "Load libtorch, pick a device and run a Dropout forward in both modes.")
public final class SmokeDemo implements Callable<Integer> {
    @Option(names = "--seed", description = "Seed for libtorch and Java generators (default: ${DEFAULT-VALUE}).")
    long seed = 42;

    @Mixin
    DeviceOption device = DeviceOption.withDefault("auto");

    @Option(names = "-p", description = "Drop probability (default: ${DEFAULT-VALUE}).")
    double p = 0.5;

    @Override
    public Integer call() {
        System.out.println(TorchInfo.describe());
        Device dev = device.resolve();
        System.out.println("device:  " + Devices.describe(dev));
        Seeds.seed(seed);
        try (PointerScope scope = new PointerScope()) {
            Tensor x = torch.ones(new long[] {2, 8}, Tensors.options(torch.ScalarType.Float, dev));
            for (DropoutMode mode : DropoutMode.values()) {
                Dropout drop = new Dropout(p, mode);
                drop.train(true);
                float[] train = Tensors.toFloatArray(drop.forward(x));
                drop.eval();
                float[] eval = Tensors.toFloatArray(drop.forward(x));
                System.out.println(drop + " on ones(2, 8)");
                System.out.println("  train: " + Arrays.toString(train));
                System.out.println("  eval:  " + Arrays.toString(eval));
            }
        }
        return 0;
    }

    /** Runs the demo alone. */
    public static void main(String[] args) {
        System.exit(new picocli.CommandLine(new SmokeDemo()).execute(args));
    }
}
