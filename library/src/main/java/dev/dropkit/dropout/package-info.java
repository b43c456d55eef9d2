/**
 * Dropout (Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
 * JMLR 15, 2014): a functional op, {@link dev.dropkit.dropout.DropoutOps#dropout}, and a thin
 * {@link dev.dropkit.dropout.Dropout} module around it, in two modes:
 * {@linkplain dev.dropkit.dropout.DropoutMode#INVERTED inverted} (PyTorch's) and
 * {@linkplain dev.dropkit.dropout.DropoutMode#CLASSIC classic} (the paper's).
 */
package dev.dropkit.dropout;
