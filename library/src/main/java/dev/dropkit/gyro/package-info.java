/**
 * Gyro Dropout (Lee et al., "Gyro Dropout: Maximizing Ensemble Effect in Neural Network Training",
 * MLSys 2022): train a fixed set of {@code sigma} sub-networks, {@code tau} at a time, instead of a new
 * random one every step. {@link dev.dropkit.gyro.GyroDropoutOps#gyroDropout} is the functional op,
 * {@link dev.dropkit.gyro.GyroSchedule} decides which sub-networks are active when,
 * {@link dev.dropkit.gyro.GyroDropout} is the module that keeps masks and schedule in checkpointable
 * buffers, and {@link dev.dropkit.gyro.GyroDropoutCallback} takes the run's length from the training loop.
 */
package dev.dropkit.gyro;
