package dev.dropkit.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class ScheduleTest {

    @Test
    void constantIsTheSameEverywhere() {
        Schedule s = Schedule.constant(0.1);
        assertEquals(0.1, s.valueAt(0, 0, 0.0));
        assertEquals(0.1, s.valueAt(1_000_000, 99, 1.0));
        assertEquals("constant(0.1)", s.toString());
    }

    @Test
    void linearWarmupHitsItsEndpointsAndMidpointExactly() {
        Schedule s = Schedule.linearWarmup(0.0, 0.1, 1000);
        assertEquals(0.0, s.valueAt(0, 0, 0.0));
        assertEquals(0.05, s.valueAt(500, 0, 0.1));
        assertEquals(0.025, s.valueAt(250, 0, 0.1));
        assertEquals(0.1, s.valueAt(1000, 3, 0.5));
        assertEquals(0.1, s.valueAt(5000, 9, 1.0), "flat after the warm-up");
        assertEquals(0.3, Schedule.linearWarmup(0.5, 0.1, 4).valueAt(2, 0, 0), 1e-15, "also downwards");
        assertEquals(0.1, Schedule.linearWarmup(0.0, 0.1, 0).valueAt(0, 0, 0), "no warm-up: the target at once");
    }

    @Test
    void stepMultipliesEveryFewEpochs() {
        Schedule s = Schedule.step(0.2, 0.5, 3);
        assertEquals(0.2, s.valueAt(0, 0, 0));
        assertEquals(0.2, s.valueAt(999, 2, 0.3), "epochs 0-2: initial");
        assertEquals(0.1, s.valueAt(1000, 3, 0.3));
        assertEquals(0.1, s.valueAt(1000, 5, 0.3));
        assertEquals(0.05, s.valueAt(1000, 6, 0.6));
        assertEquals(0.025, s.valueAt(1000, 9, 0.9));
    }

    @Test
    void cosineByProgressHasItsKnownValues() {
        Schedule s = Schedule.cosine(0.2, 0.0);
        assertEquals(0.2, s.valueAt(0, 0, 0.0));
        assertEquals(0.1, s.valueAt(0, 0, 0.5), 1e-16);
        assertEquals(0.0, s.valueAt(0, 0, 1.0), 1e-16);
        assertEquals(0.2 * (1 + Math.cos(Math.PI / 4)) / 2, s.valueAt(0, 0, 0.25), 1e-16);
    }

    @Test
    void cosineBySteps() {
        Schedule s = Schedule.cosine(0.1, 0.02, 100);
        assertEquals(0.1, s.valueAt(0, 0, 0));
        assertEquals(0.06, s.valueAt(50, 0, 0), 1e-15);
        assertEquals(0.02, s.valueAt(100, 0, 0));
        assertEquals(0.02, s.valueAt(1000, 0, 0), "flat after the end");
    }

    @Test
    void ofTakesAnyFunctionOfStepAndEpoch() {
        Schedule s = Schedule.of((step, epoch) -> epoch < 2 ? 0.1 : 0.01 * step);
        assertEquals(0.1, s.valueAt(7, 1, 0.2));
        assertEquals(0.07, s.valueAt(7, 2, 0.2), 1e-16);
    }

    @Test
    void aNegativeStepOrEpochOrABadProgressIsRejectedByEveryFactory() {
        for (Schedule s : new Schedule[] {Schedule.constant(1), Schedule.linearWarmup(0, 1, 10),
                Schedule.step(1, 0.5, 1), Schedule.cosine(1, 0), Schedule.cosine(1, 0, 10),
                Schedule.of((step, epoch) -> 1)}) {
            assertMessage(() -> s.valueAt(-1, 0, 0), "step must not be negative, got -1");
            assertMessage(() -> s.valueAt(0, -2, 0), "epoch must not be negative, got -2");
            assertMessage(() -> s.valueAt(0, 0, 1.5), "progress must be in [0, 1], got 1.5");
            assertMessage(() -> s.valueAt(0, 0, Double.NaN), "progress must be in [0, 1], got NaN");
        }
    }

    @Test
    void factoryArgumentsAreValidated() {
        assertMessage(() -> Schedule.constant(Double.NaN), "value must be finite, got NaN");
        assertMessage(() -> Schedule.linearWarmup(0, 0.1, -5), "warmupSteps must not be negative, got -5");
        assertMessage(() -> Schedule.linearWarmup(0, Double.POSITIVE_INFINITY, 5), "to must be finite, got Infinity");
        assertMessage(() -> Schedule.step(0.1, 0.5, 0), "everyEpochs must be positive, got 0");
        assertMessage(() -> Schedule.step(0.1, Double.NaN, 1), "factor must be finite, got NaN");
        assertMessage(() -> Schedule.cosine(0.1, 0, 0), "totalSteps must be positive, got 0");
        assertMessage(() -> Schedule.of(null), "function must not be null");
    }

    static void assertMessage(Executable call, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(message), "expected '" + message + "' in '" + e.getMessage() + "'");
    }
}
