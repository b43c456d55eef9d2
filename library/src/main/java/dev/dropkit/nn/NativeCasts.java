package dev.dropkit.nn;

import dev.dropkit.core.Checks;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.bytedeco.pytorch.Module;

/**
 * Turns a module read back from libtorch (a plain {@link Module} view, see
 * native-notes/module-views-are-not-your-subclass.md) into its layer class, so that Java can call the
 * layer's own {@code forward}: a view of a {@code torch::nn::LinearImpl} becomes a {@code LinearImpl}
 * through the bindings' {@code Module.asLinear()}.
 *
 * <p>The cast is a C++ {@code dynamic_cast}: the result is the same native module (same address, same
 * parameters), not a copy, and it owns nothing. It is valid while a parent or another owning handle keeps
 * the module alive (native-notes/native-module-casts.md). The layer types are those the bindings give an
 * {@code asXxx()} for; a type outside them (a module written in Java, or a C++ class the bindings do not
 * map) is refused by name, because a view of it has no {@code forward} Java could call.
 */
public final class NativeCasts {
    private static final String PREFIX = "torch::nn::";
    private static final Map<String, Function<Module, Module>> CASTS = casts();

    private NativeCasts() {}

    private static Map<String, Function<Module, Module>> casts() {
        Map<String, Function<Module, Module>> m = new LinkedHashMap<>();
        put(m, "Linear", Module::asLinear);
        put(m, "Bilinear", Module::asBilinear);
        put(m, "Identity", Module::asIdentity);
        put(m, "Flatten", Module::asFlatten);
        put(m, "Unflatten", Module::asUnflatten);
        put(m, "Conv1d", Module::asConv1d);
        put(m, "Conv2d", Module::asConv2d);
        put(m, "Conv3d", Module::asConv3d);
        put(m, "ConvTranspose1d", Module::asConvTranspose1d);
        put(m, "ConvTranspose2d", Module::asConvTranspose2d);
        put(m, "ConvTranspose3d", Module::asConvTranspose3d);
        put(m, "BatchNorm1d", Module::asBatchNorm1d);
        put(m, "BatchNorm2d", Module::asBatchNorm2d);
        put(m, "BatchNorm3d", Module::asBatchNorm3d);
        put(m, "InstanceNorm1d", Module::asInstanceNorm1d);
        put(m, "InstanceNorm2d", Module::asInstanceNorm2d);
        put(m, "InstanceNorm3d", Module::asInstanceNorm3d);
        put(m, "LayerNorm", Module::asLayerNorm);
        put(m, "GroupNorm", Module::asGroupNorm);
        put(m, "LocalResponseNorm", Module::asLocalResponseNorm);
        put(m, "CrossMapLRN2d", Module::asCrossMapLRN2d);
        put(m, "Dropout", Module::asDropout);
        put(m, "Dropout2d", Module::asDropout2d);
        put(m, "Dropout3d", Module::asDropout3d);
        put(m, "AlphaDropout", Module::asAlphaDropout);
        put(m, "FeatureAlphaDropout", Module::asFeatureAlphaDropout);
        put(m, "ReLU", Module::asReLU);
        put(m, "ReLU6", Module::asReLU6);
        put(m, "LeakyReLU", Module::asLeakyReLU);
        put(m, "PReLU", Module::asPReLU);
        put(m, "RReLU", Module::asRReLU);
        put(m, "ELU", Module::asELU);
        put(m, "SELU", Module::asSELU);
        put(m, "CELU", Module::asCELU);
        put(m, "GELU", Module::asGELU);
        put(m, "GLU", Module::asGLU);
        put(m, "SiLU", Module::asSiLU);
        put(m, "Mish", Module::asMish);
        put(m, "Sigmoid", Module::asSigmoid);
        put(m, "LogSigmoid", Module::asLogSigmoid);
        put(m, "Tanh", Module::asTanh);
        put(m, "Tanhshrink", Module::asTanhshrink);
        put(m, "Hardtanh", Module::asHardtanh);
        put(m, "Hardshrink", Module::asHardshrink);
        put(m, "Softshrink", Module::asSoftshrink);
        put(m, "Softplus", Module::asSoftplus);
        put(m, "Softsign", Module::asSoftsign);
        put(m, "Threshold", Module::asThreshold);
        put(m, "Softmax", Module::asSoftmax);
        put(m, "Softmin", Module::asSoftmin);
        put(m, "LogSoftmax", Module::asLogSoftmax);
        put(m, "Softmax2d", Module::asSoftmax2d);
        put(m, "MaxPool1d", Module::asMaxPool1d);
        put(m, "MaxPool2d", Module::asMaxPool2d);
        put(m, "MaxPool3d", Module::asMaxPool3d);
        put(m, "AvgPool1d", Module::asAvgPool1d);
        put(m, "AvgPool2d", Module::asAvgPool2d);
        put(m, "AvgPool3d", Module::asAvgPool3d);
        put(m, "AdaptiveAvgPool1d", Module::asAdaptiveAvgPool1d);
        put(m, "AdaptiveAvgPool2d", Module::asAdaptiveAvgPool2d);
        put(m, "AdaptiveAvgPool3d", Module::asAdaptiveAvgPool3d);
        put(m, "AdaptiveMaxPool1d", Module::asAdaptiveMaxPool1d);
        put(m, "AdaptiveMaxPool2d", Module::asAdaptiveMaxPool2d);
        put(m, "AdaptiveMaxPool3d", Module::asAdaptiveMaxPool3d);
        put(m, "LPPool1d", Module::asLPPool1d);
        put(m, "LPPool2d", Module::asLPPool2d);
        put(m, "LPPool3d", Module::asLPPool3d);
        put(m, "FractionalMaxPool2d", Module::asFractionalMaxPool2d);
        put(m, "FractionalMaxPool3d", Module::asFractionalMaxPool3d);
        put(m, "ReflectionPad1d", Module::asReflectionPad1d);
        put(m, "ReflectionPad2d", Module::asReflectionPad2d);
        put(m, "ReflectionPad3d", Module::asReflectionPad3d);
        put(m, "ReplicationPad1d", Module::asReplicationPad1d);
        put(m, "ReplicationPad2d", Module::asReplicationPad2d);
        put(m, "ReplicationPad3d", Module::asReplicationPad3d);
        put(m, "ZeroPad1d", Module::asZeroPad1d);
        put(m, "ZeroPad2d", Module::asZeroPad2d);
        put(m, "ZeroPad3d", Module::asZeroPad3d);
        put(m, "ConstantPad1d", Module::asConstantPad1d);
        put(m, "ConstantPad2d", Module::asConstantPad2d);
        put(m, "ConstantPad3d", Module::asConstantPad3d);
        put(m, "Embedding", Module::asEmbedding);
        put(m, "EmbeddingBag", Module::asEmbeddingBag);
        put(m, "PixelShuffle", Module::asPixelShuffle);
        put(m, "PixelUnshuffle", Module::asPixelUnshuffle);
        put(m, "Upsample", Module::asUpsample);
        put(m, "Fold", Module::asFold);
        put(m, "Unfold", Module::asUnfold);
        put(m, "Sequential", Module::asSequential);
        put(m, "ModuleList", Module::asModuleList);
        put(m, "ModuleDict", Module::asModuleDict);
        put(m, "RNN", Module::asRNN);
        put(m, "LSTM", Module::asLSTM);
        put(m, "GRU", Module::asGRU);
        put(m, "RNNCell", Module::asRNNCell);
        put(m, "LSTMCell", Module::asLSTMCell);
        put(m, "GRUCell", Module::asGRUCell);
        put(m, "MultiheadAttention", Module::asMultiheadAttention);
        put(m, "TransformerEncoderLayer", Module::asTransformerEncoderLayer);
        put(m, "TransformerDecoderLayer", Module::asTransformerDecoderLayer);
        put(m, "TransformerEncoder", Module::asTransformerEncoder);
        put(m, "TransformerDecoder", Module::asTransformerDecoder);
        put(m, "Transformer", Module::asTransformer);
        return Collections.unmodifiableMap(m);
    }

