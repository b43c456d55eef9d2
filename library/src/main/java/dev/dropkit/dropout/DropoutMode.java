package dev.dropkit.dropout;

import dev.dropkit.core.NamedEnum;

/** Where dropout puts the {@code 1/(1-p)} correction that keeps activations' expectation unchanged. */
public enum DropoutMode implements NamedEnum {
    /**
     * Scale kept units by {@code 1/(1-p)} during training; evaluation is the identity. What PyTorch's
     * {@code nn.Dropout} does, and the default: inference costs nothing.
     */
    INVERTED,
    /**
     * No scaling during training; multiply by the keep probability {@code 1-p} at evaluation. What the
     * 2014 paper describes and the seed notebook implements.
     */
    CLASSIC;

    /**
     * Parses {@code inverted} or {@code classic} (see {@link NamedEnum#parse}).
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DropoutMode parse(String value) {
        return NamedEnum.parse(DropoutMode.class, "dropout mode", value);
    }
}
