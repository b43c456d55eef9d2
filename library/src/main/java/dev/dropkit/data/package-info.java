/**
 * Datasets for training: IDX files (MNIST, Fashion-MNIST) mapped into memory and handed to libtorch
 * without a copy, where to find them ({@link dev.dropkit.data.DataLocator}), and deterministic,
 * seeded mini-batches on any device ({@link dev.dropkit.data.Batches}).
 */
package dev.dropkit.data;
