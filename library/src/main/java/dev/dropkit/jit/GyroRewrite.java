package dev.dropkit.jit;

import dev.dropkit.gyro.GyroDropoutOptions;
import dev.dropkit.gyro.GyroSchedule;
import dev.dropkit.gyro.GyroSelection;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Dropout -> Gyro Dropout, written as TorchScript so the archive keeps training with it anywhere. The
 * code mirrors {@link dev.dropkit.gyro.GyroDropout}: {@code sigma} channel masks drawn on the first
 * training call, {@code tau} of them active, consecutive groups of the batch each under one mask,
 * kept units scaled by {@code 1/(1-p)}, the active set re-drawn every {@code iterNum} training calls,
 * cycling through all {@code sigma} before any repeats. Randomness comes from the global generator
 * ({@code torch.manual_seed} in Python, {@code Seeds} in dropkit).
 */
final class GyroRewrite implements DropoutSites.Rewrite {
    private final GyroDropoutOptions options;
    private final boolean keepEachP;
    private final long iterNum;

    GyroRewrite(GyroDropoutOptions options, boolean keepEachP) {
        this.options = options;
        this.keepEachP = keepEachP;
        this.iterNum = GyroSchedule.iterNum(options.itersPerEpoch(), options.maxEpoch(), options.sigma(), options.tau());
    }

    long iterNum() {
        return iterNum;
    }

    @Override
    public String prefix() {
        return JitGraphs.PREFIX + "gyro_";
    }

    @Override
    public String skipReason(DropoutSites.Site site) {
        return site.flavour().alpha()
                ? "alpha dropout keeps activations self-normalizing with its own affine correction; Gyro Dropout's masks"
                        + " would break it, so it is left as it is"
                : null;
    }

    @Override
    public void attributes(JitModule m, String fn, DropoutSites.Site site, boolean selected) {
        JitGraphs.boolAttribute(m, fn + "_on", selected);
        JitGraphs.floatAttribute(m, fn + "_p", keepEachP ? -1.0 : options.p());
        JitGraphs.intAttribute(m, fn + "_sigma", options.sigma());
        JitGraphs.intAttribute(m, fn + "_tau", options.tau());
        JitGraphs.intAttribute(m, fn + "_iter_num", iterNum);
        JitGraphs.boolAttribute(m, fn + "_iid", options.selection() == GyroSelection.IID);
        JitGraphs.boolAttribute(m, fn + "_last", options.featuresLast());
        JitGraphs.intAttribute(m, fn + "_step", 0);
        JitGraphs.intAttribute(m, fn + "_cursor", 0);
        m.register_buffer(fn + "_masks", torch.zeros(0));
        // index buffers must be int64 from the start: a checkpoint read into them keeps their dtype
        m.register_buffer(fn + "_order", torch.zeros(new long[] {0}, new TensorOptions(torch.ScalarType.Long)));
        m.register_buffer(fn + "_active", torch.zeros(new long[] {0}, new TensorOptions(torch.ScalarType.Long)));
    }

    @Override
    public String source(String fn, DropoutSites.Site site) {
        return """
                def NAME(self, x: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
                    q = self.NAME_p
                    if q < 0.0:
                        q = p
                    if not self.NAME_on:
                        y = FALLBACK(x, p, training)
                    elif not training or q == 0.0:
                        return x
                    else:
                        y = self.NAME_apply(x, q)
                    if inplace:
                        return x.copy_(y)
                    return y

                def NAME_apply(self, x: Tensor, q: float) -> Tensor:
                    assert x.dim() >= 2, "dropkit Gyro Dropout needs an input of shape [N, C, *]: a batch and a feature or channel dimension"
                    n = x.size(0)
                    last = self.NAME_last
                    c = x.size(x.dim() - 1) if last else x.size(1)
                    sigma = self.NAME_sigma
                    tau = self.NAME_tau
                    assert n >= tau, "dropkit Gyro Dropout needs a batch of at least tau samples (one group per active sub-network)"
                    if self.NAME_masks.numel() == 0:
                        self.NAME_masks = torch.empty([sigma, c], dtype=x.dtype, device=x.device).bernoulli_(1.0 - q)
                        self.NAME_order = torch.randperm(sigma, device=x.device)
                        self.NAME_cursor = 0
                    masks = self.NAME_masks
                    assert masks.size(1) == c, "dropkit Gyro Dropout masks were drawn for another number of features or channels"
                    step = self.NAME_step
                    if step % self.NAME_iter_num == 0:
                        self.NAME_select(sigma, tau)
                    self.NAME_step = step + 1
                    base = n // tau
                    extra = n - base * tau
                    split = extra * (base + 1)
                    r = torch.arange(n, device=x.device)
                    group = torch.where(r < split, torch.div(r, base + 1, rounding_mode="floor"),
                                        extra + torch.div(r - split, base, rounding_mode="floor"))
                    rows = self.NAME_active.index_select(0, group)
                    shape = [n] + [1] * (x.dim() - 2) + [c] if last else [n, c] + [1] * (x.dim() - 2)
                    mask = masks.index_select(0, rows).view(shape)
                    return x * (mask * (1.0 / (1.0 - q)))

                def NAME_select(self, sigma: int, tau: int):
                    order = self.NAME_order
                    if self.NAME_iid:
                        self.NAME_active = torch.randperm(sigma, device=order.device)[:tau]
                        return
                    cur = self.NAME_cursor
                    if cur + tau <= sigma:
                        self.NAME_active = order[cur:cur + tau].clone()
                        self.NAME_cursor = cur + tau
                    else:
                        head = order[cur:]
                        fresh = torch.randperm(sigma, device=order.device)
                        ends = fresh.new_zeros([sigma]).index_fill_(0, head, 1)
                        flag = ends.index_select(0, fresh) > 0
                        fresh = torch.cat([fresh[flag.logical_not()], fresh[flag]])
                        need = tau - head.size(0)
                        self.NAME_active = torch.cat([head, fresh[:need]])
                        self.NAME_order = fresh
                        self.NAME_cursor = need
                """.replace("FALLBACK", site.flavour().op).replace("NAME", fn);
    }

    @Override
    public String detail(String fn, DropoutSites.Site site) {
        double p = site.constantP();
        String shownP = keepEachP && Double.isNaN(p) ? "the call's" : Double.toString(keepEachP ? p : options.p());
        return "self." + fn + "(...): Gyro Dropout "
                + options.settings(shownP, options.itersPerEpoch(), options.maxEpoch(), iterNum);
    }
}
