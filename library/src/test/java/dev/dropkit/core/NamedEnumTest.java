package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.dropkit.depth.DepthMethod;
import dev.dropkit.depth.DepthScaling;
import dev.dropkit.depth.DropDistribution;
import dev.dropkit.dropgrad.DropGradMode;
import dev.dropkit.dropout.DropoutMode;
import dev.dropkit.gyro.GyroSelection;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class NamedEnumTest {

    @Test
    void everyOptionEnumRejectsABadNameWithTheOptionAndItsIds() {
        assertRejected(GyroSelection::parse, "gyro selection must be 'permutation' or 'iid', got 'gyro'");
        assertRejected(DropoutMode::parse, "dropout mode must be 'inverted' or 'classic', got 'gyro'");
        assertRejected(DropGradMode::parse, "DropGrad mode must be 'elements' or 'full-update', got 'gyro'");
        assertRejected(DepthMethod::parse, "stochastic_method must be 'sample', 'block' or 'sample_fast', got 'gyro'");
        assertRejected(DropDistribution::parse, "drop_distribution must be 'uniform' or 'linear', got 'gyro'");
        assertRejected(DepthScaling::parse, "scaling must be 'composer' or 'inverted', got 'gyro'");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DropoutMode.parse(null));
        assertEquals("dropout mode must be 'inverted' or 'classic', got 'null'", e.getMessage());
    }

    @Test
    void idsParseIgnoringCaseBlanksAndDashOrUnderscore() {
        assertEquals("full-update", DropGradMode.FULL_UPDATE.id());
        assertEquals("sample_fast", DepthMethod.SAMPLE_FAST.id());
        assertEquals(DropGradMode.FULL_UPDATE, DropGradMode.parse(" Full_Update"));
        assertEquals(DepthMethod.SAMPLE_FAST, DepthMethod.parse("SAMPLE-FAST "));
        for (DepthScaling s : DepthScaling.values()) {
            assertEquals(s, DepthScaling.parse(s.id().toUpperCase(java.util.Locale.ROOT)));
        }
        assertEquals(DepthScaling.INVERTED, DepthScaling.parse("TorchVision"));
        assertEquals(DepthScaling.INVERTED, DepthScaling.parse("timm"));
    }

    private static void assertRejected(Function<String, ?> parse, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse.apply("gyro"));
        assertEquals(message, e.getMessage());
    }
}
