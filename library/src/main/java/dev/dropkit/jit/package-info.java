/**
 * TorchScript models exported from Python: load ({@link dev.dropkit.jit.JitModels}), inspect the
 * module tree, its dropout calls and residual blocks ({@link dev.dropkit.jit.JitInspector}), rewrite
 * their graphs with dropkit's regularizers ({@link dev.dropkit.jit.JitRewrites}: Gyro Dropout, a new
 * dropout rate or the classic mode, stochastic depth), and train them with dropkit's
 * {@link dev.dropkit.train.Trainer} through {@link dev.dropkit.jit.JitModels#trainable}. A rewrite
 * lives in the archive as TorchScript methods and attributes, so the saved model keeps regularizing
 * when PyTorch loads and trains it.
 */
package dev.dropkit.jit;
