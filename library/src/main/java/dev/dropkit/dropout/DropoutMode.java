package dev.dropkit.dropout;

import java.util.Locale;

/** Where dropout puts the {@code 1/(1-p)} correction that keeps activations' expectation unchanged. */
public enum DropoutMode {
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

    /** Lower-case name, as shown in {@code toString} and accepted by {@link #parse(String)}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code inverted} or {@code classic}, ignoring case.
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static DropoutMode parse(String value) {
        if (value != null) {
            for (DropoutMode m : values()) {
                if (m.id().equalsIgnoreCase(value.trim())) {
                    return m;
                }
            }
        }
        throw new IllegalArgumentException("dropout mode must be 'inverted' or 'classic', got '" + value + "'");
    }
}
