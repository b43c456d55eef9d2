package dev.dropkit.gyro;

import dev.dropkit.core.Checks;

/**
 * The hyperparameters of {@link GyroDropout}, validated when set.
 *
 * <pre>{@code
 * GyroDropoutOptions lenet = GyroDropoutOptions.builder().p(0.5).sigma(256).tau(16).build();
 * GyroDropoutOptions resnet = GyroDropoutOptions.builder().sigma(1024).tau(8)
 *         .itersPerEpoch(391).maxEpoch(200).build();   // or let GyroDropoutCallback take them from the loop
 * }</pre>
 *
 * <p>The paper suggests (sigma, tau) = (256, 16) for LeNet/AlexNet-like models and (1024, 8) for
 * ResNet-18 or BERT. {@code itersPerEpoch} and {@code maxEpoch} describe the whole run, because the
 * active sub-networks are re-drawn every
 * {@code iterNum = floor(itersPerEpoch * maxEpoch / sigma) * tau} steps so that each sub-network gets
 * about the same number of steps; 0 means "not known yet" (a {@link GyroDropoutCallback} fills them in
 * from the training loop).
 *
 * <p>The builder checks each value as it is set; the constructor checks them all again, so options made
 * without the builder are just as valid.
 *
 * @param p probability that a sub-network's mask drops a unit (feature or channel), in [0, 1)
 * @param sigma number of pre-selected sub-networks (masks)
 * @param tau number of sub-networks active in one step (the batch is split into this many groups)
 * @param itersPerEpoch steps per epoch, or 0 when it is to be taken from the training loop
 * @param maxEpoch epochs of the run, or 0 when it is to be taken from the training loop
 * @param selection how the active sub-networks are drawn
 * @param featuresLast whether masks cover the input's last dimension ({@code [N, L, D]} sequences: the D
 *     hidden units of every position, as for BERT) instead of dimension 1 ({@code [N, C, *]}: features or
 *     channels)
 */
public record GyroDropoutOptions(double p, int sigma, int tau, int itersPerEpoch, int maxEpoch,
        GyroSelection selection, boolean featuresLast) {
    /** Composer's default drop probability. */
    public static final double DEFAULT_P = 0.5;
    /** Composer's default number of pre-selected sub-networks. */
    public static final int DEFAULT_SIGMA = 256;
    /** Composer's default number of sub-networks active at once. */
    public static final int DEFAULT_TAU = 16;

    /**
     * @throws IllegalArgumentException for a value out of range, {@code tau > sigma}, or a known run with
     *     fewer steps than {@code sigma} (see {@link GyroSchedule#iterNum})
     */
    public GyroDropoutOptions {
        Checks.probabilityBelowOne("p", p);
        Checks.positive("sigma", sigma);
        Checks.positive("tau", tau);
        Checks.nonNegative("itersPerEpoch", itersPerEpoch);
        Checks.nonNegative("maxEpoch", maxEpoch);
        Checks.notNull("selection", selection);
        GyroSchedule.checkSigmaTau(sigma, tau);
        if (itersPerEpoch > 0 && maxEpoch > 0) {
            GyroSchedule.iterNum(itersPerEpoch, maxEpoch, sigma, tau);
        }
    }

    /** A builder holding the defaults: p 0.5, sigma 256, tau 16, training length unset, permutation. */
    public static Builder builder() {
        return new Builder();
    }

    /** The defaults, training length unset. */
    public static GyroDropoutOptions defaults() {
        return builder().build();
    }

    /** A builder starting from these options (for example to change only {@code p}). */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.p = p;
        b.sigma = sigma;
        b.tau = tau;
        b.itersPerEpoch = itersPerEpoch;
        b.maxEpoch = maxEpoch;
        b.selection = selection;
        b.featuresLast = featuresLast;
        return b;
    }

    /** {@code p=0.5, sigma=256, tau=16, itersPerEpoch=unset, maxEpoch=unset, selection=permutation}. */
    @Override
    public String toString() {
        return settings(Double.toString(p), itersPerEpoch, maxEpoch, 0);
    }

    /**
     * These settings in the one form that the options, a {@link GyroDropout} and a TorchScript rewrite
     * all print, with the values only the caller knows.
     *
     * @param p the drop probability as it should read (a rewrite that keeps each call's own says so)
     * @param itersPerEpoch steps per epoch, 0 for unset (a GyroDropout may learn the run's length after
     *     its options were built)
     * @param maxEpoch epochs of the run, 0 for unset
     * @param iterNum steps between re-draws of the active sub-networks, shown when positive
     */
    public String settings(String p, int itersPerEpoch, int maxEpoch, long iterNum) {
        return "p=" + p + ", sigma=" + sigma + ", tau=" + tau + ", itersPerEpoch=" + countOrUnset(itersPerEpoch)
                + ", maxEpoch=" + countOrUnset(maxEpoch) + (iterNum > 0 ? ", iterNum=" + iterNum : "")
                + ", selection=" + selection.id() + (featuresLast ? ", features=last" : "");
    }

    private static String countOrUnset(int value) {
        return value == 0 ? "unset" : Integer.toString(value);
    }

    /** Collects and validates options; {@link #build()} checks the ones that depend on each other. */
    public static final class Builder {
        private double p = DEFAULT_P;
        private int sigma = DEFAULT_SIGMA;
        private int tau = DEFAULT_TAU;
        private int itersPerEpoch;
        private int maxEpoch;
        private GyroSelection selection = GyroSelection.PERMUTATION;
        private boolean featuresLast;

        private Builder() {}

        /** Drop probability in [0, 1) (1 would leave nothing to rescale). */
        public Builder p(double p) {
            this.p = Checks.probabilityBelowOne("p", p);
            return this;
        }

        /** Number of pre-selected sub-networks, at least {@code tau}. */
        public Builder sigma(int sigma) {
            this.sigma = (int) Checks.positive("sigma", sigma);
            return this;
        }

        /** Number of sub-networks active at once, at least 1 and at most {@code sigma}. */
        public Builder tau(int tau) {
            this.tau = (int) Checks.positive("tau", tau);
            return this;
        }

        /** Steps (mini-batches) per epoch of the run. */
        public Builder itersPerEpoch(int itersPerEpoch) {
            this.itersPerEpoch = (int) Checks.positive("itersPerEpoch", itersPerEpoch);
            return this;
        }

        /** Epochs of the run. */
        public Builder maxEpoch(int maxEpoch) {
            this.maxEpoch = (int) Checks.positive("maxEpoch", maxEpoch);
            return this;
        }

        /** How active sub-networks are drawn (default {@link GyroSelection#PERMUTATION}). */
        public Builder selection(GyroSelection selection) {
            this.selection = Checks.notNull("selection", selection);
            return this;
        }

        /**
         * Masks over the input's last dimension instead of dimension 1 (default false): for {@code [N, L, D]}
         * sequences, where dimension 1 is the position; a sub-network is then a subset of the D hidden units,
         * the same at every position.
         */
        public Builder featuresLast(boolean featuresLast) {
            this.featuresLast = featuresLast;
            return this;
        }

        /**
         * The options.
         *
         * @throws IllegalArgumentException if {@code tau > sigma}, or if the run is known and has fewer
         *     steps than {@code sigma} (see {@link GyroSchedule#iterNum})
         */
        public GyroDropoutOptions build() {
            return new GyroDropoutOptions(p, sigma, tau, itersPerEpoch, maxEpoch, selection, featuresLast);
        }
    }
}
