package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import java.util.Map;
import java.util.function.Predicate;
import org.bytedeco.pytorch.Module;

/**
 * Which residual blocks {@link StochasticDepthSurgery} wraps. Only Java modules implementing
 * {@link ResidualBlock} are ever wrapped; a target narrows that down. Its description is what the error
 * names when a model has no matching block.
 */
public final class BlockTarget {
    /**
     * Composer's {@code target_layer_name} values and the dropkit classes they mean:
     * {@code ResNetBottleneck} is Composer's name for torchvision's {@code Bottleneck}.
     */
    public static final Map<String, String> ALIASES = Map.of("ResNetBottleneck", "Bottleneck");

    private final String description;
    private final Predicate<Module> predicate;

    private BlockTarget(String description, Predicate<Module> predicate) {
        this.description = description;
        this.predicate = predicate;
    }

    /** Every {@link ResidualBlock} (the default). */
    public static BlockTarget residualBlocks() {
        return new BlockTarget("residual blocks (any ResidualBlock)", m -> true);
    }

    /** Blocks that are instances of {@code type} (a class or an interface). */
    public static BlockTarget ofClass(Class<?> type) {
        Checks.notNull("type", type);
        return new BlockTarget("blocks of class " + type.getSimpleName(), type::isInstance);
    }

    /**
     * Blocks whose class's simple name is {@code name}, after resolving Composer's aliases
     * ({@code "ResNetBottleneck"} means {@code Bottleneck}): Composer's {@code target_layer_name}.
     *
     * @throws IllegalArgumentException if the name is blank
     */
    public static BlockTarget named(String name) {
        Checks.notNull("target_layer_name", name);
        if (name.isBlank()) {
            throw new IllegalArgumentException("target_layer_name must not be blank, got '" + name + "'");
        }
        String simple = ALIASES.getOrDefault(name.trim(), name.trim());
        String description = simple.equals(name.trim()) ? "blocks named '" + simple + "'"
                : "blocks named '" + name.trim() + "' (class " + simple + ")";
        return new BlockTarget(description, m -> m.getClass().getSimpleName().equals(simple));
    }

    /** Blocks for which {@code predicate} holds; {@code description} says what it looks for, for errors. */
    public static BlockTarget matching(String description, Predicate<Module> predicate) {
        Checks.notNull("description", description);
        return new BlockTarget(description, Checks.notNull("predicate", predicate));
    }

    /** Whether {@code block} (a Java module, never a wrapper) is a target. */
    public boolean matches(Module block) {
        return predicate.test(block);
    }

    /** What this target looks for, e.g. {@code blocks named 'ResNetBottleneck' (class Bottleneck)}. */
    public String description() {
        return description;
    }

    @Override
    public String toString() {
        return description;
    }
}
