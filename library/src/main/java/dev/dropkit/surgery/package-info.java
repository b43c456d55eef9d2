/**
 * Model surgery: find modules in a Java module tree and replace or wrap them in place, the way
 * Composer's {@code module_surgery} does with {@code setattr} in Python.
 *
 * <p>A Java model holds each child twice: registered in libtorch (what {@code train()}, {@code to()},
 * {@code parameters()} and checkpoints see) and in a Java field or list (what its {@code forward}
 * calls). {@link dev.dropkit.surgery.ModuleSurgery} finds both and updates both, keeping the
 * registered name, so parameter and buffer names do not change.
 */
package dev.dropkit.surgery;
