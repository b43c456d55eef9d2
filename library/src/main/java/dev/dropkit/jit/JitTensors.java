package dev.dropkit.jit;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NamedTensor;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.named_buffer_iterator;
import org.bytedeco.pytorch.named_buffer_list;
import org.bytedeco.pytorch.named_parameter_iterator;
import org.bytedeco.pytorch.named_parameter_list;

/**
 * Parameters and buffers of a {@link JitModule}, read by count: the bindings' list iterators have
 * no safe end test (see native-notes/iterator-equals-runs-past-end.md), but the lists know their
 * {@code size()}, so we step exactly that many times.
 */
final class JitTensors {
    private JitTensors() {}

    /** Named parameters, recursively, in libtorch's order; the tensors share storage with the module. */
    static Map<String, Tensor> namedParameters(JitModule module) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        named_parameter_list list = module.named_parameters(true);
        long n = list.size();
        named_parameter_iterator it = list.begin();
        for (long i = 0; i < n; i++) {
            NamedTensor item = it.access();
            out.put(item.name().getString(), new Tensor(item.value()));
            it.increment();
        }
        return out;
    }

    /** Named buffers, recursively (BatchNorm running statistics and the like). */
    static Map<String, Tensor> namedBuffers(JitModule module) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        named_buffer_list list = module.named_buffers(true);
        long n = list.size();
        named_buffer_iterator it = list.begin();
        for (long i = 0; i < n; i++) {
            NamedTensor item = it.access();
            out.put(item.name().getString(), new Tensor(item.value()));
            it.increment();
        }
        return out;
    }

    static TensorVector parameters(JitModule module) {
        TensorVector out = new TensorVector();
        for (Tensor t : namedParameters(module).values()) {
            out.push_back(t);
        }
        return out;
    }

    static void save(JitModule module, OutputArchive archive) {
        for (Map.Entry<String, Tensor> e : namedParameters(module).entrySet()) {
            archive.write(e.getKey(), e.getValue(), false);
        }
        for (Map.Entry<String, Tensor> e : namedBuffers(module).entrySet()) {
            archive.write(e.getKey(), e.getValue(), true);
        }
        for (Map.Entry<String, JitModule> e : JitInspector.namedModules(module).entrySet()) {
            for (String attr : dropkitScalars(e.getValue())) {
                archive.write(key(e.getKey(), attr), e.getValue().attr(attr));
            }
        }
    }

    /**
     * The scalar attributes dropkit's rewrites added (counters such as a Gyro Dropout site's step):
     * checkpoints carry them beside the buffers, so a resumed run continues the same schedule.
     */
    static java.util.List<String> dropkitScalars(JitModule m) {
        java.util.List<String> out = new java.util.ArrayList<>();
        var type = m.type();
        for (long i = 0, n = type.numAttributes(); i < n; i++) {
            String name = type.getAttributeName(i).getString();
            if (name.startsWith(JitGraphs.PREFIX)) {
                org.bytedeco.pytorch.IValue v = m.attr(name);
                if (v.isInt() || v.isDouble() || v.isBool()) {
                    out.add(name);
                }
            }
        }
        return out;
    }

    private static String key(String path, String attr) {
        return "dropkit-attr:" + (path.isEmpty() ? "" : path + ".") + attr;
    }

    /** Reads in place: libtorch's {@code InputArchive::read} copies into the module's own tensors. */
    static void load(JitModule module, InputArchive archive) {
        for (Map.Entry<String, Tensor> e : namedParameters(module).entrySet()) {
            archive.read(e.getKey(), e.getValue(), false);
        }
        for (Map.Entry<String, Tensor> e : namedBuffers(module).entrySet()) {
            archive.read(e.getKey(), e.getValue(), true);
        }
        for (Map.Entry<String, JitModule> e : JitInspector.namedModules(module).entrySet()) {
            for (String attr : dropkitScalars(e.getValue())) {
                org.bytedeco.pytorch.IValue v = new org.bytedeco.pytorch.IValue();
                if (archive.try_read(key(e.getKey(), attr), v)) {
                    e.getValue().setattr(attr, v);
                }
            }
        }
    }
}
