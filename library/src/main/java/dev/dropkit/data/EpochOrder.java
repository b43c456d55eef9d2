package dev.dropkit.data;

import java.util.Random;

/**
 * The sample order of an epoch, shared by every {@link BatchSource}: a Fisher-Yates permutation drawn
 * from {@code new java.util.Random(seed * 1_000_003L + epoch)}, or file order without shuffling. It is
 * the same for the same seed on every machine and libtorch version, differs from epoch to epoch, and is
 * independent of libtorch's generator, so model initialization and dropout masks never shift the data.
 */
public final class EpochOrder {
    private EpochOrder() {}

    /** A permutation of {@code 0..n-1} for {@code epoch}, or the identity when {@code shuffle} is false. */
    public static int[] of(int n, boolean shuffle, long seed, int epoch) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            Random rnd = new Random(seed * 1_000_003L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }
}
