package dev.dropkit.cli;

import dev.dropkit.core.Devices;
import dev.dropkit.core.TorchInfo;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** Prints the libtorch build, the device dropkit would use and the CUDA state. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the libtorch version, the CUDA state and the device dropkit would use.")
public final class InfoCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.out.println(TorchInfo.describe());
        System.out.println("device:  " + Devices.describe(Devices.preferred()));
        return 0;
    }
}
