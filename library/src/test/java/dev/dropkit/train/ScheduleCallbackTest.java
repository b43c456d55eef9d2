package dev.dropkit.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.depth.StochasticDepth;
import dev.dropkit.depth.StochasticDepthOptions;
import dev.dropkit.depth.StochasticDepthSchedules;
import dev.dropkit.depth.StochasticDepthSurgery;
import dev.dropkit.dropgrad.DropGrad;
import dev.dropkit.dropgrad.DropGradCallback;
import dev.dropkit.dropout.DropoutSchedules;
import dev.dropkit.models.ResNet;
import dev.dropkit.schedule.Schedule;
import dev.dropkit.testing.NativeScopePerTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** One schedule API for every regularizer: values set before each step, and logged per step into the run's files. */
@ExtendWith(NativeScopePerTest.class)
class ScheduleCallbackTest {

    @BeforeAll
    static void data() {
        TrainerTest.data();
    }

    @Test
    void earlyLateAndLinearSchedulesHaveTheirValuesExactly() {
        Schedule early = Schedule.early(0.1, 0.25);
        assertEquals(0.1, early.valueAt(0, 0, 0.0));
        assertEquals(0.1, early.valueAt(10, 0, 0.2499));
        assertEquals(0.0, early.valueAt(11, 0, 0.25));
        Schedule late = Schedule.late(0.3, 0.5);
        assertEquals(0.0, late.valueAt(0, 0, 0.4999));
        assertEquals(0.3, late.valueAt(5, 1, 0.5));
        Schedule ramp = Schedule.linear(0.0, 0.2);
        assertEquals(0.0, ramp.valueAt(0, 0, 0.0));
        assertEquals(0.1, ramp.valueAt(5, 0, 0.5));
        assertEquals(0.2, ramp.valueAt(9, 0, 1.0));
        assertThrows(IllegalArgumentException.class, () -> Schedule.early(0.1, 1.5));
        assertThrows(IllegalArgumentException.class, () -> Schedule.late(Double.NaN, 0.5));
    }

    /** Early dropout through the trainer: p is 0.5 for the first half of the steps, then 0, in the model and in the log. */
    @Test
    void earlyDropoutSetsPBeforeEachStepAndLogsItPerStep(@TempDir Path dir) throws Exception {
        TrainerTest.Net net = new TrainerTest.Net();
        ScheduleCallback early = DropoutSchedules.forModel(net, Schedule.early(0.5, 0.5));
        Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(2).seed(11)
                .device(Devices.cpu()).callback(early).outputDir(dir).name("early").build();
        TrainingHistory history = trainer.fit(TrainerTest.train(), null);

        long total = 2L * TrainerTest.train().batchesPerEpoch();
        List<TrainingHistory.StepValues> steps = history.steps();
        assertEquals(List.of(DropoutSchedules.METRIC), history.valueNames());
        assertEquals(total, steps.size(), "one row per optimizer step");
        for (TrainingHistory.StepValues row : steps) {
            double expected = (double) row.step() / total < 0.5 ? 0.5 : 0.0;
            assertEquals(expected, row.values()[0], "step " + row.step());
        }
        assertEquals(0.0, net.drop.p(), "the module follows the schedule");
        Tensor x = torch.randn(16, 32);
        net.drop.train(true);
        assertTrue(net.drop.forward(x).equal(x), "p = 0 in training is the identity");

        List<String> csv = Files.readAllLines(dir.resolve("metrics-early-steps.csv"));
        assertEquals("step,epoch,dropout/p", csv.get(0));
        assertEquals(total + 1, csv.size());
        assertEquals("0,1,0.500000", csv.get(1));
        assertEquals((total - 1) + ",2,0.000000", csv.get(csv.size() - 1));
    }

    /** DropGrad's rate follows its schedule and is logged per step as dropgrad/rate, like dropout's p. */
    @Test
    void dropGradLogsItsScheduledRateBeforeEveryStep(@TempDir Path dir) throws Exception {
        TrainerTest.Net net = new TrainerTest.Net();
        Schedule ramp = Schedule.linear(0.0, 0.3);
        DropGrad dropGrad = DropGrad.builder().rate(ramp).build(net);
        DropGradCallback callback = DropGradCallback.masking(dropGrad);
        Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(2).seed(11)
                .device(Devices.cpu()).callback(callback).outputDir(dir).name("dropgrad").build();
        TrainingHistory history = trainer.fit(TrainerTest.train(), null);

        long total = 2L * TrainerTest.train().batchesPerEpoch();
        List<TrainingHistory.StepValues> steps = history.steps();
        assertEquals(List.of(DropGradCallback.METRIC), history.valueNames());
        assertEquals(total, steps.size(), "one row per optimizer step");
        for (TrainingHistory.StepValues row : steps) {
            assertEquals(0.3 * row.step() / total, row.values()[0], 1e-12, "step " + row.step());
        }
        assertTrue(steps.get(steps.size() - 1).values()[0] > 0.25, "the ramp got near its end");
        assertEquals(steps.get(steps.size() - 1).values()[0], dropGrad.maxRate(), "DropGrad holds the logged rate");
        List<String> csv = Files.readAllLines(dir.resolve("metrics-dropgrad-steps.csv"));
        assertEquals("step,epoch,dropgrad/rate", csv.get(0));
        assertEquals(total + 1, csv.size());
        assertEquals("0,1,0.000000", csv.get(1));
    }

