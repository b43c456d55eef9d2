package dev.dropkit.depth;

import dev.dropkit.core.Checks;
import dev.dropkit.surgery.ModuleSlot;
import dev.dropkit.surgery.ModuleSurgery;
import dev.dropkit.surgery.NativeContainers;
import dev.dropkit.surgery.SurgeryReport;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Module;

/**
 * Composer's {@code apply_stochastic_depth} for Java models: wraps every target residual block of a
 * module tree in a {@link StochasticDepth}, in place, through the shared {@link ModuleSurgery} walker
 * (which updates both libtorch's registered child and the Java field or list {@code forward} uses).
 *
 * <pre>{@code
 * ResNet net = ResNet.small(ResNet.Layout.RESNET50, 8, 1, 10);
 * StochasticDepthOptions options = StochasticDepthOptions.builder().targetLayerName("ResNetBottleneck")
 *         .method("sample").dropRate(0.1).distribution("linear").build();
 * SurgeryReport report = StochasticDepthSurgery.apply(net, options);   // 16 blocks wrapped
 * trainer = Trainer.builder(model).callback(StochasticDepthCallback.forModel(net, options)) ...   // warm-up
 * }</pre>
 *
 * <p>Block {@code i} of the {@code L} target blocks, in the order the walker visits them (registration
 * order, depth first: {@code layer1.0}, {@code layer1.1}, ..., {@code layer4.2} in a ResNet), gets
 * {@code options.distribution().rate(dropRate, i, L)}. Parameter and buffer names do not change, so a
 * checkpoint saved before surgery loads after it, and an optimizer created before it still holds the same
 * parameter tensors. Applying it again changes nothing: wrappers and the blocks they wrap are never
 * wrapped (the report then has no change).
 */
public final class StochasticDepthSurgery {
    /** The operation name in reports. */
    public static final String OPERATION = "stochastic depth";

    private StochasticDepthSurgery() {}

    /**
     * Wraps the target blocks of {@code model}.
     *
     * @return what changed (paths, before and after), with warnings for targets that could not be
     *     replaced (a Java field of a type too narrow for the wrapper, an unmodifiable list). Blocks held
     *     only by a native container are not found at all: libtorch hands back plain {@code Module}
     *     views, which are never a {@link ResidualBlock}, so hold blocks in Java fields or lists, or convert
     *     a model built from libtorch's containers with {@code NativeContainers.convert(model, mapper)} and
     *     a mapper that builds residual blocks ({@link dev.dropkit.nn.Residual}); the error says so when the
     *     model holds such containers.
     * @throws IllegalArgumentException if the model has no target block, naming what was looked for
     */
    public static SurgeryReport apply(Module model, StochasticDepthOptions options) {
        Checks.notNull("model", model);
        Checks.notNull("options", options);
        List<Target> targets = targets(model, options.target());
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("no block to apply stochastic depth to in " + describe(model)
                    + ": looked for " + options.target().description() + " among the Java modules implementing "
                    + ResidualBlock.class.getName() + notResidual(model, options.target()));
        }
        Map<String, Double> rates = new HashMap<>();
        for (int i = 0; i < targets.size(); i++) {
            if (!targets.get(i).wrapped()) {
                rates.put(targets.get(i).path(), options.rateOfBlock(i, targets.size()));
            }
        }
        return ModuleSurgery.replace(model, OPERATION,
                slot -> rates.containsKey(slot.path()) && slot.module() instanceof ResidualBlock
                        && !(slot.module() instanceof StochasticDepth),
                slot -> {
                    StochasticDepth sd = new StochasticDepth(slot.module(), rates.get(slot.path()), options.method(),
                            options.scaling());
                    if (options.warmup() > 0) {
                        sd.setRate(0.0); // a warm-up starts at 0; StochasticDepthCallback ramps it
                    }
                    return sd;
                });
    }

    /** Every {@link StochasticDepth} in {@code model}, in block order. */
    public static List<StochasticDepth> wrappers(Module model) {
        List<StochasticDepth> out = new ArrayList<>();
        for (ModuleSlot slot : ModuleSurgery.slots(Checks.notNull("model", model))) {
            if (slot.module() instanceof StochasticDepth sd) {
                out.add(sd);
            }
        }
        return out;
    }

    /** One target block: where it is and whether it is wrapped already. */
    record Target(String path, Module block, boolean wrapped) {}

    /** The target blocks, wrapped or not, in walker order; blocks nested inside a target are not targets. */
    static List<Target> targets(Module model, BlockTarget target) {
        List<Target> out = new ArrayList<>();
        for (ModuleSlot slot : ModuleSurgery.slots(model)) {
            if (out.stream().anyMatch(t -> slot.path().startsWith(t.path() + "."))) {
                continue;
            }
            Module m = slot.module();
            if (m instanceof StochasticDepth sd) {
                if (target.matches(sd.block())) {
                    out.add(new Target(slot.path(), sd.block(), true));
                }
            } else if (m instanceof ResidualBlock && target.matches(m)) {
                out.add(new Target(slot.path(), m, false));
            }
        }
        return out;
    }

    private static String notResidual(Module model, BlockTarget target) {
        List<String> near = new ArrayList<>();
        for (ModuleSlot slot : ModuleSurgery.slots(model)) {
            if (!(slot.module() instanceof ResidualBlock) && slot.javaHeld() && target.matches(slot.module())) {
                near.add(slot.path() + " (" + slot.module().getClass().getSimpleName() + ")");
            }
        }
        if (near.isEmpty() || near.size() == ModuleSurgery.slots(model).size()) {
            List<String> containers = NativeContainers.nativeContainers(model);
            return "; none found" + (containers.isEmpty() ? "" : ". The model holds libtorch containers ("
                    + String.join(", ", containers.stream().map(p -> p.isEmpty() ? "the root" : p).toList())
                    + "), whose blocks are plain libtorch modules, never a ResidualBlock: convert them with"
                    + " NativeContainers.convert(model, mapper), with a Mapper that builds ResidualBlocks (for"
                    + " example dev.dropkit.nn.Residual.of(node.asSequential()) for a residual branch), and apply"
                    + " stochastic depth to the model it returns");
        }
        return "; these match but do not implement ResidualBlock: " + String.join(", ", near);
    }

    private static String describe(Module model) {
        return model.getClass() == Module.class ? model.name().getString() : model.getClass().getSimpleName();
    }
}
