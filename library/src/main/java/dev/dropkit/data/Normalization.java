package dev.dropkit.data;

import dev.dropkit.core.Checks;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Turns uint8 pixels into network inputs: {@code (x / 255 - mean) / std}, in float32.
 *
 * @param mean mean of the pixels after scaling to [0, 1]
 * @param std standard deviation of the pixels after scaling to [0, 1]; positive
 */
public record Normalization(double mean, double std) {
    /** Scaling to [0, 1] only (mean 0, std 1). */
    public static final Normalization UNIT = new Normalization(0.0, 1.0);

    /**
     * Fashion-MNIST's training set, measured by dropkit over all 60000 x 784 pixels of the Debian
     * package's {@code train-images-idx3-ubyte.gz}: pixel sum 3431114169, sum of squares 631470052347,
     * so mean 0.28604060 and population std 0.35302424 (after dividing by 255), rounded to 4 decimals.
     * They agree with the values commonly quoted (0.2860, 0.3530). {@code FashionMnistTest} recomputes them.
     */
    public static final Normalization FASHION_MNIST = new Normalization(0.2860, 0.3530);

    /** @throws IllegalArgumentException for a non-finite mean or a std that is not positive and finite */
    public Normalization {
        if (!Double.isFinite(mean)) {
            throw new IllegalArgumentException("mean must be finite, got " + mean);
        }
        if (!(std > 0.0 && Double.isFinite(std))) {
            throw new IllegalArgumentException("std must be positive and finite, got " + std);
        }
    }

    /**
     * A new float32 tensor {@code (pixels / 255 - mean) / std} on the device of {@code pixels}. The input
     * is only read, so a view of a read-only mapping ({@link IdxDataset#images()}) is fine.
     *
     * @throws IllegalArgumentException unless {@code pixels} is a defined uint8 ({@link ScalarType#Byte}) tensor
     */
    public Tensor apply(Tensor pixels) {
        Checks.notNull("pixels", pixels);
        if (!pixels.defined()) {
            throw new IllegalArgumentException("pixels is an undefined tensor");
        }
        // intern(): enums returned by native calls are fresh objects (native-notes/native-enums-need-intern.md).
        ScalarType dtype = pixels.scalar_type().intern();
        if (dtype != ScalarType.Byte) {
            // Scaling floats by 1/255 again would silently shrink inputs that were already normalized.
            throw new IllegalArgumentException("pixels must be uint8 (ScalarType.Byte), got " + dtype);
        }
        // to(Float) of a Byte tensor is always a fresh tensor, so the in-place steps never touch the input.
        Tensor x = pixels.to(ScalarType.Float).div_(new Scalar(255.0));
        if (mean != 0.0) {
            x.sub_(new Scalar(mean));
        }
        if (std != 1.0) {
            x.div_(new Scalar(std));
        }
        return x;
    }
}
