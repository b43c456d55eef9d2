package dev.dropkit.nn;

import dev.dropkit.core.Checks;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * How a Java container calls one child: through the child's own Java {@code forward(Tensor)}, which for a
 * module written in Java (dropkit's {@code Dropout}, {@code GyroDropout}, {@code StochasticDepth}, a user's
 * block) is its Java override, and for a libtorch layer is the layer's native {@code forward}. A plain
 * {@link Module} view read back from libtorch is first cast to its layer class by {@link NativeCasts}.
 *
 * <p>This is the point of dropkit's containers: a libtorch {@code SequentialImpl} calls its children's C++
 * {@code forward} and never a Java override (native-notes/native-containers-call-cpp-forward.md), so a
 * Java module placed in it is silently bypassed.
 */
public final class JavaForward {
    private static final Map<Class<?>, MethodHandle> HANDLES = new ConcurrentHashMap<>();
    private static final MethodType CALL = MethodType.methodType(Tensor.class, Module.class, Tensor.class);

    private final Module module;
    private final MethodHandle handle;

    private JavaForward(Module module, MethodHandle handle) {
        this.module = module;
        this.handle = handle;
    }

    /**
     * The call of {@code module}'s forward.
     *
     * @throws IllegalArgumentException naming the type when it has no {@code Tensor forward(Tensor)} (a
     *     plain view of a type the bindings cannot cast, a layer whose forward returns a tuple such as LSTM)
     */
    public static JavaForward of(Module module) {
        Checks.notNull("module", module);
        Module callable = NativeCasts.cast(module);
        MethodHandle h = HANDLES.computeIfAbsent(callable.getClass(), JavaForward::find);
        if (h == null) {
            throw new IllegalArgumentException(whyNotCallable(callable));
        }
        return new JavaForward(callable, h);
    }

    /** Why {@code module} cannot be called with one tensor from Java, or null if it can. */
    public static String whyNotCallable(Module module) {
        Checks.notNull("module", module);
        if (module.getClass() == Module.class) {
            String why = NativeCasts.whyNot(module.name().getString());
            if (why != null) {
                return why;
            }
            return whyNotCallable(NativeCasts.cast(module));
        }
        if (HANDLES.computeIfAbsent(module.getClass(), JavaForward::find) != null) {
            return null;
        }
        return module.name().getString() + " (" + module.getClass().getSimpleName()
                + ") has no Tensor forward(Tensor) (its forward takes other arguments or returns a tuple), so a"
                + " container cannot chain it";
    }

    /** The module this calls: the Java object, or the layer-class cast of a view. */
    public Module module() {
        return module;
    }

    /** Calls the module's forward. */
    public Tensor forward(Tensor x) {
        try {
            return (Tensor) handle.invokeExact(module, x);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static MethodHandle find(Class<?> type) {
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            try {
                Method m = c.getDeclaredMethod("forward", Tensor.class);
                if (m.getReturnType() != Tensor.class || Modifier.isStatic(m.getModifiers())) {
                    return null;
                }
                m.setAccessible(true);
                return MethodHandles.lookup().unreflect(m).asType(CALL);
            } catch (NoSuchMethodException e) {
                // look in the superclass
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }
        try { // an interface's default forward, e.g. ResidualBlock's
            Method m = type.getMethod("forward", Tensor.class);
            return m.getReturnType() == Tensor.class ? MethodHandles.publicLookup().unreflect(m).asType(CALL) : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
