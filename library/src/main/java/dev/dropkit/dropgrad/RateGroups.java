package dev.dropkit.dropgrad;

import dev.dropkit.core.Tensors;
import dev.dropkit.schedule.Schedule;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * DropGrad's parameters grouped by resolved rate: the parameters that share one schedule, one device and
 * one dtype always have the same rate, so one mask draw and one multiply can serve all of them (on CUDA a
 * step costs kernels, not elements). Grouped by schedule rather than by the current value, so that a
 * scheduled rate does not regroup the parameters, and reallocate their flat buffers, at every step.
 *
 * <p>Each group lays its members out one after another, in parameter order: {@link #offset} is where a
 * member starts in its group's mask and in its flat gradient buffer. The layout is taken from the
 * parameters when the groups are made; {@link #matches} tells whether they have since moved to another
 * device or dtype.
 */
final class RateGroups {
    /** One group: members in parameter order, their shapes and offsets, the group's device and dtype. */
    static final class Group {
        final int index;
        final int[] members;
        final long[] offsets;
        final long[][] shapes;
        final long total;
        final boolean cpu;
        final long deviceIndex;
        final int dtypeValue;
        final ScalarType dtype;
        final Device device;

        private Group(int index, List<Integer> members, List<Tensor> params) {
            this.index = index;
            this.members = members.stream().mapToInt(Integer::intValue).toArray();
            this.offsets = new long[this.members.length];
            this.shapes = new long[this.members.length][];
            long at = 0;
            for (int k = 0; k < this.members.length; k++) {
                Tensor p = params.get(this.members[k]);
                offsets[k] = at;
                shapes[k] = Tensors.shape(p);
                at += p.numel();
            }
            this.total = at;
            Tensor first = params.get(this.members[0]);
            this.cpu = first.is_cpu();
            this.deviceIndex = deviceIndex(first);
            this.dtype = first.scalar_type().intern();
            this.dtypeValue = dtype.value;
            try (PointerScope ignored = new PointerScope()) {
                Device d = first.device();
                d.retainReference(); // lives with the groups, past this scope
                this.device = d;
            }
        }
    }

    private record Key(Schedule schedule, boolean cpu, long deviceIndex, int dtype) {}

    final Group[] groups;
    /** The group of each parameter, and its position among the group's members. */
    final int[] groupOf;
    final int[] slotOf;

    private RateGroups(Group[] groups, int size) {
        this.groups = groups;
        this.groupOf = new int[size];
        this.slotOf = new int[size];
        for (Group g : groups) {
            for (int k = 0; k < g.members.length; k++) {
                groupOf[g.members[k]] = g.index;
                slotOf[g.members[k]] = k;
            }
        }
    }

    /** Groups {@code params} by schedule (same object, or equal schedules), device and dtype, in first-member order. */
    static RateGroups of(List<Tensor> params, Schedule[] schedules) {
        Map<Key, List<Integer>> byKey = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            Key key = new Key(schedules[i], p.is_cpu(), deviceIndex(p), p.scalar_type().value);
            byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(i);
        }
        Group[] groups = new Group[byKey.size()];
        int g = 0;
        for (List<Integer> members : byKey.values()) {
            groups[g] = new Group(g, members, params);
            g++;
        }
        return new RateGroups(groups, params.size());
    }

    /** -1 on the CPU, else a number for the device's type and index (a {@code Device} costs an allocation). */
    static long deviceIndex(Tensor p) {
        if (p.is_cpu()) {
            return -1;
        }
        try (PointerScope ignored = new PointerScope()) {
            Device d = p.device();
            return d.type().intern().value * 1024L + d.index();
        }
    }

    /** The group parameter {@code i} belongs to. */
    Group group(int i) {
        return groups[groupOf[i]];
    }

    /** Where parameter {@code i} starts in its group's mask and flat buffer. */
    long offset(int i) {
        return groups[groupOf[i]].offsets[slotOf[i]];
    }

    /**
     * Whether every parameter is still on its group's device, and off the CPU in its dtype (a model moved
     * after build would not be). CPU groups are not checked for dtype here, to keep a CPU step's bookkeeping
     * to one call per parameter: their masks are hashed per parameter whatever the dtype, and the flat
     * buffers check each member's dtype before aliasing it.
     */
    boolean matches(List<Tensor> params) {
        for (Group g : groups) {
            for (int m : g.members) {
                Tensor p = params.get(m);
                if (p.is_cpu() != g.cpu || (!g.cpu && (deviceIndex(p) != g.deviceIndex
                        || p.scalar_type().value != g.dtypeValue))) {
                    return false;
                }
            }
        }
        return true;
    }
}
