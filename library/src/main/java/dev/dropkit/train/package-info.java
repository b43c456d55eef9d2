/**
 * A small, reusable training loop (not a framework): epochs over mini-batches, SGD or Adam from
 * libtorch, cross-entropy, accuracy, evaluation in eval mode each epoch, a progress bar, metrics to
 * CSV/JSON, learning curves to PNG, checkpoints that resume exactly, and
 * {@link dev.dropkit.train.TrainingCallback} hooks where regularizers plug in.
 */
package dev.dropkit.train;
