package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.dropout.Dropout;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DropoutImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.SequentialImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorTensorHook;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * Pins down the JavaCPP behaviours recorded in native-notes/, so that a bindings upgrade that changes
 * one of them fails here rather than somewhere deep in surgery code.
 */
class JavaCppPitfallsTest {

    static final class Net extends Module {
        final LinearImpl fc;
        final SequentialImpl seq;
        final DropoutImpl seqDrop; // without this field the GC frees it under seq (native-notes)
        final Dropout drop;

        Net() {
            super("Net");
            fc = register_module("fc", new LinearImpl(2, 2));
            seq = register_module("seq", new SequentialImpl());
            seqDrop = new DropoutImpl(0.5);
            seq.push_back("d", seqDrop);
            drop = register_module("drop", new Dropout(0.1));
        }
    }

    @Test
    void namedModulesStartsWithTheRootUnderANullKey() {
        Net net = new Net();
        var dict = net.named_modules();
        assertEquals(5, dict.size());
        assertNull(dict.get(0).key(), "root entry has a null key");
        assertEquals(net.address(), dict.get(0).value().address());
        java.lang.ref.Reference.reachabilityFence(net);
    }

    @Test
    void modulesComeBackAsPlainModuleViewsNotAsTheJavaSubclass() {
        Net net = new Net();
        Module drop = net.named_children().get("drop");
        assertEquals(net.drop.address(), drop.address(), "same native module");
        assertFalse(drop instanceof Dropout, "but not the Java object that was registered");
        assertEquals(Module.class, drop.getClass());
        java.lang.ref.Reference.reachabilityFence(net);
    }

    @Test
    void modulesHelperWalksByIndexAndSkipsTheRoot() {
        Net net = new Net();
        Map<String, Module> all = Modules.namedDescendants(net);
        assertEquals(List.of("fc", "seq", "seq.d", "drop"), List.copyOf(all.keySet()));
        assertEquals(List.of("fc", "seq", "drop"), List.copyOf(Modules.namedChildren(net).keySet()));
        assertTrue(all.get("seq.d").name().getString().contains("DropoutImpl"));
        java.lang.ref.Reference.reachabilityFence(net);
    }

    static Map<String, Module> descendantsOfATemporaryNet() {
        return Modules.namedDescendants(new Net());
    }

    @Test
    void theHelpersMapKeepsTheTreeAliveAfterTheRootIsDropped() throws InterruptedException {
        // Without the map's reference to the root, the GC frees the native tree and name() segfaults.
        Map<String, Module> all = descendantsOfATemporaryNet();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        assertTrue(all.get("seq.d").name().getString().contains("DropoutImpl"));
    }

