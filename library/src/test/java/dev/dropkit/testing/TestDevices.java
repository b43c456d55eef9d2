package dev.dropkit.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dropkit.core.Devices;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;

/**
 * Device parameters for tests: every test parameterized over {@link #names()} runs on the CPU always and
 * on CUDA when present; {@link #device(String)} skips the CUDA case, with the reason, when it is not.
 */
public final class TestDevices {
    private TestDevices() {}

    /** Device names tests run on: {@code cpu} and {@code cuda}. */
    public static Stream<String> names() {
        return Stream.of("cpu", "cuda");
    }

    /** The device for {@code name}, or a skip ("assumption failed") when CUDA is absent. */
    public static Device device(String name) {
        if (name.startsWith("cuda")) {
            assumeTrue(Devices.cudaAvailable(),
                    "CUDA is not available on this machine (no GPU or driver): CUDA case skipped");
        }
        return Devices.parse(name);
    }

    /** Standard deviation of the mean of {@code n} Bernoulli({@code p}) draws. */
    public static double bernoulliSigma(double p, long n) {
        return Math.sqrt(p * (1 - p) / n);
    }
}
