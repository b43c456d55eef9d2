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
 *
 * <p>As in the Java module, a training call is one multiply by a ready mask (the active masks, scaled and
 * laid out for the batch), kept in a buffer and rebuilt only when the active set, the batch layout, the
 * call's {@code p}, the dtype or the device changes; forward and backward are one kernel each then. No
 * step reads a value back from the device: the step counter and cursor are integer attributes, and the
 * permutation that straddles two cycles is arranged with a stable sort rather than boolean indexing.
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
        // the ready mask and what it was built for: batch layout (-2: stale) and p; dtype and device are its own
        m.register_buffer(fn + "_ready", torch.zeros(0));
        JitGraphs.intAttribute(m, fn + "_ready_key", -2);
        JitGraphs.floatAttribute(m, fn + "_ready_q", -1.0);
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
                        self.NAME_ready_key = -2
                    masks = self.NAME_masks
                    assert masks.size(1) == c, "dropkit Gyro Dropout masks were drawn for another number of features or channels"
                    step = self.NAME_step
                    if step % self.NAME_iter_num == 0:
                        self.NAME_select(sigma, tau)
                        self.NAME_ready_key = -2
                    self.NAME_step = step + 1
                    even = n % tau == 0
                    key = (-1 if even else n) * 64 + x.dim()
                    ready = self.NAME_ready
                    if self.NAME_ready_key != key or self.NAME_ready_q != q or ready.dtype != x.dtype or not (ready.device == x.device):
                        ready = self.NAME_build(x, masks, n, c, q, even, last)
                        self.NAME_ready = ready
                        self.NAME_ready_key = key
                        self.NAME_ready_q = q
                    if even:
                        grouped = [tau, n // tau] + x.size()[1:]
                        return (x.reshape(grouped) * ready).view(x.size())
                    return x * ready

                def NAME_build(self, x: Tensor, masks: Tensor, n: int, c: int, q: float, even: bool, last: bool) -> Tensor:
                    tau = self.NAME_tau
                    rows = self.NAME_active
                    if not even:
                        base = n // tau
                        extra = n - base * tau
                        split = extra * (base + 1)
                        r = torch.arange(n, device=x.device)
                        group = torch.where(r < split, torch.div(r, base + 1, rounding_mode="floor"),
                                            extra + torch.div(r - split, base, rounding_mode="floor"))
                        rows = rows.index_select(0, group)
                    ready = masks.index_select(0, rows).to(x.dtype) * (1.0 / (1.0 - q))
                    tail = [1] * (x.dim() - 2) + [c] if last else [c] + [1] * (x.dim() - 2)
                    if even:
                        return ready.view([tau, 1] + tail)
                    return ready.view([n] + tail)

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
                        # the ones that end the last cycle go behind the others: a stable sort on the flag
                        # instead of boolean indexing, which waits for the device to count the rows
                        behind = torch.sort(ends.index_select(0, fresh), dim=0, stable=True)[1]
                        fresh = fresh.index_select(0, behind)
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
