# The layer semantics netspec's runtime implements, in torch. Torch draws its masks and
# augmentations from its own random streams: the same seed gives other draws than netspec's
# `Rng`, with the same distributions. `forward(x, noise=...)` takes netspec's draws instead
# (keyed by layer name, as `Network::noise` returns them) to replay a netspec step exactly.


def _drawn(noise, name, shape, draw):
    """netspec's draw for layer `name` when given (reshaped to `shape`), else a fresh one."""
    if noise is not None and name in noise:
        return torch.as_tensor(noise[name], dtype=torch.float32).reshape(shape)
    return draw()


def _bernoulli_mask(shape, p, keep, like):
    """0 with probability p (dropped), `keep` otherwise (netspec's `bernoulli_mask`)."""
    kept = torch.rand(shape, device=like.device) >= p
    return kept.to(like.dtype) * keep


def _dropout(module, name, x, p, keep, eval_scale, noise):
    """Dropout: x * mask while training (mask 0 or keep: 1/(1-p) inverted, 1 with `rescale
    test`); x * eval_scale in eval (1, or 1-p with `rescale test`)."""
    if not module.training:
        return x if eval_scale == 1.0 else x * eval_scale
    mask = _drawn(noise, name, x.shape, lambda: _bernoulli_mask(x.shape, p, keep, x))
    return x * mask


def _gaussian_noise(module, name, x, sigma, noise):
    """x + N(0, sigma^2) per value while training; the identity in eval."""
    if not module.training:
        return x
    eps = _drawn(noise, name, x.shape, lambda: torch.randn_like(x) * sigma)
    return x + eps


def _dropconnect(module, name, linear, x, p, keep, noise):
    """DropConnect (Wan et al. 2013): one mask per weight for the whole mini-batch, inverted
    (0 or 1/(1-p)), y = x (W * mask)^T + b; the mean network W in eval."""
    if not module.training:
        return linear(x)
    w = linear.weight
    mask = _drawn(noise, name, w.shape, lambda: _bernoulli_mask(w.shape, p, keep, w))
    return F.linear(x, w * mask, linear.bias)


def _residual(module, name, skip, branch, p, keep, noise):
    """y = x + m F(x) with m per sample 0 (probability p) or 1/(1-p) while training, as
    torchvision.ops.stochastic_depth(mode="row"); y = x + F(x) in eval."""
    if not module.training or p == 0.0:
        return skip + branch
    shape = (branch.shape[0],) + (1,) * (branch.dim() - 1)
    mask = _drawn(noise, name, shape, lambda: _bernoulli_mask(shape, p, keep, branch))
    return skip + mask * branch


def _fractional_starts(u, size, out):
    """Window starts of fractional max pooling, as PyTorch's generate_intervals in f32:
    alpha = (size - 2) / (out - 1), start_i = floor((i + u) alpha) - floor(u alpha), the last
    window ending at the border. u: (N,) -> (N, out) indices."""
    last = size - 2
    n = u.shape[0]
    if out == 1:
        return torch.full((n, 1), last, dtype=torch.long, device=u.device)
    # an f64 quotient rounded to f32 is the correctly rounded f32 quotient
    alpha = torch.full((), last / (out - 1), dtype=torch.float32, device=u.device)
    i = torch.arange(out - 1, dtype=torch.float32, device=u.device)
    starts = torch.floor((i[None, :] + u[:, None]) * alpha) - torch.floor(u[:, None] * alpha)
    starts = starts.clamp(max=last).to(torch.long)
    tail = torch.full((n, 1), last, dtype=torch.long, device=u.device)
    return torch.cat([starts, tail], dim=1)


def _fractional_maxpool(module, name, x, out_h, out_w, noise):
    """Fractional max pooling (Graham 2014) with 2x2 windows: one `u` per sample and axis
    (`[u_width, u_height]`, uniform in [0, 1) while training, 0.5 in eval), shared by the
    sample's channels."""
    n, c, h, w = x.shape
    if module.training:
        u = _drawn(noise, name, (n, 2), lambda: torch.rand(n, 2, device=x.device))
    else:
        u = torch.full((n, 2), 0.5, device=x.device)
    rows = _fractional_starts(u[:, 1], h, out_h)
    cols = _fractional_starts(u[:, 0], w, out_w)
    two = torch.arange(2, device=x.device)
    # gather each window's two rows and two columns, then max over the 2x2 blocks
    rows = (rows[:, :, None] + two).reshape(n, 1, 2 * out_h, 1).expand(n, c, 2 * out_h, w)
    x = torch.gather(x, 2, rows)
    cols = (cols[:, :, None] + two).reshape(n, 1, 1, 2 * out_w).expand(n, c, 2 * out_h, 2 * out_w)
    x = torch.gather(x, 3, cols)
    return F.max_pool2d(x, 2)


