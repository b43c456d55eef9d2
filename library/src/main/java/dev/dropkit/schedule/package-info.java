/**
 * Values that change over training, shared by the regularizers: DropGrad's drop rate, Gyro
 * Dropout's and Stochastic Depth's probabilities. A {@link dev.dropkit.schedule.Schedule} maps (step,
 * epoch, progress) to a number; the factories cover constant, linear warm-up, step and cosine
 * schedules, and {@link dev.dropkit.schedule.Schedule#of} takes any function of the step and epoch.
 */
package dev.dropkit.schedule;
