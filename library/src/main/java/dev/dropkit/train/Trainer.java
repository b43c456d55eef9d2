package dev.dropkit.train;

import dev.dropkit.core.Checks;
import dev.dropkit.core.Devices;
import dev.dropkit.core.NativeArchives;
import dev.dropkit.core.NativeMemory;
import dev.dropkit.core.OneDnn;
import dev.dropkit.core.Seeds;
import dev.dropkit.core.Tensors;
import dev.dropkit.data.Batch;
import dev.dropkit.data.BatchSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Trains a classifier with cross-entropy: epochs over a {@link BatchSource}, evaluation in eval mode
 * after each epoch, callbacks for regularizers, metrics to CSV/JSON, optional checkpoints.
 *
 * <pre>{@code
 * Trainer trainer = Trainer.builder(TrainableModel.of(net, net::forward))
 *         .optimizer(Optimizers.sgd(0.1)).epochs(10).seed(42).outputDir(out).build();
 * TrainingHistory history = trainer.fit(trainBatches, testBatches);
 * }</pre>
 *
 * <p><b>Gradient accumulation.</b> With {@link Builder#accumulationSteps(int) accumulationSteps(k)}, each
 * optimizer step accumulates the gradients of {@code k} consecutive batches (micro-batches): gradients are
 * zeroed before the first, every micro-batch's loss is divided by {@code k} before its backward pass, and
 * the optimizer steps after the {@code k}-th; the epoch's last group may be shorter and is stepped at the
 * end of the epoch (its loss is still divided by {@code k}). {@code onBatchBegin}/{@code onBatchEnd} run
 * per micro-batch, {@code beforeOptimizerStep} once per optimizer step, and
 * {@link TrainingContext#globalStep()} counts optimizer steps. The default, 1, is one step per batch.
 *
 * <p>Determinism: libtorch's generators are reseeded from (seed, epoch) at every epoch start, and
 * batch order is a function of the source's seed and the epoch, so a fixed seed fixes the run and a
 * resumed run continues exactly like an uninterrupted one. Every step runs in its own
 * {@link org.bytedeco.javacpp.PointerScope}: nothing native outlives the step.
 *
 * <p>The trainer prints nothing: progress reaches {@link TrainingCallback}s ({@code onBatchEnd} carries
 * each step's loss, {@code onEpochEnd} the epoch's metrics), which the CLI renders as a bar, and each
 * epoch's line goes to the {@code System.Logger} named after this class at DEBUG.
 *
 * <p>On CUDA a step waits for the GPU once, right after the forward pass, to read its loss (for that
 * callback and the finite-loss check) and its correct count in one copy; the regularizers add no wait of
 * their own. A loss read one step late would remove that wait too, at the price of the callbacks' order.
 */
public final class Trainer {
    private static final System.Logger LOG = System.getLogger(Trainer.class.getName());
    private final TrainableModel model;
    private final Optimizer optimizer;
    private final Device device;
    private final int epochs;
    private final int accumulationSteps;
    private final long seed;
    private final List<TrainingCallback> callbacks;
    private final Path outputDir;
    private final Path checkpoint;
    private final boolean oneDnn;
    private TrainingHistory history;
    private long globalStep;

    private Trainer(Builder b) {
        this.model = b.model;
        this.device = b.device == null ? Devices.preferred() : b.device;
        this.epochs = b.epochs;
        this.accumulationSteps = b.accumulationSteps;
        this.seed = b.seed;
        this.callbacks = List.copyOf(b.callbacks);
        this.outputDir = b.outputDir;
        this.checkpoint = b.checkpoint;
        this.oneDnn = b.oneDnn != null ? b.oneDnn : oneDnnIsSafeFor(model.parameters());
        this.history = new TrainingHistory(b.name);
        model.to(device);
        this.optimizer = b.optimizer.create(model.parameters());
    }

    /** Starts configuring a trainer for {@code model}. */
    public static Builder builder(TrainableModel model) {
        return new Builder(Checks.notNull("model", model));
    }

    /** The libtorch optimizer, created over the model's parameters on the training device. */
    public Optimizer optimizer() {
        return optimizer;
    }

    /** The device the model was moved to. */
    public Device device() {
        return device;
    }

    /** The metrics so far (restored ones included after {@link #resume(Path)}). */
    public TrainingHistory history() {
        return history;
    }

    /**
     * Trains for the configured epochs (or what is left of them after {@link #resume(Path)}).
     *
     * @param train training batches
     * @param eval evaluation batches, or null to skip evaluation
     * @return the history of every epoch of the run
     */
    public TrainingHistory fit(BatchSource train, BatchSource eval) {
        Checks.notNull("train", train);
        return OneDnn.with(oneDnn, () -> fitEpochs(train, eval));
    }

    private TrainingHistory fitEpochs(BatchSource train, BatchSource eval) {
        TrainingContext ctx = new TrainingContext(model, optimizer, device, epochs, train.batchesPerEpoch(),
                accumulationSteps);
        ctx.globalStep = globalStep;
        ctx.history = history;
        callbacks.forEach(c -> c.onTrainBegin(ctx));
        for (int epoch = history.epochs().size(); epoch < epochs; epoch++) {
            ctx.epoch = epoch;
            EpochMetrics metrics = runEpoch(ctx, train, eval);
            history.add(metrics);
            callbacks.forEach(c -> c.onEpochEnd(ctx, metrics));
            LOG.log(System.Logger.Level.DEBUG, () -> history.name() + " " + metrics.notebookLine());
            persist();
        }
        callbacks.forEach(c -> c.onTrainEnd(ctx, history));
        return history;
    }

    private EpochMetrics runEpoch(TrainingContext ctx, BatchSource train, BatchSource eval) {
        Seeds.reseedLibtorch(seed, ctx.epoch);
        model.train(true);
        callbacks.forEach(c -> c.onEpochBegin(ctx));
        double lossSum = 0;
        long correct = 0;
        long seen = 0;
        long start = System.nanoTime();
        Iterator<Batch> batches = train.epoch(ctx.epoch);
        int inGroup = 0; // micro-batches accumulated since the last optimizer step
        for (int step = 0; batches.hasNext(); step++) {
            ctx.step = step;
            boolean first = inGroup == 0;
            double[] r = NativeMemory.get(() -> trainStep(ctx, batches.next(), first, batches));
            inGroup = r[3] != 0 ? 0 : inGroup + 1;
            globalStep = ctx.globalStep;
            lossSum += r[0] * r[2];
            correct += (long) r[1];
            seen += (long) r[2];
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        if (seen == 0) {
            throw new IllegalStateException("epoch " + (ctx.epoch + 1) + " had no training batches");
        }
        Evaluation ev = eval == null ? new Evaluation(Double.NaN, Double.NaN, 0) : evaluateBatches(eval);
        return new EpochMetrics(ctx.epoch + 1, lossSum / seen, (double) correct / seen, ev.loss(), ev.accuracy(),
                seconds);
    }

    /**
     * One micro-batch: gradients zeroed when it is the {@code first} of its group, forward, loss, backward
     * (of the loss divided by the accumulation steps), and the optimizer step when it completes a group or
     * is the epoch's last batch. Returns {loss, correct, batch size, 1 if the optimizer stepped else 0} as
     * plain numbers so no tensor escapes the scope.
     */
    private double[] trainStep(TrainingContext ctx, Batch batch, boolean first, Iterator<Batch> rest) {
        callbacks.forEach(c -> c.onBatchBegin(ctx));
        if (first) {
            optimizer.zero_grad();
        }
        Tensor logits = model.forward(batch.inputs());
        Tensor loss = torch.cross_entropy(logits, batch.targets());
        double[] read = lossAndCorrect(loss, logits, batch.targets()); // before backward: waits for the forward only
        double lossValue = read[0];
        if (!Double.isFinite(lossValue)) {
            throw new IllegalStateException("loss became " + lossValue + " at epoch " + (ctx.epoch + 1) + ", step "
                    + (ctx.step + 1) + "; lower the learning rate");
        }
        (accumulationSteps == 1 ? loss : loss.div(new Scalar(accumulationSteps))).backward();
        long correct = (long) read[1];
        boolean stepNow = ctx.microBatch() == accumulationSteps - 1 || !rest.hasNext();
        if (stepNow) {
            callbacks.forEach(c -> c.beforeOptimizerStep(ctx));
            optimizer.step();
            ctx.globalStep++;
        }
        callbacks.forEach(c -> c.onBatchEnd(ctx, lossValue)); // inside the step's scope, like the other hooks
        return new double[] {lossValue, correct, batch.size(), stepNow ? 1 : 0};
    }

    /**
     * Whether libtorch's oneDNN convolutions give finite, repeatable gradients for a model with these
     * parameters: every convolution weight (3 or more dimensions) has a multiple of 16 output channels (and
     * so, but for the input image, every convolution's input has too). oneDNN's blocked layouts pad channels to 16 on AVX-512, and in libtorch 2.10 the backward pass of a
     * 3x3 convolution with 4 or 8 channels returned NaN input gradients in 1 to 3 of 6 identical runs (the
     * padding is read uninitialized: with uninitialized memory filled with NaN, every run failed); with 16
     * channels no run did. Without oneDNN, a step of that small ResNet took 1.03x (width 4) and 1.19x (width
     * 8) as long, but 7x at width 32, where oneDNN is safe.
     */
    static boolean oneDnnIsSafeFor(TensorVector parameters) {
        for (long i = 0; i < parameters.size(); i++) {
            Tensor p = parameters.get(i);
            if (p.dim() >= 3 && p.size(0) % 16 != 0) {
                return false;
            }
        }
        return true;
    }

    /** Loss and accuracy of the model in eval mode, without gradients. Leaves the model in eval mode. */
    public Evaluation evaluate(BatchSource eval) {
        return OneDnn.with(oneDnn, () -> evaluateBatches(eval));
    }

    private Evaluation evaluateBatches(BatchSource eval) {
        model.train(false);
        double lossSum = 0;
        long correct = 0;
        long seen = 0;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            Iterator<Batch> batches = eval.epoch(0);
            while (batches.hasNext()) {
                double[] r = NativeMemory.get(() -> {
                    Batch b = batches.next();
                    Tensor logits = model.forward(b.inputs());
                    double[] read = lossAndCorrect(torch.cross_entropy(logits, b.targets()), logits, b.targets());
                    return new double[] {read[0], read[1], b.size()};
                });
                lossSum += r[0] * r[2];
                correct += (long) r[1];
                seen += (long) r[2];
            }
        }
        return seen == 0 ? new Evaluation(Double.NaN, Double.NaN, 0)
                : new Evaluation(lossSum / seen, (double) correct / seen, seen);
    }

    /**
     * {loss, number of correct predictions} of a batch. Reading a value of a CUDA tensor makes the host wait
     * for the GPU; two {@code item()} calls waited twice a step, so off the CPU both values come back in one
     * copy (one synchronization a step, right after the forward pass). On the CPU {@code item()} costs
     * nothing of the sort and stays.
     */
    static double[] lossAndCorrect(Tensor loss, Tensor logits, Tensor targets) {
        Tensor correct = logits.argmax(new LongOptional(1), false).eq(targets).sum();
        if (loss.is_cpu()) {
            return new double[] {loss.item_double(), correct.item_long()};
        }
        TensorVector both = new TensorVector();
        both.push_back(loss.detach().to(torch.ScalarType.Double).reshape(1));
        both.push_back(correct.to(torch.ScalarType.Double).reshape(1));
        return Tensors.toDoubleArray(torch.cat(both, 0));
    }

    private void persist() {
        try {
            if (outputDir != null) {
                history.write(outputDir, "metrics-" + history.name());
            }
            if (checkpoint != null) {
                saveCheckpoint(checkpoint);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Saves model, optimizer state, finished epochs and metrics to one libtorch archive, serialized in
     * memory and then written atomically ({@link NativeArchives#write}): an interrupted save or a full disk
     * never leaves a broken checkpoint, and never aborts the JVM.
     *
     * @throws IOException naming the file if it cannot be written (nothing is left behind then)
     */
    public void saveCheckpoint(Path file) throws IOException {
        unwrapIo(() -> NativeMemory.run(() -> {
            OutputArchive archive = checkpointArchive();
            try {
                NativeArchives.write(file, "checkpoint", archive);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }));
    }

    /** Model, optimizer state, finished epochs, step, seed and metrics, as {@link #saveCheckpoint} writes them. */
    private OutputArchive checkpointArchive() {
        OutputArchive archive = new OutputArchive();
        OutputArchive modelArchive = new OutputArchive();
        model.save(modelArchive);
        archive.write("model", modelArchive);
        OutputArchive optimizerArchive = new OutputArchive();
        optimizer.save(optimizerArchive);
        archive.write("optimizer", optimizerArchive);
        archive.write("epochs_done", new IValue(history.epochs().size()));
        archive.write("global_step", new IValue(globalStep));
        archive.write("seed", new IValue(seed));
        archive.write("history", historyTensor());
        return archive;
    }

    /** Runs {@code body}, turning the UncheckedIOException it used to cross a lambda back into an IOException. */
    private static void unwrapIo(Runnable body) throws IOException {
        try {
            body.run();
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /**
     * Restores a checkpoint written by {@link #saveCheckpoint(Path)}: parameters, buffers, optimizer
     * state and metrics. The next {@link #fit} continues with the first unfinished epoch. It is all or
     * nothing: the file's checksums, its seed and every parameter's and buffer's name, shape and dtype are
     * checked before anything changes, and a failure while loading puts the model and optimizer back.
     *
     * @throws IOException if the file is missing, corrupt, not a dropkit checkpoint or cannot be loaded
     * @throws IllegalArgumentException if it was written with another seed or for another model (the
     *     message names the file and the first difference)
     */
    public void resume(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("checkpoint " + file + " does not exist");
        }
        NativeArchives.verify(file, "checkpoint");
        unwrapIo(() -> NativeMemory.run(() -> {
            InputArchive archive = new InputArchive();
            try {
                archive.load_from(file.toString(), new org.bytedeco.pytorch.DeviceOptional(device));
            } catch (RuntimeException e) {
                throw new UncheckedIOException(new IOException("checkpoint " + file + " cannot be read: "
                        + e.getMessage().lines().findFirst().orElse(""), e));
            }
            long savedSeed;
            InputArchive modelArchive = new InputArchive();
            InputArchive optimizerArchive = new InputArchive();
            try {
                savedSeed = readLong(archive, "seed");
                archive.read("model", modelArchive);
                archive.read("optimizer", optimizerArchive);
            } catch (RuntimeException e) { // a libtorch archive, but not one saveCheckpoint wrote
                throw new UncheckedIOException(new IOException("checkpoint " + file + " is not a dropkit checkpoint"
                        + " (it lacks the seed, model or optimizer entry)", e));
            }
            if (savedSeed != seed) {
                throw new IllegalArgumentException("checkpoint " + file + " was written with seed " + savedSeed
                        + " but this trainer uses seed " + seed + "; resuming would not reproduce the run");
            }
            byte[] backup = serialized(file, checkpointArchive());
            InputArchive current = NativeArchives.read(backup, device);
            InputArchive currentModel = new InputArchive();
            current.read("model", currentModel);
            String mismatch = NativeArchives.firstMismatch(currentModel, modelArchive);
            if (mismatch != null) {
                throw new IllegalArgumentException("checkpoint " + file + " was written for another model: "
                        + mismatch + "; nothing was loaded");
            }
            try {
                model.load(modelArchive);
                optimizer.load(optimizerArchive);
                long step = readLong(archive, "global_step");
                Tensor h = new Tensor();
                archive.read("history", h);
                history = historyFrom(h.cpu(), (int) readLong(archive, "epochs_done"));
                globalStep = step;
            } catch (RuntimeException e) {
                InputArchive restore = NativeArchives.read(backup, device);
                InputArchive restoreModel = new InputArchive();
                InputArchive restoreOptimizer = new InputArchive();
                restore.read("model", restoreModel);
                restore.read("optimizer", restoreOptimizer);
                model.load(restoreModel);
                optimizer.load(restoreOptimizer);
                throw new UncheckedIOException(new IOException("checkpoint " + file + " cannot be loaded into this"
                        + " trainer (model and optimizer left as they were): "
                        + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e));
            }
        }));
        if (outputDir != null) { // the per-step values the interrupted run wrote until its checkpoint
            try {
                history.readSteps(outputDir, "metrics-" + history.name(), globalStep);
            } catch (IOException | RuntimeException e) { // a log, not state: the run goes on without the old rows
                LOG.log(System.Logger.Level.WARNING, "earlier per-step values not restored: " + e.getMessage());
            }
        }
    }

    /** {@code archive}'s bytes, in memory. */
    private static byte[] serialized(Path file, OutputArchive archive) {
        try {
            return NativeArchives.serialize(file, "checkpoint", archive);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long readLong(InputArchive archive, String key) {
        IValue v = new IValue();
        archive.read(key, v);
        return v.toInt();
    }

    private Tensor historyTensor() {
        List<EpochMetrics> e = history.epochs();
        double[] values = new double[Math.max(1, e.size()) * 6];
        for (int i = 0; i < e.size(); i++) {
            EpochMetrics m = e.get(i);
            double[] row = {m.epoch(), m.trainLoss(), m.trainAccuracy(), m.testLoss(), m.testAccuracy(), m.seconds()};
            System.arraycopy(row, 0, values, i * 6, 6);
        }
        return Tensors.fromDoubles(values, values.length / 6, 6);
    }

    private TrainingHistory historyFrom(Tensor h, int epochsDone) {
        TrainingHistory restored = new TrainingHistory(history.name());
        double[] v = Tensors.toDoubleArray(h);
        for (int i = 0; i < epochsDone; i++) {
            restored.add(new EpochMetrics((int) Math.round(v[i * 6]), v[i * 6 + 1], v[i * 6 + 2], v[i * 6 + 3],
                    v[i * 6 + 4], v[i * 6 + 5]));
        }
        return restored;
    }

    /** Loss and accuracy over an evaluation set. */
    public record Evaluation(double loss, double accuracy, long samples) {}

    /** Configures a {@link Trainer}; every option is validated when set. */
    public static final class Builder {
        private final TrainableModel model;
        private Optimizers.Factory optimizer = Optimizers.sgd(0.1);
        private int epochs = 10;
        private int accumulationSteps = 1;
        private Device device;
        private long seed = 42;
        private final List<TrainingCallback> callbacks = new ArrayList<>();
        private Path outputDir;
        private Path checkpoint;
        private Boolean oneDnn;
        private String name = "run";

        private Builder(TrainableModel model) {
            this.model = model;
        }

        /** The optimizer (default: SGD with lr 0.1). */
        public Builder optimizer(Optimizers.Factory factory) {
            this.optimizer = Checks.notNull("optimizer", factory);
            return this;
        }

        /** Number of epochs ({@code max_epoch}, default 10). */
        public Builder epochs(int epochs) {
            this.epochs = (int) Checks.positive("epochs", epochs);
            return this;
        }

        /**
         * Batches whose gradients are accumulated per optimizer step (default 1: a step per batch); see
         * the class documentation.
         *
         * @throws IllegalArgumentException if {@code steps < 1}
         */
        public Builder accumulationSteps(int steps) {
            if (steps < 1) {
                throw new IllegalArgumentException("accumulationSteps must be at least 1, got " + steps);
            }
            this.accumulationSteps = steps;
            return this;
        }

        /** The device (default: {@link Devices#preferred()}). */
        public Builder device(Device device) {
            this.device = Checks.notNull("device", device);
            return this;
        }

        /** The seed libtorch is reseeded from at each epoch (default 42). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Adds a callback; callbacks run in the order added. */
        public Builder callback(TrainingCallback callback) {
            callbacks.add(Checks.notNull("callback", callback));
            return this;
        }

        /** Writes {@code metrics-<name>.csv} and {@code .json} there after every epoch. */
        public Builder outputDir(Path dir) {
            this.outputDir = dir;
            return this;
        }

        /**
         * Whether libtorch may use its oneDNN (MKLDNN) CPU kernels while this trainer runs. By default it
         * may unless the model has a convolution whose channel counts are not multiples of 16: there,
         * libtorch 2.10's oneDNN made fixed-seed runs go NaN at random steps (see
         * native-notes/onednn-small-channel-convolutions-go-nan.md), and without it every run gives the same
         * losses. The switch is process-wide: it is set for {@link #fit} and {@link #evaluate} and put back after.
         */
        public Builder oneDnn(boolean enabled) {
            this.oneDnn = enabled;
            return this;
        }

        /** Saves a checkpoint to this file after every epoch. */
        public Builder checkpoint(Path file) {
            this.checkpoint = file;
            return this;
        }

        /** The run's name, used in logs, files and plot legends (default "run"). */
        public Builder name(String name) {
            Checks.notNull("name", name);
            if (name.isBlank() || !name.matches("[A-Za-z0-9._+-]+")) {
                throw new IllegalArgumentException("name must be letters, digits, '.', '_', '+' or '-', got '"
                        + name + "'");
            }
            this.name = name;
            return this;
        }

        /** Moves the model to the device, creates the optimizer and returns the trainer. */
        public Trainer build() {
            return new Trainer(this);
        }
    }
}
