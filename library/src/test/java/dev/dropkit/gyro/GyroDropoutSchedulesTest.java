package dev.dropkit.gyro;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.schedule.Schedule;
import dev.dropkit.testing.NativeScopePerTest;
import dev.dropkit.train.ScheduleCallback;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Module;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Gyro Dropout's p through the one schedule API: set before each step, logged as the p in force. */
@ExtendWith(NativeScopePerTest.class)
class GyroDropoutSchedulesTest {

    @BeforeAll
    static void data() {
        GyroDropoutCallbackTest.data();
    }

    /**
     * Early Gyro Dropout through the trainer: p is asked 0.3 for the first half of the steps, then 0; the
     * masks follow at the first active-set change after that, and the log shows exactly when.
     */
    @Test
    void earlyGyroDropoutLogsThePInForcePerStep(@TempDir Path dir) throws Exception {
        Seeds.seed(31);
        GyroDropoutCallbackTest.Net net = new GyroDropoutCallbackTest.Net(); // p 0.3, sigma 16, tau 4
        ScheduleCallback early = GyroDropoutSchedules.forModel(net, Schedule.early(0.3, 0.3));
        Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(3).seed(11)
                .device(Devices.cpu()).callback(GyroDropoutCallback.forModel(net)).callback(early).outputDir(dir)
                .name("early-gyro").build();
        TrainingHistory history = trainer.fit(GyroDropoutCallbackTest.train(), null);

        long total = 3L * GyroDropoutCallbackTest.train().batchesPerEpoch(); // 24 steps
        long iterNum = net.drop.iterNum(); // floor(24 / 16) * 4 = 4
        assertEquals(4, iterNum);
        assertEquals(List.of(GyroDropoutSchedules.METRIC), history.valueNames());
        List<TrainingHistory.StepValues> steps = history.steps();
        assertEquals(total, steps.size());
        // The value asked at step s is 0.3 while s / total < 0.3; it is in force from the first change
        // (a multiple of iterNum) at or after s, and the log of step s shows what steps before s set.
        double inForce = 0.3;
        for (TrainingHistory.StepValues row : steps) {
            assertEquals(inForce, row.values()[0], 0.0, "step " + row.step());
            long s = row.step();
            double asked = (double) s / total < 0.3 ? 0.3 : 0.0;
            if (s % iterNum == 0) {
                inForce = asked;
            }
        }
        assertEquals(0.0, net.drop.effectiveP(), 0.0, "the module follows the schedule");
        assertEquals(0.0, steps.get(steps.size() - 1).values()[0], 0.0);
        assertTrue(steps.stream().filter(r -> r.values()[0] == 0.3).count() > iterNum, "and it started at 0.3");
        List<String> csv = Files.readAllLines(dir.resolve("metrics-early-gyro-steps.csv"));
        assertEquals("step,epoch,gyro_dropout/p", csv.get(0));
        assertEquals(total + 1, csv.size());
    }

    @Test
    void theLoggedValueLagsTheAskedOneUntilTheActiveSetChanges() {
        Seeds.seed(32);
        GyroDropout g = new GyroDropout(GyroDropoutOptions.builder().p(0.5).sigma(8).tau(2).itersPerEpoch(4)
                .maxEpoch(4).build()); // iterNum floor(16 / 8) * 2 = 4
        g.train(true);
        ScheduleCallback ramp = GyroDropoutSchedules.forModel(g, Schedule.linear(0.5, 0.1));
        var x = GyroDropoutTest.ones(Devices.cpu(), 4, 32);
        for (int step = 0; step < 9; step++) {
            double logged = ramp.update(step, 0, step / 16.0);
            double want = step <= 4 ? 0.5 : 0.5 - 0.4 * 4 / 16.0; // the value asked at step 4
            assertEquals(want, logged, 1e-12, "step " + step);
            assertEquals(0.5 - 0.4 * step / 16.0, g.p(), 1e-12, "asked at step " + step);
            g.forward(x);
        }
        assertEquals(0.5 - 0.4 * 8 / 16.0, g.effectiveP(), 1e-12, "step 8 was a change");
    }

    @Test
    void aModelWithoutGyroDropoutOrAPOfOneIsRefused() {
        Module empty = new Module("Empty");
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> GyroDropoutSchedules.forModel(empty, Schedule.constant(0.1))).getMessage().contains("GyroDropout"));
        GyroDropout g = new GyroDropout(GyroDropoutOptions.defaults());
        ScheduleCallback bad = GyroDropoutSchedules.forModel(g, Schedule.constant(1.0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bad.update(0, 0, 0));
        assertTrue(e.getMessage().contains("1.0"), e.getMessage());
    }
}
