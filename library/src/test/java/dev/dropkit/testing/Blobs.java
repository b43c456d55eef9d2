package dev.dropkit.testing;

import dev.dropkit.core.Seeds;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Four Gaussian blobs in 8-D (512 training, 256 test samples, seed 7): learnable in a few steps, not
 * trivially, so training-loop tests can watch the loss fall.
 */
public record Blobs(Tensor xTrain, Tensor yTrain, Tensor xTest, Tensor yTest) {
    /** Draws the data set; it reseeds libtorch with 7 first, so every call gives the same tensors. */
    public static Blobs fourInEightD() {
        Seeds.seed(7);
        Tensor centers = torch.randn(4, 8).mul(new Scalar(2));
        Tensor yTrain = torch.randint(4, new long[] {512});
        Tensor xTrain = centers.index_select(0, yTrain).add(torch.randn(512, 8));
        Tensor yTest = torch.randint(4, new long[] {256});
        Tensor xTest = centers.index_select(0, yTest).add(torch.randn(256, 8));
        return new Blobs(xTrain, yTrain, xTest, yTest);
    }
}