def _one_hot(targets, classes):
    """Soft labels (N, classes) from class indices, or the targets as floats."""
    if targets.dtype in (torch.int32, torch.int64):
        return F.one_hot(targets.to(torch.long), classes).to(torch.float32)
    return targets.to(torch.float32).reshape(targets.shape[0], -1)


def _clipped_span(center, size, length):
    """[center - size//2, center - size//2 + size) clipped to [0, length)."""
    start = center - size // 2
    return max(0, min(start, length)), max(0, min(start + size, length))


def _translate(x, pixels):
    """Per sample, shift by (dy, dx) uniform in -pixels..=pixels, zero fill."""
    return _translate_by(x, torch.randint(-pixels, pixels + 1, (x.shape[0], 2)))


def _translate_by(x, shifts):
    """out[n, c, y, x] = in[n, c, y - dy, x - dx] with shifts[n] = (dy, dx), zero outside."""
    h, w = x.shape[2], x.shape[3]
    pad = int(shifts.abs().max()) if shifts.numel() else 0
    padded = F.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        dy, dx = int(shifts[i, 0]), int(shifts[i, 1])
        out[i] = padded[i, :, pad - dy:pad - dy + h, pad - dx:pad - dx + w]
    return out


def _flip(x, dim):
    """Mirror along `dim` (3: left-right, 2: top-bottom) with probability 1/2 per sample."""
    flip = torch.rand(x.shape[0]) < 0.5
    out = x.clone()
    out[flip] = x[flip].flip(dim)
    return out


def _rotate(x, degrees):
    """Per sample, rotate by an angle uniform in [-degrees, degrees]."""
    return _rotate_by(x, (torch.rand(x.shape[0]) * 2.0 - 1.0) * degrees)


