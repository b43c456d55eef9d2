/**
 * dropkit: the dropout family of regularizers (Dropout, Gyro Dropout, DropGrad, Stochastic Depth)
 * for libtorch through Bytedeco's JavaCPP bindings.
 *
 * <p>Each algorithm lives in its own package with a functional op, a {@code Module} around it and
 * validated options; {@link dev.dropkit.core} holds what they share (device, seeding, native memory).
 */
package dev.dropkit;