    private static void put(Map<String, Function<Module, Module>> m, String layer,
            Function<Module, ? extends Module> cast) {
        m.put(PREFIX + layer + "Impl", cast::apply);
    }

    /** The libtorch type names ({@code torch::nn::LinearImpl}, ...) that {@link #cast} accepts. */
    public static Set<String> types() {
        return CASTS.keySet();
    }

    /** Whether {@link #cast} accepts a module of libtorch type {@code nativeType}. */
    public static boolean castable(String nativeType) {
        return CASTS.containsKey(nativeType);
    }

    /**
     * The module as its libtorch layer class ({@code LinearImpl}, {@code DropoutImpl}, {@code SequentialImpl},
     * ...): the same native object. A module that already is such a Java object is returned as it is.
     *
     * @throws IllegalArgumentException naming the type when the bindings have no cast for it
     */
    public static Module cast(Module module) {
        Checks.notNull("module", module);
        if (module.getClass() != Module.class) {
            return module; // already a typed Java object: a layer class, or a module written in Java
        }
        String type = module.name().getString();
        Function<Module, Module> cast = CASTS.get(type);
        if (cast == null) {
            throw new IllegalArgumentException(whyNot(type));
        }
        Module typed = cast.apply(module);
        if (typed == null || typed.isNull()) {
            throw new IllegalStateException("the bindings' cast of a " + type + " returned null");
        }
        return typed;
    }

    /** Why a view of type {@code nativeType} cannot be cast, or null if it can. */
    public static String whyNot(String nativeType) {
        if (castable(nativeType)) {
            return null;
        }
        if (nativeType.equals("torch::nn::Module")) {
            return nativeType + " is a plain libtorch Module: it has no forward Java could call";
        }
        return nativeType + " is not a libtorch layer the bindings can cast (Module.asXxx()): a module written in"
                + " Java, or a C++ class they do not map, is reached from a native container only as a plain view,"
                + " whose forward Java cannot call";
    }
}
