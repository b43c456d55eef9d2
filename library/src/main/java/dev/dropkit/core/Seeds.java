package dev.dropkit.core;

import java.util.Random;
import org.bytedeco.pytorch.global.torch;

/**
 * The one seeding entry point. {@link #seed(long)} seeds libtorch's default CPU generator, every
 * CUDA generator, and a Java {@link Random} that dropkit's Java-side choices (shuffles, schedules)
 * draw from, so that one number fixes a whole run.
 */
public final class Seeds {
    private static Random javaRandom = new Random(0);
    private static long current = 0;

    private Seeds() {}

    /** Seeds libtorch (CPU and all CUDA devices) and dropkit's Java generator. */
    public static synchronized void seed(long seed) {
        torch.manual_seed(seed); // at::manual_seed also seeds every CUDA generator when CUDA is present
        javaRandom = new Random(seed);
        current = seed;
    }

    /**
     * Reseeds only libtorch's generators (CPU and CUDA) with a value derived from {@code seed} and
     * {@code stream}, leaving the Java generator alone. The training loop does this at every epoch start,
     * so an epoch's random draws depend only on the seed and the epoch number: a run resumed from a
     * checkpoint draws exactly what an uninterrupted run draws, on CPU and CUDA, without having to save
     * generator states.
     */
    public static void reseedLibtorch(long seed, long stream) {
        torch.manual_seed(SplitMix64.streamSeed(seed, stream)); // positive, though any 64 bits would do: for logs
    }

    /** The seed last passed to {@link #seed(long)} (0 if never called). */
    public static synchronized long current() {
        return current;
    }

    /** The Java generator seeded by the last {@link #seed(long)}. */
    public static synchronized Random javaRandom() {
        return javaRandom;
    }

    /**
     * A fresh Java generator derived from the current seed and a stream name, for a component that
     * needs its own reproducible stream regardless of what else draws from {@link #javaRandom()}.
     */
    public static synchronized Random derived(String stream) {
        return new Random(SplitMix64.streamSeed(current, stream.hashCode()));
    }
}
