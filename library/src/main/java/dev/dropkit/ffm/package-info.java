/**
 * Zero-copy views between libtorch tensors and the Java Foreign Function and Memory API, so data can
 * move between files, Java code and tensors without a round trip through Java arrays.
 */
package dev.dropkit.ffm;
