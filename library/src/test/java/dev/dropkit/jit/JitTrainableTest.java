package dev.dropkit.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dropkit.core.Devices;
import dev.dropkit.core.Seeds;
import dev.dropkit.data.TensorBatches;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.Optimizers;
import dev.dropkit.train.TrainableModel;
import dev.dropkit.train.Trainer;
import dev.dropkit.train.TrainingHistory;
import java.io.IOException;
import java.nio.file.Path;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JitTrainableTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeModels() throws IOException {
        JitFixtures.generate(dir);
    }

    /** The same input on both sides of the language border: no random generator to agree on. */
    static Tensor probe() {
        return torch.arange(new Scalar(32 * 16)).to(torch.ScalarType.Float).reshape(32, 16)
                .mul(new Scalar(0.01)).sub(new Scalar(2.5));
    }

    @Test
    void aLoadedMlpTrainsSavesAndRunsInPython() throws IOException {
        JitModule module = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        TrainableModel model = JitModels.trainable(module);
        assertEquals(6, model.parameters().size());

        Seeds.seed(7);
        Tensor centers = torch.randn(4, 16).mul(new Scalar(2));
        Tensor y = torch.randint(4, new long[] {512});
        Tensor x = centers.index_select(0, y).add(torch.randn(512, 16));
        TensorBatches train = new TensorBatches(x, y, 64, true, 3, Devices.cpu());
        TensorBatches test = new TensorBatches(x, y, 128, false, 0, Devices.cpu());
        TrainingHistory h = Trainer.builder(model).optimizer(Optimizers.sgd(0.1)).epochs(3).seed(11)
                .device(Devices.cpu()).build().fit(train, test);
        EpochMetrics first = h.epochs().get(0);
        EpochMetrics last = h.last();
        assertTrue(last.trainLoss() < 0.8 * first.trainLoss(), first + " -> " + last);
        assertTrue(last.testAccuracy() > 0.8, "accuracy " + last.testAccuracy());

        model.train(false);
        Tensor javaOut;
        try (NoGradGuard g = new NoGradGuard()) {
            javaOut = model.forward(probe()).contiguous();
        }
        Path saved = dir.resolve("mlp_trained.pt");
        module.save(saved.toString());

        JitFixtures.Result r = JitFixtures.run("""
                import sys, torch
                m = torch.jit.load(sys.argv[1]).eval()
                x = (torch.arange(32 * 16, dtype=torch.float32).reshape(32, 16) * 0.01) - 2.5
                with torch.no_grad():
                    print(" ".join(repr(v) for v in m(x).flatten().tolist()))
                """.replace("sys.argv[1]", "'" + saved + "'"), "-");
        assertEquals(0, r.exitCode(), r.output());
        String[] values = r.output().trim().split("\\s+");
        assertEquals(javaOut.numel(), values.length, r.output());
        float[] java = new float[values.length];
        javaOut.data_ptr_float().get(java);
        for (int i = 0; i < values.length; i++) {
            assertEquals(java[i], Double.parseDouble(values[i]), 1e-4, "output " + i);
        }
    }

    @Test
    void saveAndLoadRoundTripTheParameters(@TempDir Path tmp) throws IOException {
        JitModule module = JitModels.load(dir.resolve("mlp_scripted.pt"), Devices.cpu());
        TrainableModel model = JitModels.trainable(module);
        model.train(false);
        Tensor before = model.forward(probe());
        OutputArchive out = new OutputArchive();
        model.save(out);
        Path file = tmp.resolve("params.pt");
        out.save_to(file.toString());
        TensorVector params = model.parameters();
        try (NoGradGuard g = new NoGradGuard()) {
            for (long i = 0; i < params.size(); i++) {
                params.get(i).zero_();
            }
        }
        assertTrue(!torch.equal(before, model.forward(probe())));
        InputArchive in = new InputArchive();
        in.load_from(file.toString());
        model.load(in);
        assertTrue(torch.equal(before, model.forward(probe())));
    }
}
