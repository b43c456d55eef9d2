package dev.dropkit.testing;

import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Opens a {@link PointerScope} before each test and closes it after, so every tensor a test makes is
 * freed when it ends ({@code @ExtendWith(NativeScopePerTest.class)}).
 */
public final class NativeScopePerTest implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NativeScopePerTest.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("scope", new PointerScope());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        PointerScope scope = context.getStore(NS).remove("scope", PointerScope.class);
        if (scope != null) {
            scope.close();
        }
    }
}
