/**
 * TorchScript models exported from Python: load ({@link dev.dropkit.jit.JitModels}), inspect the
 * module tree and its dropout nodes ({@link dev.dropkit.jit.JitInspector}), and train them with
 * dropkit's {@link dev.dropkit.train.Trainer} through {@link dev.dropkit.jit.JitModels#trainable}.
 */
package dev.dropkit.jit;
