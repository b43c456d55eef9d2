package dev.dropkit.dropgrad;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Tensors;
import dev.dropkit.schedule.Schedule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * DropGrad's rules resolved against one model: which parameters it acts on, under which names, and the
 * schedule of each one's rate. Kept apart from the per-step machinery ({@link RoundDraw}, {@link HookRound},
 * {@link FlatGradients}) so that what a user configured can be read without reading how it runs.
 */
final class DropGradRules {
    /** One builder rule: a name pattern or one tensor, and its schedule (null: exclude). */
    record Rule(String pattern, Pattern regex, Tensor parameter, Schedule schedule) {}

    final List<String> names;
    final List<Tensor> params;
    final Schedule[] schedules;

    private DropGradRules(List<String> names, List<Tensor> params, List<Schedule> schedules) {
        this.names = List.copyOf(names);
        // Own copies: a tensor read from a native container is a view that dies with the container, and one
        // made under the caller's PointerScope dies with the scope, while DropGrad and its hooks live on.
        // The copies share the parameters' storage; the garbage collector frees them with DropGrad.
        this.params = params.stream().map(p -> {
            Tensor own = new Tensor(p);
            own.retainReference();
            return own;
        }).toList();
        this.schedules = schedules.toArray(new Schedule[0]);
    }

    int size() {
        return params.size();
    }

    /** Every parameter's rate at a point of training, each checked to lie in [0, 1). */
    double[] evaluate(long step, int epoch, double progress) {
        double[] out = new double[schedules.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Checks.probabilityBelowOne("drop rate of '" + names.get(i) + "' at step " + step,
                    schedules[i].valueAt(step, epoch, progress));
        }
        return out;
    }

    /**
     * Resolves rules against named parameters, in the map's order: the last matching rule wins, the default
     * applies where none matches, an exclude leaves a parameter alone.
     */
    static DropGradRules resolve(List<Rule> rules, Schedule defaultRate, Map<String, Tensor> namedParameters) {
        List<String> allNames = new ArrayList<>(namedParameters.keySet());
        List<Tensor> all = new ArrayList<>(namedParameters.values());
        Schedule[] chosen = new Schedule[all.size()];
        boolean[] excluded = new boolean[all.size()];
        for (Rule rule : rules) {
            boolean matched = false;
            for (int i = 0; i < all.size(); i++) {
                boolean hit = rule.parameter() != null ? all.get(i).is_same(rule.parameter())
                        : rule.regex().matcher(allNames.get(i)).matches();
                if (hit) {
                    if (rule.parameter() != null && !all.get(i).requires_grad()) {
                        throw new IllegalArgumentException("parameter '" + allNames.get(i)
                                + "' has a drop rate but does not require grad");
                    }
                    chosen[i] = rule.schedule();
                    excluded[i] = rule.schedule() == null;
                    matched = true;
                }
            }
            if (!matched) {
                throw new IllegalArgumentException(rule.parameter() != null
                        ? "a " + rule.parameter().scalar_type() + " tensor of shape "
                                + Arrays.toString(Tensors.shape(rule.parameter()))
                                + " has a drop rate but is not a parameter of the model"
                        : "pattern '" + rule.pattern() + "' matches no parameter of the model; its parameters are "
                                + listOf(allNames));
            }
        }
        List<String> names = new ArrayList<>();
        List<Tensor> params = new ArrayList<>();
        List<Schedule> schedules = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            Schedule s = chosen[i] != null ? chosen[i] : excluded[i] ? null : defaultRate;
            if (s != null && all.get(i).requires_grad()) {
                names.add(allNames.get(i));
                params.add(all.get(i));
                schedules.add(s);
            }
        }
        if (params.isEmpty()) {
            throw new IllegalArgumentException("no trainable parameter has a drop rate: give a default rate(...)"
                    + " or rates for patterns or parameters; the parameters are " + listOf(allNames));
        }
        return new DropGradRules(names, params, schedules);
    }

    /** A glob ({@code *} any run of characters, {@code ?} one) as a regular expression. */
    static Pattern glob(String pattern) {
        if (Checks.notNull("pattern", pattern).isEmpty()) {
            throw new IllegalArgumentException("pattern must not be empty");
        }
        StringBuilder regex = new StringBuilder();
        for (String part : pattern.split("(?=[*?])|(?<=[*?])")) {
            regex.append(switch (part) {
                case "*" -> ".*";
                case "?" -> ".";
                default -> Pattern.quote(part);
            });
        }
        return Pattern.compile(regex.toString());
    }

    /**
     * Checks that every parameter with a rate is optimized by {@code optimizer}.
     *
     * @throws IllegalArgumentException naming the first parameter that is not
     */
    void checkTrainedBy(Optimizer optimizer, String what) {
        TensorVector trained = optimizedParameters(optimizer);
        Set<Long> impls = new HashSet<>();
        for (long i = 0; i < trained.size(); i++) {
            impls.add(trained.get(i).unsafeGetTensorImpl().address());
        }
        for (int i = 0; i < params.size(); i++) {
            if (!impls.contains(params.get(i).unsafeGetTensorImpl().address())) {
                throw new IllegalArgumentException("parameter '" + names.get(i) + "' has a drop rate but is not"
                        + " optimized by " + what);
            }
        }
    }

    /**
     * An optimizer's parameters, group by group. {@code Optimizer.parameters()} would do, but libtorch
     * prints a deprecation warning on every call.
     */
    static TensorVector optimizedParameters(Optimizer optimizer) {
        TensorVector out = new TensorVector();
        var groups = optimizer.param_groups();
        for (long g = 0; g < groups.size(); g++) {
            TensorVector params = groups.get(g).params();
            for (long i = 0; i < params.size(); i++) {
                out.push_back(params.get(i));
            }
        }
        return out;
    }

    static String listOf(List<String> names) {
        int shown = Math.min(names.size(), 12);
        String list = String.join(", ", names.subList(0, shown));
        return names.isEmpty() ? "no parameters" : list + (shown < names.size() ? ", ... (" + names.size() + ")" : "");
    }
}
