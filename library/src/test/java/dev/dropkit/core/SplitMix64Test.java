package dev.dropkit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SplitMix64Test {

    @Test
    void nthIsTheJdkGeneratorsOutput() {
        for (long state : new long[] {0, 1, -1, 0x0123456789ABCDEFL}) {
            SplittableRandom jdk = new SplittableRandom(state);
            for (int i = 0; i < 5; i++) {
                assertEquals(jdk.nextLong(), SplitMix64.nth(state, i), "state " + state + ", output " + i);
            }
        }
    }

    /** Values the three hand-written copies this class replaced produced: seeds, schedules and masks depend on them. */
    @Test
    void outputsAreThoseOfTheCopiesItReplaced() {
        assertEquals(7624401812436986582L, SplitMix64.streamSeed(42, 3)); // Seeds.reseedLibtorch
        assertEquals(1680404666235788461L, SplitMix64.streamSeed(-7, 123456789));
        assertEquals(7905728728188956330L, SplitMix64.streamSeed(0, 0));
        assertEquals(6922858916810441007L, SplitMix64.streamSeed(42, 3 * 0xD1B54A32D192ED03L)); // GyroSchedule
        assertEquals(53636895006210884L, SplitMix64.streamSeed(~42L, 5 * 0xD1B54A32D192ED03L));
        assertEquals(1547611027431991965L, SplitMix64.nth(0x0123456789ABCDEFL, 0)); // CpuMasks.subKey
        assertEquals(2359542236219744575L, SplitMix64.nth(0x0123456789ABCDEFL, -2));
    }
}