    /** native-notes/tensoroptions-from-scalartypeoptional-is-float.md */
    @Test
    void tensorOptionsFromAScalarTypeOptionalLoseTheDtype() {
        Tensor viaOptional = torch.zeros(new long[] {1},
                new org.bytedeco.pytorch.TensorOptions(new org.bytedeco.pytorch.ScalarTypeOptional(torch.ScalarType.Long)));
        Tensor direct = torch.zeros(new long[] {1}, new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long));
        assertEquals(torch.ScalarType.Float, viaOptional.scalar_type().intern(), "the optional is silently ignored");
        assertEquals(torch.ScalarType.Long, direct.scalar_type().intern());
    }

    @Test
    void tensorsReadFromAContainerAreViewsIntoIt() {
        TensorVector v = new TensorVector();
        v.push_back(torch.ones(2));
        assertEquals(v.get(0).address(), v.get(0).address(), "each get(0) points at the container's element");
        Tensor own = new Tensor(v.get(0));
        assertNotEquals(v.get(0).address(), own.address(), "a copy is a handle of its own");
        assertTrue(own.is_same(v.get(0)), "sharing the same tensor");
    }

    @Test
    void tensorHooksReplaceKeepOrFailTheGradientAndTheirResultIsCopied() {
        Tensor w = torch.ones(4).requires_grad_(true);
        long[] resultData = new long[1];
        TensorTensorHook twice = new TensorTensorHook() {
            @Override
            public TensorBase call(TensorBase grad) {
                Tensor out = new Tensor(grad).mul(new Scalar(2.0)); // must outlive call: libtorch copies after
                resultData[0] = out.data_ptr().address();
                return out;
            }
        };
        int id = w.register_hook(twice);
        w.mul(new Scalar(3.0)).sum().backward();
        assertEquals(6.0, Tensors.toFloatArray(w.grad())[0]);
        assertNotEquals(resultData[0], w.grad().data_ptr().address(), "AccumulateGrad copied the result");
        w.remove_hook(id);

        TensorBase undefined = new TensorBase();
        TensorTensorHook keep = new TensorTensorHook() {
            @Override
            public TensorBase call(TensorBase grad) {
                return undefined;
            }
        };
        id = w.register_hook(keep);
        w.mutable_grad().reset();
        w.mul(new Scalar(3.0)).sum().backward();
        assertEquals(3.0, Tensors.toFloatArray(w.grad())[0], "an undefined result leaves the gradient as is");
        w.remove_hook(id);

        TensorTensorHook fail = new TensorTensorHook() {
            @Override
            public TensorBase call(TensorBase grad) {
                throw new IllegalStateException("boom");
            }
        };
        w.register_hook(fail);
        RuntimeException e = assertThrows(RuntimeException.class, () -> w.mul(new Scalar(3.0)).sum().backward());
        assertTrue(e.getMessage().contains("java.lang.IllegalStateException: boom"), e.getMessage());
        java.lang.ref.Reference.reachabilityFence(twice); // libtorch holds the hooks: so must Java
        java.lang.ref.Reference.reachabilityFence(keep);
        java.lang.ref.Reference.reachabilityFence(fail);
    }

    @Test
    void registerParameterReturnsAReferenceNotTheTensorPassedIn() {
        Module m = new Module("M");
        org.bytedeco.pytorch.Tensor passed = org.bytedeco.pytorch.global.torch.ones(3);
        org.bytedeco.pytorch.Tensor returned = m.register_parameter("w", passed);
        // Read the returned reference only before the next registration (native-notes).
        assertTrue(passed.address() != returned.address(), "a reference to the module's own handle");
        assertEquals(passed.unsafeGetTensorImpl().address(), returned.unsafeGetTensorImpl().address());
        for (int i = 0; i < 8; i++) {
            m.register_parameter("p" + i, org.bytedeco.pytorch.global.torch.zeros(3));
        }
        // The tensor passed in stays valid and is the registered parameter.
        assertEquals(passed.unsafeGetTensorImpl().address(),
                m.named_parameters().get(0).value().unsafeGetTensorImpl().address());
        assertTrue(passed.requires_grad());
        assertEquals(3.0, passed.sum().item_double());
    }

    @Test
    void enumsReturnedByNativeCallsAreNotTheConstants() {
        try (PointerScope scope = new PointerScope()) {
            ScalarType dtype = torch.ones(2).scalar_type(); // a Float tensor
            assertNotSame(ScalarType.Float, dtype, "a fresh object, not the constant");
            assertNotEquals(ScalarType.Float, dtype, "so equals fails too");
            assertNull(dtype.name(), "its name() is null (toString() still works)");
            assertEquals(0, dtype.ordinal(), "its ordinal is 0, so a switch takes the first constant's case");
            assertSame(ScalarType.Float, dtype.intern(), "intern() gives the constant");
            assertSame(torch.DeviceType.CPU, new Device(torch.DeviceType.CPU).type().intern());
            assertNotSame(torch.DeviceType.CPU, new Device(torch.DeviceType.CPU).type());
        }
    }

    @Test
    void uint8IsScalarTypeByteAndItemByteIsSigned() {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = torch.full(new long[] {1}, new Scalar(200), new TensorOptions(ScalarType.Byte));
            assertEquals(200, t.item_int(), "Byte is unsigned in libtorch");
            assertEquals(-56, t.item_byte(), "but a Java byte is signed");
        }
    }
    @Test
    void aFullRangeRandomDrawUsesAll64Bits() {
        try (PointerScope scope = new PointerScope()) {
            // 256 draws: each is negative with probability 1/2 when the top bit is random (all nonnegative: 2^-256).
            Tensor full = torch.empty(new long[] {256}, new TensorOptions(ScalarType.Long),
                    new org.bytedeco.pytorch.MemoryFormatOptional()).random_(Long.MIN_VALUE,
                    new org.bytedeco.pytorch.LongOptional(), new org.bytedeco.pytorch.GeneratorOptional());
            assertTrue(full.lt(new Scalar(0)).any().item_bool(), "from = Long.MIN_VALUE, no to: 64 random bits");
            Tensor plain = torch.empty(new long[] {256}, new TensorOptions(ScalarType.Long),
                    new org.bytedeco.pytorch.MemoryFormatOptional()).random_(new org.bytedeco.pytorch.GeneratorOptional());
            assertFalse(plain.lt(new Scalar(0)).any().item_bool(), "plain random_() on int64: 63 bits, never negative");
        }
    }

    /** native-notes/native-module-casts.md */
    @Test
    void asXxxCastsAreTheSameModuleOwnNothingAndFailAsNull() throws ReflectiveOperationException {
        Net net = new Net();
        Module view = net.named_children().get("fc");
        LinearImpl cast = view.asLinear();
        assertEquals(net.fc.address(), cast.address(), "the same native module, not a copy");
        Tensor x = torch.ones(3, 2);
        assertTrue(torch.equal(net.fc.forward(x), cast.forward(x)));
        java.lang.reflect.Field deallocator = org.bytedeco.javacpp.Pointer.class.getDeclaredField("deallocator");
        deallocator.setAccessible(true);
        assertTrue(deallocator.get(view) != null, "a view from named_children() owns a share of the module");
        assertNull(deallocator.get(cast), "the cast owns nothing: it must not be registered anywhere");
        assertNull(net.named_children().get("seq").asLinear(), "a cast to the wrong type is null");
        DropoutImpl fromJava = net.named_children().get("drop").asDropout();
        assertEquals(DropoutImpl.class, fromJava.getClass(), "a module written in Java comes back as its C++ base");
        assertEquals(net.drop.address(), fromJava.address());
        java.lang.ref.Reference.reachabilityFence(net);
    }

    /**
     * A tensor made while a PointerScope is open belongs to that scope: closing it frees the handle (and,
     * if nothing else holds the TensorImpl, the data), so a tensor cached across steps needs its own
     * reference. native-notes/cached-tensors-need-an-owned-handle.md
     */
    @Test
    void aTensorMadeInsideAScopeIsFreedWithItUnlessRetained() {
        Tensor cached;
        Tensor owned;
        try (PointerScope scope = new PointerScope()) {
            cached = torch.ones(4, 4).mul(new Scalar(2.0));
            owned = torch.ones(4, 4).mul(new Scalar(3.0));
            owned.retainReference();
        }
        assertTrue(cached.isNull(), "the scope freed the handle made inside it: it now points nowhere");
        assertFalse(owned.isNull(), "a retained handle survives the scope");
        assertEquals(48.0, owned.sum().item_double(), "and its data is intact");
        owned.releaseReference();
        assertTrue(owned.isNull(), "released, it is freed at once");
    }
}
