"""Independent PyTorch reference of the FleXOR layers (docs/CORE.md is the contract).

This file must not share code with the C core: it re-implements, from CORE.md alone,
  * the SplitMix64 RNG and the XOR-gate mask generation (python ints, mod 2^64),
  * the XOR decryption as a torch.autograd.Function with the three backward modes
    (FX_BWD_FLEXOR = 0, FX_BWD_STE = 1, FX_BWD_ANALOG = 2),
  * FlexorWeight (latent x [q][n_slices*n_in], alpha [q][C_out], paper slicing order
    [K][K][C_in][C_out] / [I][O], tail dropped) producing the OIHW / [O][I] float weight,
  * FlexorConv2d / FlexorDense (F.conv2d / F.linear), the option-A shortcut and the LR / S_tanh schedule.
Everything else (BatchNorm, pooling, losses, optimisers) is plain PyTorch, which is what keeps the golden
files independent of the C code. The reference computes in float64 by default (dtype argument).

Small model classes (LeNet-5, CIFAR ResNet-20/32) built from these layers are at the end; they are meant
to be reused by a (DDP) training script.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MASK64 = (1 << 64) - 1

FX_BWD_FLEXOR = 0
FX_BWD_STE = 1
FX_BWD_ANALOG = 2
MODE_NAMES = {"flexor": FX_BWD_FLEXOR, "ste": FX_BWD_STE, "analog": FX_BWD_ANALOG}


# ----------------------------------------------------------------------------------------------------------
# RNG: SplitMix64
# ----------------------------------------------------------------------------------------------------------
class SplitMix64:
    """SplitMix64 exactly as in CORE.md; the state is a python int kept modulo 2^64."""

    def __init__(self, seed):
        self.state = int(seed) & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def u32(self):
        return self.next() >> 32

    def below(self, n):
        assert n >= 1
        return (self.u32() * n) >> 32

    def uniform(self):
        return (self.next() >> 40) * 2.0 ** -24

    def normal(self):
        u1 = ((self.next() >> 40) + 1) * 2.0 ** -24
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def low_bits(n):
    return 0xFFFFFFFF if n >= 32 else (1 << n) - 1


def xor_masks(n_out, n_in, n_tap, seed, plane=0):
    """Rows of the XOR-gate matrix M for one bit plane, as a list of n_out uint32 masks (bit i = M[r][i])."""
    assert 1 <= n_in <= n_out <= 32 and 0 <= n_tap <= n_in
    rng = SplitMix64((int(seed) + 0x632BE59BD9B4E019 * (plane + 1)) & MASK64)
    masks = []
    for _ in range(n_out):
        if n_tap > 0:
            a = list(range(n_in))
            mask = 0
            for k in range(n_tap):
                j = k + rng.below(n_in - k)
                a[k], a[j] = a[j], a[k]
                mask |= 1 << a[k]
        else:
            while True:
                mask = rng.u32() & low_bits(n_in)
                if mask != 0:
                    break
        masks.append(mask)
    return masks


def mask_matrix(masks, n_in, dtype=torch.float64):
    """[n_out][n_in] 0/1 tensor of the mask rows."""
    return torch.tensor([[(m >> i) & 1 for i in range(n_in)] for m in masks], dtype=dtype)


# ----------------------------------------------------------------------------------------------------------
# XOR decryption with the three backward modes
# ----------------------------------------------------------------------------------------------------------
def _exclusive_prod(t):
    """out[..., i] = prod_{k != i} t[..., k] (no division, so exact zeros are fine)."""
    ones = torch.ones_like(t[..., :1])
    pre = torch.cat([ones, torch.cumprod(t[..., :-1], dim=-1)], dim=-1)
    suf = torch.flip(torch.cat([ones, torch.cumprod(torch.flip(t, [-1])[..., :-1], dim=-1)], dim=-1), [-1])
    return pre * suf


class XorDecrypt(torch.autograd.Function):
    """Latent x [n_slices][n_in] -> binary weights b [n_slices][n_out] in {-1, +1}.

    Forward is the exact digital XOR: e_i = (x_i >= 0), y_r = parity(e & mask[r]), b = 2y - 1.
    Backward (grad g = dL/db) per CORE.md:
      flexor: S(1 - t_i^2) sgn(x_i) sum_r M[r,i] b_r g_r
      ste:    sgn(x_i) sum_r M[r,i] b_r g_r
      analog: S(1 - t_i^2) sum_r M[r,i] g_r (-1)^(n_r-1) prod_{k in taps(r), k != i} t_k
    with t = tanh(S x), sgn(x) = +1 for x >= 0. Rows whose b is discarded simply receive g = 0.
    """

    @staticmethod
    def forward(ctx, x, M, S, mode):
        e = (x >= 0).to(x.dtype)
        y = torch.remainder(e @ M.t(), 2.0)
        b = 2.0 * y - 1.0
        ctx.save_for_backward(x, M, b)
        ctx.S = float(S)
        ctx.mode = int(mode)
        return b

    @staticmethod
    def backward(ctx, g):
        x, M, b = ctx.saved_tensors
        S, mode = ctx.S, ctx.mode
        sgn = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
        if mode == FX_BWD_STE:
            dx = sgn * ((b * g) @ M)
        elif mode == FX_BWD_FLEXOR:
            t = torch.tanh(S * x)
            dx = S * (1.0 - t * t) * sgn * ((b * g) @ M)
        elif mode == FX_BWD_ANALOG:
            t = torch.tanh(S * x)                                   # [s][n_in]
            taps = M > 0                                            # [n_out][n_in]
            tt = torch.where(taps.unsqueeze(0), t.unsqueeze(1), torch.ones_like(t).unsqueeze(1))  # [s][r][k]
            excl = _exclusive_prod(tt)                              # [s][r][i]
            n_r = M.sum(dim=1)                                      # [n_out]
            row_sign = 1.0 - 2.0 * torch.remainder(n_r - 1.0, 2.0)  # (-1)^(n_r-1)
            coef = (g * row_sign).unsqueeze(-1) * excl * M.unsqueeze(0)
            dx = S * (1.0 - t * t) * coef.sum(dim=1)
        else:
            raise ValueError(f"unknown backward mode {mode}")
        return dx, None, None, None


def decrypt_bits01(x, M):
    """Decrypted Boolean bits (0/1) of every row of every slice (tail rows included), no autograd."""
    with torch.no_grad():
        e = (x >= 0).to(M.dtype)
        return torch.remainder(e @ M.t(), 2.0).to(torch.int32)


# ----------------------------------------------------------------------------------------------------------
# FleXOR weight generator and layers
# ----------------------------------------------------------------------------------------------------------
class FlexorWeight(nn.Module):
    """Encrypted weight of one layer.

    c_out outputs, fan-in c_in*k*k (conv, k >= 1) or c_in (dense, k = 0). The n = c_out*fan_in weights are
    flattened in [K][K][C_in][C_out] (dense [I][O]) order and cut into n_slices = ceil(n/n_out) slices; the
    tail bits of the last slice are dropped. Parameters: lat [q][n_slices*n_in], alpha [q][c_out].
    forward() returns the float weight in OIHW (conv) or [O][I] (dense) layout.
    """

    def __init__(self, c_out, c_in, k, n_out, n_in, n_tap, q=1, seed=0, S=10.0, mode=FX_BWD_FLEXOR,
                 alpha_init=0.2, lat_std=1e-3, dtype=torch.float64):
        super().__init__()
        self.c_out, self.c_in, self.k = c_out, c_in, k
        self.n_out, self.n_in, self.n_tap, self.q, self.seed = n_out, n_in, n_tap, q, int(seed)
        self.S, self.mode = float(S), int(mode)
        self.fan_in = c_in * k * k if k > 0 else c_in
        self.n = c_out * self.fan_in
        self.n_slices = -(-self.n // n_out)
        self.masks = [xor_masks(n_out, n_in, n_tap, self.seed, p) for p in range(q)]
        self.register_buffer("M", torch.stack([mask_matrix(m, n_in, dtype) for m in self.masks]), persistent=False)
        self.lat = nn.Parameter(torch.randn(q, self.n_slices * n_in, dtype=dtype) * lat_std)
        self.alpha = nn.Parameter(torch.full((q, c_out), float(alpha_init), dtype=dtype))

    def bits_per_weight(self):
        return self.q * self.n_slices * self.n_in / self.n

    def plane_bits(self, p):
        """+-1 bits of plane p in flat [K][K][C_in][C_out] order, tail dropped (differentiable)."""
        x = self.lat[p].view(self.n_slices, self.n_in)
        b = XorDecrypt.apply(x, self.M[p], self.S, self.mode)
        return b.reshape(-1)[: self.n]

    def bits01(self):
        """int32 [q][n_slices*n_out] decrypted Boolean bits, tail rows included."""
        return torch.stack([decrypt_bits01(self.lat[p].view(self.n_slices, self.n_in), self.M[p]).reshape(-1)
                            for p in range(self.q)])

    def forward(self):
        w = 0
        for p in range(self.q):
            w = w + self.plane_bits(p).view(-1, self.c_out) * self.alpha[p]   # [fan_in (KKC_in / I)][C_out]
        if self.k > 0:
            return w.view(self.k, self.k, self.c_in, self.c_out).permute(3, 2, 0, 1).contiguous()
        return w.t().contiguous()


def _flexor_layers(module):
    return [m for m in module.modules() if isinstance(m, FlexorWeight)]


def set_flexor(module, S=None, mode=None):
    """Set S_tanh and/or the backward mode of every FleXOR weight inside module."""
    for m in _flexor_layers(module):
        if S is not None:
            m.S = float(S)
        if mode is not None:
            m.mode = int(mode)


class FlexorConv2d(nn.Module):
    def __init__(self, c_in, c_out, k, stride=1, pad=0, n_out=20, n_in=8, n_tap=2, q=1, seed=0, bias=False,
                 S=10.0, mode=FX_BWD_FLEXOR, alpha_init=0.2, lat_std=1e-3, dtype=torch.float64):
        super().__init__()
        self.stride, self.pad = stride, pad
        self.weight_gen = FlexorWeight(c_out, c_in, k, n_out, n_in, n_tap, q, seed, S, mode, alpha_init,
                                       lat_std, dtype)
        self.bias = nn.Parameter(torch.zeros(c_out, dtype=dtype)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight_gen(), self.bias, stride=self.stride, padding=self.pad)


class FlexorDense(nn.Module):
    def __init__(self, i, o, n_out=20, n_in=8, n_tap=2, q=1, seed=0, bias=True, S=10.0, mode=FX_BWD_FLEXOR,
                 alpha_init=0.2, lat_std=1e-3, dtype=torch.float64):
        super().__init__()
        self.weight_gen = FlexorWeight(o, i, 0, n_out, n_in, n_tap, q, seed, S, mode, alpha_init, lat_std, dtype)
        self.bias = nn.Parameter(torch.zeros(o, dtype=dtype)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight_gen(), self.bias)


def shortcut_a(x, c_out, stride):
    """Option-A shortcut: subsample by stride, zero-pad channels (c_out - c_in)/2 on each side."""
    c_in = x.shape[1]
    assert (c_out - c_in) % 2 == 0 and c_out >= c_in
    y = x[:, :, ::stride, ::stride]
    p = (c_out - c_in) // 2
    return F.pad(y, (0, 0, 0, 0, p, p)) if p else y


def distill_loss(z, t, labels, T, a):
    """(1-a)*CE(z, y) + a*T^2*KL(softmax(t/T) || softmax(z/T)), KL batch-mean."""
    ce = F.cross_entropy(z, labels)
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean")
    return (1.0 - a) * ce + a * T * T * kl


# ----------------------------------------------------------------------------------------------------------
# LR / S_tanh schedule
# ----------------------------------------------------------------------------------------------------------
SCHED_CONST, SCHED_STEP, SCHED_COSINE = 0, 1, 2


def schedule(step, steps_per_epoch, kind, base_lr, warmup=0.0, epochs=1.0, milestones=(), gamma=0.1,
             s=10.0, s0=None):
    """(lr, S_tanh) at fractional epoch e = step / steps_per_epoch, per CORE.md "Schedules".

    lr = base * min(1, e/warmup) * decay(e), decay = gamma^k (step), the cosine factor with the progress
    (e - warmup)/(epochs - warmup) clamped to [0, 1] (cosine), or 1 (const); k = #milestones <= e.
    S = (s0 + (s - s0) * min(1, e/warmup)) * 2^k (milestones apply to S for every kind).
    """
    e = step / steps_per_epoch
    s0 = s if s0 is None else s0
    warm = min(1.0, e / warmup) if warmup > 0 else 1.0
    k = sum(1 for m in milestones if m <= e)
    if kind == SCHED_STEP:
        decay = gamma ** k
    elif kind == SCHED_COSINE:
        span = epochs - warmup
        prog = min(1.0, max(0.0, (e - warmup) / span)) if span > 0 else 1.0
        decay = 0.5 * (1.0 + math.cos(math.pi * prog))
    elif kind == SCHED_CONST:
        decay = 1.0
    else:
        raise ValueError(f"unknown schedule kind {kind}")
    lr = base_lr * warm * decay
    S = (s0 + (s - s0) * warm) * 2.0 ** k
    return lr, S


# ----------------------------------------------------------------------------------------------------------
# Models (secondary; for the training script)
# ----------------------------------------------------------------------------------------------------------
class LeNet5(nn.Module):
    """MNIST 32C5-MP2-64C5-MP2-512FC-10, 'same' padding, every layer FleXOR (FLEXOR-METHOD.md section 2)."""

    def __init__(self, n_out=20, n_in=16, n_tap=0, q=1, seed=1, S=100.0, mode=FX_BWD_FLEXOR,
                 alpha_init=None, dtype=torch.float64):
        super().__init__()

        def a(fan_in):
            return math.sqrt(2.0 / fan_in) if alpha_init is None else alpha_init

        kw = dict(n_out=n_out, n_in=n_in, n_tap=n_tap, q=q, S=S, mode=mode, dtype=dtype)
        self.conv1 = FlexorConv2d(1, 32, 5, 1, 2, seed=seed, bias=True, alpha_init=a(25), **kw)
        self.conv2 = FlexorConv2d(32, 64, 5, 1, 2, seed=seed + 1, bias=True, alpha_init=a(800), **kw)
        self.fc1 = FlexorDense(64 * 7 * 7, 512, seed=seed + 2, alpha_init=a(3136), **kw)
        self.fc2 = FlexorDense(512, 10, seed=seed + 3, alpha_init=a(512), **kw)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride, seed, xor_kw, dtype):
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.conv1 = FlexorConv2d(c_in, c_out, 3, stride, 1, seed=seed, dtype=dtype, **xor_kw)
        self.bn1 = nn.BatchNorm2d(c_out).to(dtype)
        self.conv2 = FlexorConv2d(c_out, c_out, 3, 1, 1, seed=seed + 1, dtype=dtype, **xor_kw)
        self.bn2 = nn.BatchNorm2d(c_out).to(dtype)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + shortcut_a(x, self.c_out, self.stride))


class ResNetCifar(nn.Module):
    """CIFAR ResNet-(6n+2) with option-A shortcuts; first conv and last FC full precision."""

    def __init__(self, depth=20, n_out=20, n_in=16, n_tap=2, q=1, seed=1, S=10.0, mode=FX_BWD_FLEXOR,
                 alpha_init=0.2, num_classes=10, dtype=torch.float64):
        super().__init__()
        assert (depth - 2) % 6 == 0
        nb = (depth - 2) // 6
        xor_kw = dict(n_out=n_out, n_in=n_in, n_tap=n_tap, q=q, S=S, mode=mode, alpha_init=alpha_init)
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False).to(dtype)
        self.bn1 = nn.BatchNorm2d(16).to(dtype)
        blocks, c_in, s = [], 16, seed
        for c_out, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(nb):
                blocks.append(BasicBlock(c_in, c_out, stride if b == 0 else 1, s, xor_kw, dtype))
                c_in, s = c_out, s + 2
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes).to(dtype)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


def resnet20(**kw):
    return ResNetCifar(20, **kw)


def resnet32(**kw):
    return ResNetCifar(32, **kw)
