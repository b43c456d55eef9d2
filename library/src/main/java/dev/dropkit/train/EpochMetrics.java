package dev.dropkit.train;

/**
 * One epoch's numbers. Training loss and accuracy are averaged over the epoch's batches (weighted by
 * batch size), as the model changed during it; evaluation numbers are for the model at the epoch's end.
 *
 * @param epoch 1-based epoch number
 * @param trainLoss mean cross-entropy over the epoch's training samples
 * @param trainAccuracy fraction of training samples classified correctly during the epoch
 * @param testLoss mean cross-entropy on the evaluation set (NaN without one)
 * @param testAccuracy fraction of evaluation samples classified correctly (NaN without one)
 * @param seconds wall time of the epoch's training (not evaluation)
 */
public record EpochMetrics(int epoch, double trainLoss, double trainAccuracy, double testLoss,
        double testAccuracy, double seconds) {

    /** The notebook's line: {@code epoch N: test/acc=… test/loss=… train/acc=… train/loss=…}. */
    public String notebookLine() {
        return String.format(java.util.Locale.ROOT,
                "epoch %d:\ttest/acc=%.3f\ttest/loss=%.3f\ttrain/acc=%.3f\ttrain/loss=%.3f",
                epoch, testAccuracy, testLoss, trainAccuracy, trainLoss);
    }
}