def _rotate_by(x, angles):
    """Rotates sample n by angles[n] degrees, counter-clockwise for positive angles, about
    ((H-1)/2, (W-1)/2), bilinear, zero fill (each output pixel samples R(-angle) of itself)."""
    n, c, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    out = torch.zeros_like(x)
    for i in range(n):
        rad = math.radians(float(angles[i]))
        sin, cos = math.sin(rad), math.cos(rad)
        u, v = xs - cx, cy - ys
        sx, sy = cx + (cos * u + sin * v), cy - (-sin * u + cos * v)
        x0, y0 = torch.floor(sx), torch.floor(sy)
        fx, fy = (sx - x0).to(torch.float32), (sy - y0).to(torch.float32)
        for ty, tx, weight in ((y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                               (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)):
            inside = (ty >= 0) & (tx >= 0) & (ty < h) & (tx < w)
            tyi, txi = ty.clamp(0, h - 1).to(torch.long), tx.clamp(0, w - 1).to(torch.long)
            out[i] += torch.where(inside, weight, torch.zeros_like(weight)) * x[i][:, tyi, txi]
    return out


def _cutout(x, size):
    """Per sample, zero a size x size square (all channels) centered on a uniform pixel,
    clipped at the border (DeVries and Taylor 2017)."""
    n, _, h, w = x.shape
    centers = torch.stack([torch.randint(h, (n,)), torch.randint(w, (n,))], dim=1)
    return _cutout_at(x, size, centers)


def _cutout_at(x, size, centers):
    """Zeroes the size x size square centered on centers[n] = (cy, cx) in sample n."""
    h, w = x.shape[2], x.shape[3]
    out = x.clone()
    for i in range(x.shape[0]):
        y0, y1 = _clipped_span(int(centers[i, 0]), size, h)
        x0, x1 = _clipped_span(int(centers[i, 1]), size, w)
        out[i, :, y0:y1, x0:x1] = 0.0
    return out


def _beta(alpha):
    return float(torch.distributions.Beta(alpha, alpha).sample())


def _mixup(x, t, alpha):
    """One lam ~ Beta(alpha, alpha) and one permutation per batch (Zhang et al. 2018)."""
    return _mix(x, t, _beta(alpha), torch.randperm(x.shape[0]))


def _mix(x, t, lam, partners):
    """x_i = lam x_i + (1 - lam) x_p(i), and the targets likewise."""
    return lam * x + (1.0 - lam) * x[partners], lam * t + (1.0 - lam) * t[partners]


def _cutmix(x, t, alpha):
    """One lam ~ Beta(alpha, alpha), permutation and box per batch (Yun et al. 2019): the box
    floor(H sqrt(1-lam)) x floor(W sqrt(1-lam)) around a uniform pixel, clipped."""
    _, _, h, w = x.shape
    drawn = _beta(alpha)
    partners = torch.randperm(x.shape[0])
    cut = math.sqrt(max(1.0 - drawn, 0.0))
    cx, cy = int(torch.randint(w, ())), int(torch.randint(h, ()))
    y0, y1 = _clipped_span(cy, int(h * cut), h)
    x0, x1 = _clipped_span(cx, int(w * cut), w)
    return _paste(x, t, partners, (y0, y1, x0, x1))


def _paste(x, t, partners, box):
    """Pastes rows y0..y1, columns x0..x1 of each sample's partner into it; the targets are
    mixed by the pasted area."""
    y0, y1, x0, x1 = box
    h, w = x.shape[2], x.shape[3]
    pasted = torch.tensor((y1 - y0) * (x1 - x0), dtype=torch.float32) / (h * w)
    out = x.clone()
    out[:, :, y0:y1, x0:x1] = x[partners][:, :, y0:y1, x0:x1]
    return out, (1.0 - pasted) * t + pasted * t[partners]


def _fit_stats(rows, per_channel, eps, whiten):
    """mean, divisor sqrt(var + eps) (1 for a zero variance) and the ZCA matrix of training
    rows (N, ...), in float64, as netspec's Preprocessor::fit."""
    x = torch.as_tensor(rows, dtype=torch.float64)
    dims = (0, 2, 3) if per_channel else (0,)
    mean = x.mean(dim=dims)
    var = ((x - (mean[None, :, None, None] if per_channel else mean[None])) ** 2).mean(dim=dims)
    std = torch.where(var == 0, torch.ones_like(var), torch.sqrt(var + eps))
    zca = None
    if whiten:
        flat = x.reshape(x.shape[0], -1) - mean.reshape(1, -1)
        cov = flat.T @ flat / flat.shape[0]
        lam, vecs = torch.linalg.eigh(cov)
        lam = torch.where(lam <= lam.shape[0] * 2.220446049250313e-16 * lam.max(),
                          torch.zeros_like(lam), lam)
        scale = torch.where(lam + eps > 0, 1.0 / torch.sqrt(lam + eps), torch.zeros_like(lam))
        zca = vecs @ torch.diag(scale) @ vecs.T
    return mean, std, zca


class _Preprocess(nn.Module):
    """The spec's `preprocess`: buffers `mean` (and `std`, or `whiten`), netspec's
    `preprocess.*` tensors, the identity until `fit` or `load_state_dict` sets them."""

    def __init__(self, kind, shape, eps):
        super().__init__()
        self.kind, self.shape, self.eps = kind, tuple(shape), eps
        self.per_channel = kind.endswith("per_channel")
        stat = (shape[0],) if self.per_channel else tuple(shape)
        self.register_buffer("mean", torch.zeros(stat))
        if kind.startswith("standardize"):
            self.register_buffer("std", torch.ones(stat))
        if kind == "whiten pca":
            self.register_buffer("whiten", torch.eye(math.prod(shape)))

    def _stat(self, t):
        return t.reshape(1, -1, 1, 1) if self.per_channel else t.unsqueeze(0)

    def forward(self, x):
        if self.kind == "whiten pca":
            # W (x - mean) per sample
            flat = x.reshape(x.shape[0], -1) - self.mean.reshape(1, -1)
            return (flat @ self.whiten.T).reshape(x.shape)
        x = x - self._stat(self.mean)
        if self.kind.startswith("standardize"):
            x = x / self._stat(self.std)
        return x

    @torch.no_grad()
    def fit(self, rows):
        """Fits the statistics on training rows (N x INPUT values, or N samples of the input
        shape): biased variances, accumulated in float64 and stored in float32."""
        rows = torch.as_tensor(rows, dtype=torch.float64).reshape((-1,) + self.shape)
        mean, std, zca = _fit_stats(rows, self.per_channel, self.eps, self.kind == "whiten pca")
        self.mean.copy_(mean.reshape(self.mean.shape))
        if self.kind.startswith("standardize"):
            self.std.copy_(std.reshape(self.std.shape))
        if zca is not None:
            self.whiten.copy_(zca)
