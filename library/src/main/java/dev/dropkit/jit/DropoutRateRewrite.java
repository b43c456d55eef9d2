package dev.dropkit.jit;

import dev.dropkit.dropout.DropoutMode;
import org.bytedeco.pytorch.JitModule;

/**
 * Sets a new drop probability on dropout calls and/or switches them to the classic form (no scaling
 * in training, {@code x * (1-p)} in evaluation). Inverted calls keep the original op, so evaluation
 * output is unchanged; a NaN {@code p} keeps each call's own probability.
 */
final class DropoutRateRewrite implements DropoutSites.Rewrite {
    private final double p;
    private final DropoutMode mode;

    DropoutRateRewrite(double p, DropoutMode mode) {
        this.p = p;
        this.mode = mode;
    }

    @Override
    public String prefix() {
        return JitGraphs.PREFIX + "dropout_";
    }

    @Override
    public String skipReason(DropoutSites.Site site) {
        return mode == DropoutMode.CLASSIC && site.flavour().alpha()
                ? "alpha dropout has no classic form (its affine correction is part of the method)" : null;
    }

    @Override
    public void attributes(JitModule m, String fn, DropoutSites.Site site, boolean selected) {
        JitGraphs.floatAttribute(m, fn + "_p", selected && !Double.isNaN(p) ? p : -1.0);
        JitGraphs.boolAttribute(m, fn + "_classic", selected && mode == DropoutMode.CLASSIC);
    }

    @Override
    public String source(String fn, DropoutSites.Site site) {
        String keep = site.flavour() == DropoutSites.Flavour.FEATURE
                ? "            shape = [x.size(0), x.size(1)]\n"
                        + "            for _ in range(x.dim() - 2):\n"
                        + "                shape.append(1)\n"
                        + "            keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - q)\n"
                : "            keep = torch.empty_like(x).bernoulli_(1.0 - q)\n";
        return ("def NAME(self, x: Tensor, p: float, training: bool, inplace: bool) -> Tensor:\n"
                + "    q = self.NAME_p\n"
                + "    if q < 0.0:\n"
                + "        q = p\n"
                + "    if self.NAME_classic:\n"
                + "        if training:\n"
                + keep
                + "            y = x * keep\n"
                + "        else:\n"
                + "            y = x * (1.0 - q)\n"
                + "    else:\n"
                + "        y = OP(x, q, training)\n"
                + "    if inplace:\n"
                + "        return x.copy_(y)\n"
                + "    return y\n").replace("OP", site.flavour().op).replace("NAME", fn);
    }

    @Override
    public String detail(String fn, DropoutSites.Site site) {
        double own = site.constantP();
        return "self." + fn + "(...): " + site.flavour().op.substring("torch.".length()) + " p="
                + (Double.isNaN(p) ? (Double.isNaN(own) ? "the call's" : Double.toString(own)) : Double.toString(p))
                + ", mode=" + mode.id();
    }
}
