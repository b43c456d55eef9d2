package dev.dropkit.jit;

import dev.dropkit.core.Checks;
import dev.dropkit.core.NativeArchives;
import dev.dropkit.train.TrainableModel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** Loads TorchScript archives and adapts them to dropkit's training loop. */
public final class JitModels {
    private JitModels() {}

    /**
     * Loads a TorchScript archive ({@code torch.jit.save} output) onto {@code device}. The file is
     * checked before libtorch sees it, and libtorch's own errors surface as {@link IOException}s
     * naming the file, so a bad path never reaches native code unexplained.
     *
     * @throws IllegalArgumentException when {@code file} does not exist or is not a regular file
     * @throws IOException when the file is not a TorchScript zip archive or libtorch rejects it
     */
    public static JitModule load(Path file, Device device) throws IOException {
        Checks.notNull("file", file);
        Checks.notNull("device", device);
        if (!Files.exists(file)) {
            throw new IllegalArgumentException("TorchScript archive not found: " + file);
        }
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("not a regular file: " + file);
        }
        byte[] magic = new byte[4];
        int read;
        try (InputStream in = Files.newInputStream(file)) {
            read = in.readNBytes(magic, 0, 4);
        }
        if (read < 4 || magic[0] != 'P' || magic[1] != 'K' || magic[2] != 3 || magic[3] != 4) {
            throw new IOException("not a TorchScript archive (no zip header): " + file);
        }
        NativeArchives.verify(file, "TorchScript archive");
        try {
            JitModule module = torch.load(file.toAbsolutePath().toString(), new DeviceOptional(device), false);
            module.to(device);
            return module;
        } catch (RuntimeException e) {
            throw new IOException("libtorch could not load " + file + ": " + firstLine(e.getMessage()), e);
        }
    }

    /**
     * Saves {@code module} as a TorchScript archive that Python's {@code torch.jit.load} reads, atomically:
     * libtorch writes it into a staging folder in memory and Java puts it in place, so a full disk is an
     * {@link IOException} naming the file, never a JVM abort, and never a half-written file.
     *
     * @throws IOException if it cannot be written; nothing is left behind then
     */
    public static void save(JitModule module, Path file) throws IOException {
        Checks.notNull("module", module);
        Checks.notNull("file", file);
        long bytes = 0;
        for (Tensor t : JitTensors.namedParameters(module).values()) {
            bytes += t.numel() * t.element_size() + 4096;
        }
        for (Tensor t : JitTensors.namedBuffers(module).values()) {
            bytes += t.numel() * t.element_size() + 4096;
        }
        NativeArchives.writeStaged(file, "TorchScript archive", bytes, module::save);
    }

    /**
     * Adapts a loaded module to {@link TrainableModel}: {@code forward} calls the archive's
     * {@code forward} method with one tensor, {@code save}/{@code load} write its named parameters
     * and buffers into a dropkit checkpoint archive (the module itself is saved with
     * {@link JitModule#save(String)}). The adapter holds {@code module}, so it stays alive with it.
     */
    public static TrainableModel trainable(JitModule module) {
        Checks.notNull("module", module);
        return new JitTrainable(module);
    }

    /**
     * The model's parameters by dotted name, in libtorch's order; the tensors share storage with the
     * model. DropGrad takes them as it takes a Java model's:
     * {@code DropGrad.builder().rate(0.1).build(JitModels.namedParameters(module))}.
     */
    public static java.util.Map<String, Tensor> namedParameters(JitModule module) {
        Checks.notNull("module", module);
        return JitTensors.namedParameters(module);
    }

    static String firstLine(String message) {
        if (message == null) {
            return "(no message)";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    private static final class JitTrainable implements TrainableModel {
        private final JitModule module;

        JitTrainable(JitModule module) {
            this.module = module;
        }

        @Override
        public Tensor forward(Tensor input) {
            IValueVector args = new IValueVector(new IValue(input));
            IValue out = module.forward(args);
            if (!out.isTensor()) {
                throw new IllegalStateException("forward of the TorchScript model returned "
                        + out.tagKind().getString() + ", not a tensor");
            }
            return out.toTensor();
        }

        @Override
        public void train(boolean on) {
            module.train(on);
        }

        @Override
        public TensorVector parameters() {
            return JitTensors.parameters(module);
        }

        @Override
        public void to(Device device) {
            module.to(device);
        }

        @Override
        public void save(OutputArchive archive) {
            JitTensors.save(module, archive);
        }

        @Override
        public void load(InputArchive archive) {
            JitTensors.load(module, archive);
        }
    }
}
