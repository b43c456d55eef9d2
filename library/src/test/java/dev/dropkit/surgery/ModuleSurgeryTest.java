package dev.dropkit.surgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Modules;
import dev.dropkit.dropout.Dropout;
import dev.dropkit.dropout.DropoutMode;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.SequentialImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class ModuleSurgeryTest {

    static final class Inner extends Module {
        final LinearImpl fc = register_module("fc", new LinearImpl(4, 4));
        DropoutImpl drop = register_module("drop", new DropoutImpl(0.5));

        Inner() {
            super("Inner");
        }

        Tensor forward(Tensor x) {
            return drop.forward(fc.forward(x));
        }
    }

    static final class Net extends Module {
        final LinearImpl fc1 = register_module("fc1", new LinearImpl(4, 4));
        final DropoutImpl nativeDrop = register_module("native_drop", new DropoutImpl(0.1));
        Dropout ownDrop = register_module("own_drop", new Dropout(0.2));
        final List<Module> blocks = new ArrayList<>();
        final DropoutImpl[] array = new DropoutImpl[1];
        final Inner inner = register_module("inner", new Inner());
        final SequentialImpl seq = register_module("seq", new SequentialImpl());
        final DropoutImpl seqDrop = new DropoutImpl(0.3); // keeps the native-only child alive (native-notes)

        Net() {
            super("Net");
            blocks.add(register_module("block0", new DropoutImpl(0.4)));
            array[0] = register_module("arr0", new DropoutImpl(0.6));
            seq.push_back("d", seqDrop);
        }

        Tensor forward(Tensor x) {
            x = nativeDrop.forward(fc1.forward(x));
            x = ownDrop.forward(x);
            x = ((DropoutImpl) blocks.get(0)).forward(x);
            x = array[0].forward(x);
            return inner.forward(x);
        }
    }

    static boolean isDropout(ModuleSlot s) {
        return s.module() instanceof DropoutImpl || s.nativeType().equals("torch::nn::DropoutImpl");
    }

    @Test
    void findsEveryChildWithItsPathAndJavaReferences() {
        Net net = new Net();
        List<ModuleSlot> slots = ModuleSurgery.slots(net);
        List<String> paths = slots.stream().map(ModuleSlot::path).toList();
        assertEquals(List.of("fc1", "native_drop", "own_drop", "inner", "inner.fc", "inner.drop", "seq", "seq.d",
                "block0", "arr0"), paths);
        ModuleSlot own = slots.get(2);
        assertSame(net.ownDrop, own.module(), "the Java object, not a view");
        assertEquals(List.of("field Net.ownDrop"), own.references());
        assertEquals(List.of("list Net.blocks[0]"), slots.get(8).references());
        assertEquals(List.of("array Net.array[0]"), slots.get(9).references());
        assertFalse(slots.get(7).javaHeld(), "seq.d lives only in the native Sequential");
    }

    @Test
    void replacesEveryJavaHeldDropoutInPlaceAndWarnsAboutTheRest() {
        Net net = new Net();
        List<String> paramsBefore = Modules.namedParameterNames(net);
        List<String> childrenBefore = List.copyOf(Modules.namedChildren(net).keySet());
        SurgeryReport report = ModuleSurgery.replace(net, "dropout -> classic", ModuleSurgeryTest::isDropout,
                slot -> new Dropout(0.25, DropoutMode.CLASSIC));
        assertEquals(List.of("native_drop", "own_drop", "inner.drop", "block0", "arr0"), report.paths());
        // seq.d sits in a native SequentialImpl, which surgery would convert to a Java Sequential, but the field
        // holding it is typed SequentialImpl: both the container and the dropout are named, with the reason.
        assertEquals(2, report.warnings().size(), report.toString());
        assertTrue(report.warnings().get(0).startsWith("seq (torch::nn::SequentialImpl) not converted to a Java"
                + " container: field Net.seq has type SequentialImpl, which cannot hold a Sequential; declare it as"
                + " dev.dropkit.nn.Sequential"), report.toString());
        assertTrue(report.warnings().get(1).startsWith("seq.d"), report.toString());
        assertTrue(report.conversions().isEmpty(), report.toString());
        assertEquals(net.seqDrop.address(), Modules.namedDescendants(net).get("seq.d").address(), "left as it was");

        // Java references now point at the new modules ...
        Dropout viaField = (Dropout) net.nativeDrop;
        assertEquals(DropoutMode.CLASSIC, viaField.mode());
        assertEquals(0.25, net.ownDrop.p());
        assertTrue(net.blocks.get(0) instanceof Dropout);
        assertTrue(net.array[0] instanceof Dropout);
        assertTrue(net.inner.drop instanceof Dropout);
        // ... and so does libtorch, under the same names.
        assertEquals(net.ownDrop.address(), Modules.namedChildren(net).get("own_drop").address());
        assertEquals(net.inner.drop.address(), Modules.namedDescendants(net).get("inner.drop").address());
        assertEquals(paramsBefore, Modules.namedParameterNames(net), "parameter names and their order unchanged");
        assertEquals(childrenBefore, List.copyOf(Modules.namedChildren(net).keySet()), "children keep their order");

        net.eval();
        assertFalse(net.ownDrop.is_training(), "eval() reaches the new modules");
        Tensor x = torch.ones(2, 4);
        Tensor expected = net.inner.fc.forward(net.fc1.forward(x).mul(new org.bytedeco.pytorch.Scalar(Math.pow(0.75, 4))))
                .mul(new org.bytedeco.pytorch.Scalar(0.75));
        assertTrue(net.forward(x).allclose(expected, 1e-5, 1e-6, false), "forward calls the replacements");
    }

    static final class Narrow extends Module {
        final Dropout onlyDropkit = register_module("d", new Dropout(0.5));
        final List<Module> frozen = List.of(register_module("f", new DropoutImpl(0.5)));

        Narrow() {
            super("Narrow");
        }
    }

    @Test
    void refusesReferencesThatCannotHoldTheReplacement() {
        Narrow net = new Narrow();
        SurgeryReport report = ModuleSurgery.replace(net, "to native", ModuleSurgeryTest::isDropout,
                slot -> new DropoutImpl(0.1));
        assertEquals(0, report.count());
        String all = String.join("\n", report.warnings());
        assertTrue(all.contains("field Narrow.onlyDropkit has type Dropout, which cannot hold a DropoutImpl"), all);
        assertTrue(all.contains("list Narrow.frozen[0] is an unmodifiable list"), all);
        assertTrue(all.contains("nothing was changed"), all);
        assertEquals(net.onlyDropkit.address(), Modules.namedChildren(net).get("d").address(), "left registered");
    }

    /** Blocks kept in a list typed with their own class, as a user writes them. */
    static final class TypedList extends Module {
        final List<Dropout> drops = new ArrayList<>();
        final List<? extends Module> wide = new ArrayList<>(List.of(register_module("w", new Dropout(0.5))));

        TypedList() {
            super("TypedList");
            drops.add(register_module("a", new Dropout(0.5)));
            drops.add(register_module("b", new Dropout(0.5)));
        }
    }

    @Test
    void aListsDeclaredElementTypeIsCheckedBeforeAnythingIsSwapped() {
        TypedList net = new TypedList();
        long a = net.drops.get(0).address();
        SurgeryReport report = ModuleSurgery.replace(net, "to native", slot -> !slot.name().equals("w"),
                slot -> new DropoutImpl(0.1));
        assertEquals(0, report.count(), report.toString());
        String all = String.join("\n", report.warnings());
        assertTrue(all.contains("list TypedList.drops[0] has element type Dropout, which cannot hold a DropoutImpl"), all);
        assertTrue(all.contains("list TypedList.drops[1] has element type Dropout"), all);
        assertTrue(all.contains("nothing was changed"), all);
        assertEquals(a, net.drops.get(0).address(), "the list still holds the original");
        assertEquals(a, Modules.namedChildren(net).get("a").address(), "and so does the module tree");
        // a list of a wider type takes the replacement
        SurgeryReport wide = ModuleSurgery.replace(net, "to native", slot -> slot.name().equals("w"),
                slot -> new DropoutImpl(0.1));
        assertEquals(1, wide.count(), wide.toString());
        assertFalse(net.wide.get(0) instanceof Dropout);
    }

    @Test
    void zeroMatchesIsAWarningNotASilentSuccess() {
        SurgeryReport report = ModuleSurgery.replace(new Inner(), "nothing", s -> false, s -> s.module());
        assertEquals(0, report.count());
        assertTrue(report.toString().contains("warning: nothing was changed: no module matched"), report.toString());
    }
}
