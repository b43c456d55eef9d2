/**
 * Java containers ({@link dev.dropkit.nn.Sequential}, {@link dev.dropkit.nn.ModuleList},
 * {@link dev.dropkit.nn.ModuleDict}, {@link dev.dropkit.nn.Residual}) that call each child's Java
 * {@code forward}, as libtorch's own containers cannot: a {@code SequentialImpl} calls the C++ forward of
 * its children and bypasses any Java module placed in it. Surgery can rewrite these containers, and
 * {@link dev.dropkit.surgery.NativeContainers} builds them from libtorch's containers with the same layers.
 */
package dev.dropkit.nn;