    /** The schedule gives the deepest block's rate; every block keeps its share of it, so linear stays linear. */
    @Test
    void stochasticDepthScheduleScalesEveryBlockByTheSameFactor() {
        ResNet net = ResNet.small(ResNet.Layout.RESNET18, 4, 1, 4);
        StochasticDepthSurgery.apply(net, StochasticDepthOptions.builder().dropRate(0.2).distribution("linear").build());
        List<StochasticDepth> blocks = StochasticDepthSurgery.wrappers(net);
        double[] targets = blocks.stream().mapToDouble(StochasticDepth::targetRate).toArray();
        ScheduleCallback ramp = StochasticDepthSchedules.forModel(net, Schedule.linear(0.0, 0.2));
        ramp.update(5, 0, 0.5);
        assertEquals(0.1, ramp.current(), 1e-15);
        for (int i = 0; i < blocks.size(); i++) {
            assertEquals(targets[i] * 0.5, blocks.get(i).rate(), 1e-12, "block " + i);
        }
        ramp.update(10, 0, 1.0);
        for (int i = 0; i < blocks.size(); i++) {
            assertEquals(targets[i], blocks.get(i).rate(), 1e-12, "block " + i + " at the end of the ramp");
        }
        ScheduleCallback bad = StochasticDepthSchedules.forModel(net, Schedule.constant(1.5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bad.update(0, 0, 0));
        assertTrue(e.getMessage().contains("1.5"), e.getMessage());
    }

    @Test
    void aModelWithoutTheRegularizerIsRefusedByName() {
        Module empty = new Module("Empty");
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> DropoutSchedules.forModel(empty, Schedule.constant(0.1))).getMessage().contains("Dropout"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> StochasticDepthSchedules.forModel(empty, Schedule.constant(0.1))).getMessage()
                .contains("StochasticDepth"));
    }

    /** A resumed run keeps the per-step values logged before its checkpoint and continues after them. */
    @Test
    void resumeKeepsTheStepValuesLoggedBeforeTheCheckpoint(@TempDir Path dir) throws Exception {
        Path ckpt = dir.resolve("run.ckpt");
        TrainerTest.Net net = new TrainerTest.Net();
        TrainingCallback crash = new TrainingCallback() { // the run stops after its first epoch's checkpoint
            @Override
            public void onEpochBegin(TrainingContext context) {
                if (context.epoch() == 1) {
                    throw new IllegalStateException("interrupted");
                }
            }
        };
        Trainer first = Trainer.builder(TrainableModel.of(net, net::forward)).epochs(2).seed(11)
                .device(Devices.cpu()).callback(DropoutSchedules.forModel(net, Schedule.linear(0.4, 0.0)))
                .callback(crash).outputDir(dir).name("ramp").checkpoint(ckpt).build();
        assertThrows(IllegalStateException.class, () -> first.fit(TrainerTest.train(), null));
        long perEpoch = TrainerTest.train().batchesPerEpoch();

        TrainerTest.Net again = new TrainerTest.Net();
        Trainer resumed = Trainer.builder(TrainableModel.of(again, again::forward)).epochs(2).seed(11)
                .device(Devices.cpu()).callback(DropoutSchedules.forModel(again, Schedule.linear(0.4, 0.0)))
                .outputDir(dir).name("ramp").checkpoint(ckpt).build();
        resumed.resume(ckpt);
        assertEquals(perEpoch, resumed.history().steps().size(), "the first epoch's rows are back");
        TrainingHistory history = resumed.fit(TrainerTest.train(), null);
        assertEquals(2 * perEpoch, history.steps().size());
        for (int i = 0; i < history.steps().size(); i++) {
            TrainingHistory.StepValues row = history.steps().get(i);
            assertEquals(i, row.step());
            assertEquals(0.4 * (1 - (double) i / (2 * perEpoch)), row.values()[0], 1e-6, "step " + i);
        }
    }
}
