#!/usr/bin/python3
"""Data-parallel FleXOR training in PyTorch (DistributedDataParallel), exported to our model file format.

For runs that outgrow one machine: the layers of tools/flexor_ref.py (the independent PyTorch reference of
docs/CORE.md: SplitMix64 XOR networks, XOR decryption with the flexor / ste / analog backward, the LR and
S_tanh schedule) trained under torchrun on any number of processes, and written as an inference file
(docs/FORMAT.md) that the C runtime, the wasm module and the page load like one from `flexor train`.

    # 2 processes on one CPU machine (gloo); per-process batch 64, so the global batch is 128
    /usr/bin/python3 -m torch.distributed.run --nproc_per_node 2 tools/train_ddp.py \\
        --dataset cifar10 --model resnet20 --bits 0.8 --nout 20 --ntap 2 --batch 64 --epochs 30 --out r20.fxm
    # the same through the launcher built in here (needed with Debian bookworm's torch 1.13 on Python 3.11,
    # whose stock launcher dies with "'NoneType' object has no attribute 'get'"; see torchrun_compat(); or add
    # `--redirects 9:1 --tee 9:1` to the torch.distributed.run options)
    /usr/bin/python3 tools/train_ddp.py --nproc-per-node 2 --dataset cifar10 --model resnet20 --bits 0.8 ...
    # 8 GPUs (nccl), or several nodes: the usual torchrun --nnodes/--rdzv-* options
    torchrun --nproc_per_node 8 tools/train_ddp.py --dataset cifar10 --model resnet32 --bits 0.6 ... --out r32.fxm
    # no torchrun: one process, no process group
    /usr/bin/python3 tools/train_ddp.py --dataset mnist --model lenet5 --bits 0.8 --out lenet.fxm
    # resume (configuration and position come from the checkpoint)
    torchrun --nproc_per_node 2 tools/train_ddp.py --resume --ckpt r20.fxm.ckpt.pt

Model graph. The network is built from the node list of tools/fxm.py (resnet_cifar_nodes / lenet5_nodes,
which are exactly what src/zoo.c builds), one module per node: FleXOR convs/denses are flexor_ref's
FlexorConv2d / FlexorDense, BN is torch's BatchNorm2d (eps 1e-5, momentum 0.1, as CORE.md), the option-A
shortcut is flexor_ref.shortcut_a. Export is therefore a 1:1 walk over fxm.param_specs: latent values as sign
bits ([q][n_slices][n_in]), alpha [q][c_out], BN gamma/beta/running stats, FP weights (OIHW / [O][I]), biases.

XOR seeds (--xor-seeds): `zoo` (default) gives every FleXOR layer the seed --seed, like src/zoo.c and
`flexor train` (ResNet: one cfg per stage, so all convs of a stage share one XOR matrix; LeNet-5: all four
layers share one); the file is then node-for-node identical to what the native trainer writes with the same
options. `per-layer` gives the i-th FleXOR layer (graph order) seed --seed + i, which is how flexor_ref's
LeNet5 / ResNetCifar classes number their seeds. The file stores each node's seed, so both load everywhere.

Recipe (defaults per dataset, as tools/cli/train.c): MNIST: LeNet-5, Adam lr 1e-3, wd 0, batch 64, 10 epochs,
cosine, S_tanh 100; CIFAR-10: ResNet-20, SGD momentum 0.9 lr 0.1, wd 1e-5, batch 128, 30 epochs, 2 warmup
epochs, cosine, S_tanh 5 -> 10. --batch is PER PROCESS (global batch = batch x world size; scale --lr yourself
if you want the single-process recipe's step size per sample). The LR and S_tanh follow CORE.md "Schedules"
(flexor_ref.schedule) at fractional epoch e = step / steps_per_epoch. Inputs are normalised exactly as the
runtime (float32 `v * (1/(255 std)) + (-mean/std)`): MNIST mean 0.1307 std 0.3081, CIFAR ImageNet statistics
mean (0.485, 0.456, 0.406) std (0.229, 0.224, 0.225). CIFAR training augments with a random crop (zero
padding 4) and a horizontal flip, drawn from a generator seeded by (seed, step, rank), so a resumed run
repeats an uninterrupted one. Each epoch's order is DistributedSampler(seed = --seed, drop_last).

Data come from the cache that `node tools/fetch-data.mjs all` fills (~/.cache/flexor-wasm/data, or
$FLEXOR_DATA, or --data DIR); every file read is checked against the size and sha256 of
../shared/data/CHECKSUMS.md first. Rank 0 evaluates (each epoch, and at the end), writes checkpoints
(atomically; every --ckpt-every seconds and at each epoch end; --ckpt, default <out>.ckpt.pt) and exports.
After exporting, the file is read back with fxm.read, rebuilt in PyTorch from its sign bits, and must give
the same test predictions as the trained model. --logits-out saves the trained model's float32 test logits
(.npy [N,10], or .fxg with labels and preds).

Needs Debian's PyTorch: apt-get install python3-torch (run with /usr/bin/python3).
"""

import argparse
import datetime
import hashlib
import io
import math
import os
import re
import socket
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fxm  # noqa: E402

try:
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data.distributed import DistributedSampler
except ImportError as e:  # pragma: no cover
    sys.exit(f"train_ddp.py: PyTorch is missing ({e}); install Debian's: apt-get install python3-torch, "
             "and run the script with /usr/bin/python3")

import flexor_ref as ref  # noqa: E402

# ----------------------------------------------------------------------------------------------------------
# Datasets (../shared/data/CHECKSUMS.md)
# ----------------------------------------------------------------------------------------------------------
KNOWN = {
    "mnist/train-images-idx3-ubyte": (47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "mnist/train-labels-idx1-ubyte": (60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "mnist/t10k-images-idx3-ubyte": (7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "mnist/t10k-labels-idx1-ubyte": (10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    "cifar10/data_batch_1.bin": (30730000, "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"),
    "cifar10/data_batch_2.bin": (30730000, "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"),
    "cifar10/data_batch_3.bin": (30730000, "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"),
    "cifar10/data_batch_4.bin": (30730000, "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"),
    "cifar10/data_batch_5.bin": (30730000, "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"),
    "cifar10/test_batch.bin": (30730000, "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"),
}
NORM = {"mnist": ((0.1307,), (0.3081,)), "cifar10": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
INPUT = {"mnist": fxm.MNIST_INPUT, "cifar10": fxm.CIFAR_INPUT}


class UserError(Exception):
    """A problem with the inputs (data, files, options): reported as one line, exit status 1."""


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None


def data_root(arg):
    if arg:
        return arg
    env = os.environ.get("FLEXOR_DATA")
    return env if env else os.path.expanduser("~/.cache/flexor-wasm/data")


def read_verified(root, rel):
    """Bytes of root/rel after checking its size and sha256 against CHECKSUMS.md."""
    path = os.path.join(root, rel)
    if not os.path.exists(path):
        raise UserError(f"dataset file {path} is missing; fetch the datasets with `node tools/fetch-data.mjs all` "
                        "(or set FLEXOR_DATA / --data to where they are)")
    with open(path, "rb") as f:
        buf = f.read()
    size, sha = KNOWN[rel]
    if len(buf) != size:
        raise UserError(f"dataset file {path} has {len(buf)} bytes, expected {size} (truncated or wrong file); "
                        "re-fetch with `node tools/fetch-data.mjs all`")
    got = hashlib.sha256(buf).hexdigest()
    if got != sha:
        raise UserError(f"dataset file {path} fails its checksum: sha256 {got}, expected {sha} "
                        "(../shared/data/CHECKSUMS.md); re-fetch with `node tools/fetch-data.mjs all`")
    return buf


def _idx(buf, want_magic, path):
    magic = int.from_bytes(buf[:4], "big")
    if magic != want_magic:
        raise UserError(f"{path}: IDX magic {magic:#x}, expected {want_magic:#x}")
    nd = magic & 0xFF
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(buf, np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_dataset(name, split, root):
    """(images uint8 [N][C][H][W], labels int64 [N]) of the train (split 0) or test (split 1) set."""
    if name == "mnist":
        pre = "t10k" if split else "train"
        rel_i, rel_l = f"mnist/{pre}-images-idx3-ubyte", f"mnist/{pre}-labels-idx1-ubyte"
        images = _idx(read_verified(root, rel_i), 0x803, rel_i)
        labels = _idx(read_verified(root, rel_l), 0x801, rel_l)
        if images.shape[0] != labels.shape[0]:
            raise UserError("MNIST images and labels do not match")
        images = images.reshape(-1, 1, 28, 28)
    else:
        rels = ["cifar10/test_batch.bin"] if split else [f"cifar10/data_batch_{i}.bin" for i in range(1, 6)]
        recs = np.concatenate([np.frombuffer(read_verified(root, r), np.uint8).reshape(-1, 3073) for r in rels])
        labels, images = recs[:, 0], recs[:, 1:].reshape(-1, 3, 32, 32)
    if labels.max() > 9:
        raise UserError(f"{name}: label {labels.max()} out of range")
    return torch.from_numpy(np.array(images, np.uint8)), torch.from_numpy(labels.astype(np.int64))


class Normaliser:
    """float32 x = v * (1 / (255 std)) + (-mean / std), rounded exactly as src/io/data.c does."""

    def __init__(self, dataset, device):
        mean, std = NORM[dataset]
        c = len(mean)
        scale = [np.float32(1.0) / (np.float32(255.0) * np.float32(s)) for s in std]
        shift = [-np.float32(m) / np.float32(s) for m, s in zip(mean, std)]
        self.scale = torch.tensor(np.array(scale, np.float32)).view(1, c, 1, 1).to(device)
        self.shift = torch.tensor(np.array(shift, np.float32)).view(1, c, 1, 1).to(device)

    def __call__(self, u8):
        return u8.to(self.scale.device, torch.float32) * self.scale + self.shift


def augment(u8, gen):
    """Random crop with 4-pixel zero padding and a horizontal flip per image (uint8 NCHW in and out)."""
    n, c, h, w = u8.shape
    dy = torch.randint(-4, 5, (n,), generator=gen)
    dx = torch.randint(-4, 5, (n,), generator=gen)
    flip = torch.randint(0, 2, (n,), generator=gen).bool()
    padded = F.pad(u8, (4, 4, 4, 4)).permute(0, 2, 3, 1)  # N, H+8, W+8, C
    ys = torch.arange(h).view(1, h) + dy.view(n, 1) + 4
    xs = torch.arange(w).view(1, w)
    xs = torch.where(flip.view(n, 1), w - 1 - xs, xs) + dx.view(n, 1) + 4
    out = padded[torch.arange(n).view(n, 1, 1), ys.view(n, h, 1), xs.view(n, 1, w)]  # N, H, W, C
    return out.permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------------------------------------
# The network: one module per node of an fxm graph
# ----------------------------------------------------------------------------------------------------------
class GraphNet(nn.Module):
    """Runs an fxm node list (tools/fxm.py; the graphs of src/zoo.c) in PyTorch. FleXOR conv/dense nodes are
    flexor_ref.FlexorConv2d / FlexorDense, FP ones nn.Conv2d / nn.Linear (He-normal init, zero bias), BN is
    nn.BatchNorm2d. Activations stay NCHW (a dense output is [N][O][1][1]); the output is [N][classes]."""

    def __init__(self, input_shape, nodes, alpha_init=0.0, lat_std=1e-3, S=10.0, mode=ref.FX_BWD_FLEXOR,
                 dtype=torch.float32):
        super().__init__()
        self.input_shape = tuple(int(v) for v in input_shape)
        self.shapes, self.specs = fxm.analyse(self.input_shape, nodes)
        self.fields = [fxm.normalise_node(n) for n in nodes]
        self.names = [n.get("name", f"node{i}") for i, n in enumerate(nodes, start=1)]
        layers = []
        for nid, f in enumerate(self.fields, start=1):
            c, h, w = self.shapes[f["in0"]]
            kind, cfg = f["kind"], f["cfg"]
            if kind in (fxm.N_CONV, fxm.N_DENSE):
                conv = kind == fxm.N_CONV
                fan = c * f["k"] * f["k"] if conv else c * h * w
                if cfg is not None:
                    a = alpha_init if alpha_init > 0 else math.sqrt(2.0 / fan)
                    kw = dict(n_out=cfg["n_out"], n_in=cfg["n_in"], n_tap=cfg["n_tap"], q=cfg["q"], seed=cfg["seed"],
                              bias=bool(f["bias"]), S=S, mode=mode, alpha_init=a, lat_std=lat_std, dtype=dtype)
                    m = (ref.FlexorConv2d(c, f["c_out"], f["k"], f["stride"], f["pad"], **kw) if conv
                         else ref.FlexorDense(fan, f["c_out"], **kw))
                else:
                    m = (nn.Conv2d(c, f["c_out"], f["k"], f["stride"], f["pad"], bias=bool(f["bias"])) if conv
                         else nn.Linear(fan, f["c_out"], bias=bool(f["bias"]))).to(dtype)
                    with torch.no_grad():
                        m.weight.normal_(0.0, math.sqrt(2.0 / fan))
                        if m.bias is not None:
                            m.bias.zero_()
            elif kind == fxm.N_BN:
                m = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1).to(dtype)
            else:
                m = nn.Identity()
            layers.append(m)
        self.layers = nn.ModuleList(layers)

    def flexor_weights(self):
        return [(nid, m.weight_gen) for nid, m in enumerate(self.layers, start=1) if hasattr(m, "weight_gen")]

    def forward(self, x):
        outs = [x]
        for f, m in zip(self.fields, self.layers):
            a = outs[f["in0"]]
            k = f["kind"]
            if k in (fxm.N_CONV, fxm.N_BN):
                y = m(a)
            elif k == fxm.N_DENSE:
                y = m(a.flatten(1)).view(a.shape[0], -1, 1, 1)
            elif k == fxm.N_RELU:
                y = F.relu(a)
            elif k == fxm.N_MAXPOOL:
                y = F.max_pool2d(a, f["k"], f["stride"])
            elif k == fxm.N_GAP:
                y = a.mean(dim=(2, 3), keepdim=True)
            elif k == fxm.N_SHORTCUT:
                y = ref.shortcut_a(a, f["c_out"], f["stride"])
            elif k == fxm.N_ADD:
                y = a + outs[f["in1"]]
            else:
                raise ValueError(f"node kind {k}")
            outs.append(y)
        return outs[-1].flatten(1)

    def tensor_of(self, node_id, pk):
        """The torch tensor (parameter or buffer) behind fxm parameter kind pk of node node_id."""
        m = self.layers[node_id - 1]
        if pk == fxm.P_LAT:
            return m.weight_gen.lat
        if pk == fxm.P_ALPHA:
            return m.weight_gen.alpha
        if pk in (fxm.P_W, fxm.P_GAMMA):
            return m.weight
        if pk in (fxm.P_B, fxm.P_BETA):
            return m.bias
        if pk == fxm.P_RMEAN:
            return m.running_mean
        if pk == fxm.P_RVAR:
            return m.running_var
        raise ValueError(f"parameter kind {pk}")

    def export_params(self):
        """float32 numpy arrays in fxm.param_specs order and layout (lat [q][n_slices][n_in], alpha [q][c_out],
        conv OIHW, dense [O][I], BN per channel)."""
        out = []
        for name, nid, pk, length, _tr in self.specs:
            v = self.tensor_of(nid, pk).detach().to("cpu", torch.float32).numpy().reshape(-1).copy()
            if v.size != length:
                raise RuntimeError(f"{name}: {v.size} values, the file format expects {length}")
            out.append(v)
        return out

    def load_params(self, params):
        """Sets every parameter from fxm.read's list (lat becomes +-1 from the sign bits)."""
        with torch.no_grad():
            for (name, nid, pk, length, _tr), p in zip(self.specs, params):
                t = self.tensor_of(nid, pk)
                t.copy_(torch.from_numpy(np.asarray(p["data"], np.float32)).view_as(t))

    @classmethod
    def from_bytes(cls, blob, device="cpu", what="model file"):
        """(net in eval mode, fxm.read's dict) of a model file's bytes."""
        try:
            m = fxm.read(blob)
        except fxm.FxmError as e:
            raise UserError(f"{what}: {e}") from None
        net = cls(m["input"], m["nodes"])
        net.load_params(m["params"])
        return net.to(device).eval(), m

    @classmethod
    def from_file(cls, path, device="cpu"):
        return cls.from_bytes(read_file(path), device, path)


def build_nodes(a):
    """The fxm node list of the model the options describe (src/zoo.c's graph), with per-node cfg copies."""
    fx = None if a.fp else fxm.flexor_cfg(a.nout, a.nin, a.ntap, a.q, seed=a.seed)
    if a.model == "lenet5":
        nodes = fxm.lenet5_nodes([fx] * 4)
    else:
        depth = int(a.model[len("resnet"):])
        stage = None
        if fx is not None:
            stage = [dict(fx, n_in=(a.stage_nin[i] if a.stage_nin and a.stage_nin[i] > 0 else a.nin)) for i in range(3)]
        nodes = fxm.resnet_cifar_nodes(depth, stage)
    i = 0
    for n in nodes:
        if n.get("cfg") is not None:
            n["cfg"] = dict(n["cfg"])
            if a.xor_seeds == "per-layer":
                n["cfg"]["seed"] = (a.seed + i) & (2**64 - 1)
            i += 1
    return nodes


# ----------------------------------------------------------------------------------------------------------
# --init: copy FP parameters and encrypt FP weights into the FleXOR layers (like fx_flexor_encrypt)
# ----------------------------------------------------------------------------------------------------------
def _best_words(target, M, gen):
    """0/1 encrypted words [S][n_in] whose decryption best matches the signs of target [S][n_out] weighted by
    |target| (maximises sum_r target_r * b_r): exhaustive for n_in <= 10, else 8 random restarts of greedy
    bit flips (the search of fx_flexor_encrypt)."""
    n_in = M.shape[1]
    S = target.shape[0]

    def score(e):
        return (target * (2.0 * torch.remainder(e @ M.t(), 2.0) - 1.0)).sum(1)

    if n_in <= 10:
        words = ((torch.arange(1 << n_in).view(-1, 1) >> torch.arange(n_in).view(1, -1)) & 1).to(M.dtype)
        D = 2.0 * torch.remainder(words @ M.t(), 2.0) - 1.0  # [2^n_in][n_out]
        best = torch.cat([(target[i:i + 4096] @ D.t()).argmax(1) for i in range(0, S, 4096)])
        return words[best]
    best_e, best_s = None, None
    for _restart in range(8):
        e = torch.randint(0, 2, (S, n_in), generator=gen).to(M.dtype)
        s = score(e)
        for _pass in range(32):
            improved = False
            for i in range(n_in):
                e2 = e.clone()
                e2[:, i] = 1.0 - e2[:, i]
                s2 = score(e2)
                better = s2 > s
                if bool(better.any()):
                    improved = True
                    e = torch.where(better.view(-1, 1), e2, e)
                    s = torch.where(better, s2, s)
            if not improved:
                break
        if best_e is None:
            best_e, best_s = e, s
        else:
            better = s > best_s
            best_e = torch.where(better.view(-1, 1), e, best_e)
            best_s = torch.where(better, s, best_s)
    return best_e


def encrypt_into(fw, W, mag, seed):
    """Sets fw.lat (+-mag) and fw.alpha so that the FleXOR weight approximates the float weight W (OIHW or
    [O][I]), plane by plane on the residual, with least-squares alpha = |sum(res*b)| / fan_in + 1e-8."""
    W = W.to(torch.float64)
    flat = (W.permute(2, 3, 1, 0) if fw.k > 0 else W.t()).reshape(-1)  # TF order [K][K][C_in][C_out] / [I][O]
    n, n_out, n_in = fw.n, fw.n_out, fw.n_in
    co = torch.arange(n) % fw.c_out
    res = flat.clone()
    gen = torch.Generator().manual_seed(int(seed) & (2**63 - 1))
    lat = torch.empty(fw.q, fw.n_slices * n_in, dtype=torch.float64)
    alpha = torch.empty(fw.q, fw.c_out, dtype=torch.float64)
    for p in range(fw.q):
        M = ref.mask_matrix(fw.masks[p], n_in, torch.float64)
        target = torch.cat([res, res.new_zeros(fw.n_slices * n_out - n)]).view(fw.n_slices, n_out)
        e = _best_words(target, M, gen)
        lat[p] = ((2.0 * e - 1.0) * mag).reshape(-1)
        b = (2.0 * torch.remainder(e @ M.t(), 2.0) - 1.0).reshape(-1)[:n]
        a = torch.zeros(fw.c_out, dtype=torch.float64).index_add_(0, co, res * b)
        a = (a / fw.fan_in).abs() + 1e-8
        alpha[p] = a
        res = res - b * a[co]
    with torch.no_grad():
        fw.lat.copy_(lat.to(fw.lat.dtype))
        fw.alpha.copy_(alpha.to(fw.alpha.dtype))


def init_from(net, path, a, log):
    """--init FILE: same graph (node kinds and shapes); copies every parameter with the same node, kind and
    length, and encrypts FP conv/dense weights into FleXOR layers (as `flexor train --init`)."""
    try:
        m = fxm.read(read_file(path))
    except fxm.FxmError as e:
        raise UserError(f"--init {path}: {e}") from None
    if tuple(m["input"]) != net.input_shape or len(m["nodes"]) != len(net.fields) or any(
            n["kind"] != f["kind"] or n["in0"] != f["in0"] or n["in1"] != f["in1"] or tuple(n["shape"]) != net.shapes[i]
            for i, (n, f) in enumerate(zip(m["nodes"], net.fields), start=1)):
        raise UserError(f"--init {path} is not the same architecture as --model {a.model} "
                        f"({len(m['nodes']) + 1} nodes, the model {len(net.fields) + 1})")
    src = {(p["node"], p["kind"]): p for p in m["params"]}
    copied = encrypted = 0
    mag = a.init_mag if a.init_mag > 0 else 0.5 / a.stanh
    with torch.no_grad():
        for i, (name, nid, pk, length, _tr) in enumerate(net.specs):
            p = src.get((nid, pk))
            if p is not None and p["len"] == length:
                t = net.tensor_of(nid, pk)
                t.copy_(torch.from_numpy(p["data"]).view_as(t))
                copied += 1
            if pk == fxm.P_LAT and (nid, fxm.P_W) in src:
                fw = net.layers[nid - 1].weight_gen
                f = net.fields[nid - 1]
                W = torch.from_numpy(src[(nid, fxm.P_W)]["data"]).view(
                    (fw.c_out, fw.c_in, fw.k, fw.k) if f["kind"] == fxm.N_CONV else (fw.c_out, fw.c_in))
                encrypt_into(fw, W, mag, a.seed + i)
                encrypted += 1
    log(f"init: {copied} parameters copied and {encrypted} layers encrypted from {path}")


# ----------------------------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------------------------
DEFAULTS = {  # tools/cli/train.c defaults()
    "mnist": dict(model="lenet5", opt="adam", lr=1e-3, wd=0.0, batch=64, epochs=10.0, warmup=0.0, stanh=100.0,
                  stanh0=100.0, alpha_init=0.0),
    "cifar10": dict(model="resnet20", opt="sgd", lr=0.1, wd=1e-5, batch=128, epochs=30.0, warmup=2.0, stanh=10.0,
                    stanh0=5.0, alpha_init=0.2),
}
COMMON = dict(q=1, nout=20, ntap=2, sched="cosine", gamma=0.5, momentum=0.9, nesterov=0, lat_std=1e-3, T=4.0,
              kd=0.9, seed=1, mode="flexor", xor_seeds="zoo", init_mag=0.0)
SCHEDS = {"const": ref.SCHED_CONST, "step": ref.SCHED_STEP, "cosine": ref.SCHED_COSINE}
# what --resume takes from the command line rather than from the checkpoint
RUNTIME_KEYS = {"out", "logits_out", "ckpt", "ckpt_every", "data", "threads", "max_steps", "resume", "no_ckpt",
                "eval_every", "cpu", "log_every", "nproc_per_node", "master_port"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__[
                                     __doc__.index("\n\n") + 2:])
    ap.add_argument("--dataset", choices=["mnist", "cifar10"])
    ap.add_argument("--model", choices=["lenet5", "resnet20", "resnet32", "resnet44"])
    ap.add_argument("--fp", action="store_true", help="full precision (no FleXOR layers), e.g. a teacher")
    ap.add_argument("--bits", type=float, help="bits/weight: n_in = round(bits * nout / q) (or give --nin)")
    ap.add_argument("--nin", type=int, help="N_in (default 16)")
    ap.add_argument("--nout", type=int, help="N_out (default 20)")
    ap.add_argument("--ntap", type=int, help="ones per row of M (default 2)")
    ap.add_argument("--random-fill", action="store_true", help="random-fill M (n_tap = 0)")
    ap.add_argument("--q", type=int, help="bit planes (default 1)")
    ap.add_argument("--stage-nin", help="ResNet: N_in of stages 1,2,3 (0 = --nin), e.g. 19,16,7")
    ap.add_argument("--xor-seeds", choices=["zoo", "per-layer"],
                    help="zoo: every FleXOR layer uses --seed (src/zoo.c; default); per-layer: layer i uses seed+i")
    ap.add_argument("--mode", choices=list(ref.MODE_NAMES), help="XOR backward (default flexor)")
    ap.add_argument("--opt", choices=["sgd", "adam"])
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float)
    ap.add_argument("--nesterov", type=int, choices=[0, 1])
    ap.add_argument("--wd", type=float)
    ap.add_argument("--batch", type=int, help="batch size PER PROCESS")
    ap.add_argument("--epochs", type=float)
    ap.add_argument("--warmup", type=float, help="warmup epochs (LR and S_tanh)")
    ap.add_argument("--sched", choices=list(SCHEDS))
    ap.add_argument("--milestones", help="comma-separated epochs (step decay; S_tanh doubles at each)")
    ap.add_argument("--gamma", type=float)
    ap.add_argument("--stanh", type=float, help="S_tanh after warmup")
    ap.add_argument("--stanh0", type=float, help="S_tanh at step 0")
    ap.add_argument("--alpha-init", type=float, help="initial alpha (0: He, sqrt(2/fan_in))")
    ap.add_argument("--lat-std", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--train-limit", type=int, default=0, help="use the first N training images")
    ap.add_argument("--test-limit", type=int, default=0, help="evaluate on the first N test images")
    ap.add_argument("--init", help="start from this (full-precision) model file of the same graph")
    ap.add_argument("--init-mag", type=float, help="|latent| of --init's encrypted bits (default 0.5 / stanh)")
    ap.add_argument("--teacher", help="distil from this model file")
    ap.add_argument("--T", type=float, help="distillation temperature (default 4)")
    ap.add_argument("--kd", type=float, help="distillation weight a (default 0.9)")
    ap.add_argument("--out", help="the inference model file to write")
    ap.add_argument("--logits-out", help="the trained model's test logits (.npy, or .fxg with labels and preds)")
    ap.add_argument("--ckpt", help="checkpoint file (default <out>.ckpt.pt)")
    ap.add_argument("--no-ckpt", action="store_true", help="write no checkpoints")
    ap.add_argument("--ckpt-every", type=float, default=300.0, help="seconds between mid-epoch checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from --ckpt (its configuration is used)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop (and checkpoint) after N optimiser steps")
    ap.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs (and at the end)")
    ap.add_argument("--log-every", type=int, default=0, help="steps between progress lines (0: ~10 per epoch)")
    ap.add_argument("--data", help="dataset root (default $FLEXOR_DATA or ~/.cache/flexor-wasm/data)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (default: torch's)")
    ap.add_argument("--cpu", action="store_true", help="do not use CUDA even if it is available")
    ap.add_argument("--nproc-per-node", type=int, help="launch N local processes with torchrun (the launcher of "
                    "torch.distributed.run, run in this process; also fixes torch 1.13's launcher on Python 3.11)")
    ap.add_argument("--master-port", type=int, help="with --nproc-per-node: the rendezvous port (default: a free one)")
    a = ap.parse_args(argv)
    if a.resume:
        return a
    if a.dataset is None:
        ap.error("--dataset is required (mnist or cifar10)")
    if a.out is None:
        ap.error("--out is required")
    d = dict(COMMON, **DEFAULTS[a.dataset])
    for k, v in d.items():
        if getattr(a, k, None) is None:
            setattr(a, k, v)
    if a.model == "lenet5" and a.dataset != "mnist" or a.model != "lenet5" and a.dataset != "cifar10":
        ap.error(f"--model {a.model} is for {'mnist' if a.model == 'lenet5' else 'cifar10'}")
    if a.bits is not None and a.nin is not None:
        ap.error("give --bits or --nin, not both")
    if a.bits is not None:
        a.nin = int(math.floor(a.bits * a.nout / a.q + 0.5))  # lroundf, as `flexor train --bits`
        if a.nin < 1:
            ap.error(f"--bits {a.bits} gives n_in {a.nin}")
    elif a.nin is None:
        a.nin = 16
    if a.random_fill:
        a.ntap = 0
    a.milestones = [float(v) for v in a.milestones.split(",") if v] if isinstance(a.milestones, str) else []
    if isinstance(a.stage_nin, str):
        s = [int(v) for v in a.stage_nin.split(",")]
        if len(s) != 3:
            ap.error("--stage-nin needs three values")
        if a.model == "lenet5":
            ap.error("--stage-nin is for the ResNets")
        a.stage_nin = s
    else:
        a.stage_nin = None
    if a.batch < 1 or a.epochs <= 0:
        ap.error("--batch and --epochs must be > 0")
    return a


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------
def fmt_time(s):
    s = max(0, int(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def write_bytes(path, blob):
    with open(path, "wb") as f:
        f.write(blob)


def atomic_write(path, write):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@torch.no_grad()
def predict(net, images, norm, batch=500):
    """float32 logits [N][classes] of net in eval mode."""
    was = net.training
    net.eval()
    dev = norm.scale.device
    z = torch.cat([net(norm(images[i:i + batch].to(dev))).float().cpu() for i in range(0, images.shape[0], batch)])
    net.train(was)
    return z


def meta_text(a, world, extra=""):
    keys = ["dataset", "model", "q", "nout", "nin", "ntap", "fp", "mode", "opt", "nesterov", "batch", "sched", "lr",
            "momentum", "wd", "epochs", "warmup", "gamma", "stanh", "stanh0", "alpha_init", "lat_std", "T", "kd",
            "seed", "train_limit", "test_limit", "teacher", "init"]
    lines = [f"{k}={'' if getattr(a, k) is None else int(getattr(a, k)) if isinstance(getattr(a, k), bool) else getattr(a, k)}"
             for k in keys]
    lines.append("stage_nin=" + (",".join(map(str, a.stage_nin)) if a.stage_nin else "0,0,0"))
    lines.append("milestones=" + ",".join(f"{m:g}" for m in a.milestones))
    lines += [f"xor_seeds={a.xor_seeds}", f"world_size={world}", "trainer=tools/train_ddp.py (PyTorch DDP)"]
    return "\n".join(lines) + "\n" + extra


def torchrun_compat():
    """torch 1.13's launcher cannot start on Python 3.11 (Debian bookworm's python3-torch): Std.from_str maps
    "0" (the default of --redirects and --tee) to None, because 3.11 no longer iterates the zero and multi-bit
    members of an IntFlag, and start_processes then fails with "'NoneType' object has no attribute 'get'".
    Fixed in torch 2.0; here Std.from_str is replaced with one that uses Std(int(v)). Returns True if patched.
    (With the stock launcher, `--redirects 9:1 --tee 9:1` is a workaround: a mapping for a local rank that does
    not exist leaves every real rank at Std.NONE.)"""
    from torch.distributed.elastic.multiprocessing import api

    if api.Std.from_str("0") is not None:
        return False

    def from_str(vm):
        if re.match(api._VALUE_REGEX, vm):
            return api.Std(int(vm))
        if re.match(api._MAPPING_REGEX, vm):
            return {int(k): api.Std(int(v)) for k, v in (kv.split(":") for kv in vm.split(","))}
        raise ValueError(f"{vm} does not match {api._VALUE_REGEX} or {api._MAPPING_REGEX}")

    api.Std.from_str = staticmethod(from_str)
    return True


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv):
    """`train_ddp.py --nproc-per-node N [--master-port P] ...`: runs torch.distributed.run (torchrun) in this
    process, with the Python 3.11 fix, on N local worker processes of this script with the other options."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--nproc-per-node", type=int)
    ap.add_argument("--master-port", type=int, default=0)
    known, rest = ap.parse_known_args(argv)
    if known.nproc_per_node < 1:
        sys.exit("train_ddp.py: --nproc-per-node must be >= 1")
    patched = torchrun_compat()
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    port = known.master_port or free_port()
    print(f"train_ddp.py: torch.distributed.run --nproc_per_node {known.nproc_per_node} --master_port {port}"
          + (" (with the Python 3.11 fix of Std.from_str)" if patched else ""), flush=True)
    try:
        torchrun(["--nproc_per_node", str(known.nproc_per_node), "--master_port", str(port), os.path.abspath(__file__),
                  *rest])
    except ChildFailedError:
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "RANK" not in os.environ and any(v == "--nproc-per-node" or v.startswith("--nproc-per-node=") for v in argv):
        return launch(argv)
    a = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    distributed = "RANK" in os.environ and "MASTER_ADDR" in os.environ
    cuda = torch.cuda.is_available() and not a.cpu
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=60))
        world, rank = dist.get_world_size(), dist.get_rank()

    def log(msg):
        if rank == 0:
            print(msg, flush=True)

    try:
        rc = train(a, world, rank, distributed, device, log)
    except UserError as e:
        print(f"train_ddp.py: {e}" if world == 1 else f"train_ddp.py [rank {rank}]: {e}", file=sys.stderr, flush=True)
        rc = 1
    if distributed:
        if rc == 0:
            dist.barrier()
        dist.destroy_process_group()
    return rc


def train(a, world, rank, distributed, device, log):
    t_start = time.time()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    start_step, ck = 0, None
    if a.resume:
        ckpt = a.ckpt
        if not ckpt:
            raise UserError("--resume needs --ckpt FILE")
        if not os.path.exists(ckpt):
            raise UserError(f"no checkpoint at {ckpt}")
        ck = torch.load(ckpt, map_location="cpu")
        if not isinstance(ck, dict) or ck.get("format") != "flexor-train-ddp/1":
            raise UserError(f"{ckpt} is not a train_ddp.py checkpoint")
        for k, v in ck["args"].items():
            if k not in RUNTIME_KEYS or getattr(a, k, None) is None:
                setattr(a, k, v)
        a.ckpt = ckpt
    if not a.no_ckpt and not a.ckpt:
        a.ckpt = a.out + ".ckpt.pt"
    torch.manual_seed(a.seed)

    # data
    root = data_root(a.data)
    train_x, train_y = load_dataset(a.dataset, 0, root)
    test_x, test_y = load_dataset(a.dataset, 1, root)
    if 0 < a.train_limit < train_x.shape[0]:
        train_x, train_y = train_x[:a.train_limit], train_y[:a.train_limit]
    if 0 < a.test_limit < test_x.shape[0]:
        test_x, test_y = test_x[:a.test_limit], test_y[:a.test_limit]
    norm = Normaliser(a.dataset, device)
    sampler = DistributedSampler(range(train_x.shape[0]), num_replicas=world, rank=rank, shuffle=True, seed=a.seed,
                                 drop_last=True)
    spe = len(sampler) // a.batch
    if spe < 1:
        raise UserError(f"{train_x.shape[0]} training images over {world} processes is less than one batch of "
                        f"{a.batch} per process")
    total = int(math.ceil(a.epochs * spe - 1e-9))

    # model
    nodes = build_nodes(a)
    try:
        net = GraphNet(INPUT[a.dataset], nodes, alpha_init=a.alpha_init, lat_std=a.lat_std, S=a.stanh0,
                       mode=ref.MODE_NAMES[a.mode])
    except fxm.FxmError as e:
        raise UserError(f"the model: {e}") from None
    if a.init and ck is None:
        init_from(net, a.init, a, log)
    net.to(device)
    teacher = None
    if a.teacher:
        teacher, tm = GraphNet.from_file(a.teacher, device)
        if tuple(tm["input"]) != INPUT[a.dataset]:
            raise UserError(f"--teacher {a.teacher} takes {tm['input']} inputs, not {a.dataset}'s")
    params = list(net.parameters())
    if a.opt == "sgd":
        opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, nesterov=bool(a.nesterov), weight_decay=a.wd)
    else:
        opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.wd)
    best = 0.0
    if ck is not None:
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        best = ck.get("best", 0.0)
        start_step = ck["step"]
        if ck["world"] != world or ck["spe"] != spe:
            if start_step % ck["spe"]:
                raise UserError(f"{a.ckpt} was written mid-epoch by {ck['world']} processes ({ck['spe']} steps/epoch);"
                                f" resume it with --nproc_per_node {ck['world']}, or from an epoch-end checkpoint")
            start_step = start_step // ck["spe"] * spe
        log(f"resuming {a.ckpt} at epoch {start_step // spe + 1} step {start_step % spe} "
            f"({start_step} of {total} steps)")
    model = DDP(net, device_ids=[device.index] if device.type == "cuda" else None) if distributed else net

    n_q = sum(fw.n for _, fw in net.flexor_weights())
    bits = sum(fw.q * fw.n_slices * fw.n_in for _, fw in net.flexor_weights())
    log(f"train_ddp: {world} process{'es' if world > 1 else ''} ({dist.get_backend() if distributed else 'no'} "
        f"process group, {device.type}, {torch.get_num_threads()} threads each); {a.model} {a.dataset}: "
        + ("full precision" if a.fp else f"FleXOR, {n_q} quantized weights at {bits / max(1, n_q):.4f} bits/weight "
           f"(q={a.q} nout={a.nout} nin={a.nin} ntap={a.ntap}{' per-stage ' + str(a.stage_nin) if a.stage_nin else ''}"
           f", xor seeds {a.xor_seeds})")
        + f", mode {a.mode}, {a.opt} lr {a.lr:g}, batch {a.batch} x {world}, {spe} steps/epoch, {a.epochs:g} epochs, "
        f"seed {a.seed}{', distilling from ' + a.teacher if teacher is not None else ''}")

    def save_ckpt(step):
        if rank != 0 or a.no_ckpt:
            return
        state = {"format": "flexor-train-ddp/1", "args": vars(a), "net": net.state_dict(), "opt": opt.state_dict(),
                 "step": step, "spe": spe, "world": world, "best": best}
        atomic_write(a.ckpt, lambda p: torch.save(state, p))

    def barrier():
        if distributed:
            dist.barrier()

    log_every = a.log_every if a.log_every > 0 else max(1, spe // 10)
    mode = ref.MODE_NAMES[a.mode]
    step = start_step
    t_ckpt = time.time()
    acc = None
    stats = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, seen (this process, since the last line)
    model.train()
    while step < total:
        epoch = step // spe
        sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(sampler)), dtype=torch.int64)
        for s in range(step % spe, spe):
            if step >= total:
                break
            lr, S = ref.schedule(step, spe, SCHEDS[a.sched], a.lr, a.warmup, a.epochs, a.milestones, a.gamma,
                                 a.stanh, a.stanh0)
            for g in opt.param_groups:
                g["lr"] = lr
            ref.set_flexor(net, S=S, mode=mode)
            idx = order[s * a.batch:(s + 1) * a.batch]
            xb = train_x[idx]
            if a.dataset == "cifar10":
                gen = torch.Generator().manual_seed((a.seed * 1000003 + step * 4099 + rank) & (2**63 - 1))
                xb = augment(xb, gen)
            x, y = norm(xb), train_y[idx].to(device)
            z = model(x)
            if teacher is not None:
                with torch.no_grad():
                    t = teacher(x)
                loss = ref.distill_loss(z, t, y, a.T, a.kd)
            else:
                loss = F.cross_entropy(z, y)
            if not torch.isfinite(loss):
                raise UserError(f"the loss is {loss.item()} at step {step}: lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            stats += torch.tensor([loss.item() * y.shape[0], (z.argmax(1) == y).sum().item(), y.shape[0]],
                                  dtype=torch.float64, device=device)
            epoch_done = step % spe == 0 or step >= total
            if (step - epoch * spe) % log_every == 0 or epoch_done:
                if distributed:
                    dist.all_reduce(stats)
                el = time.time() - t_start
                ips = (step - start_step) * a.batch * world / max(el, 1e-9)
                log(f"epoch {epoch + 1}/{math.ceil(a.epochs)} step {step - epoch * spe}/{spe} "
                    f"loss {stats[0] / stats[2]:.4f} train-acc {100 * stats[1] / stats[2]:.2f}% lr {lr:.5f} S {S:.1f} "
                    f"{ips:.1f} img/s ETA {fmt_time((total - step) * a.batch * world / max(ips, 1e-9))}")
                stats.zero_()
            if a.max_steps > 0 and step >= a.max_steps and step < total:
                save_ckpt(step)
                log(f"stopped after {step} optimiser steps (--max-steps); checkpoint {a.ckpt}")
                barrier()
                return 0
            if epoch_done:
                break
            if rank == 0 and not a.no_ckpt and time.time() - t_ckpt >= a.ckpt_every:
                save_ckpt(step)
                t_ckpt = time.time()
        # end of an epoch (or of the run)
        ep = (step - 1) // spe + 1
        if rank == 0 and (ep % a.eval_every == 0 or step >= total):
            t0 = time.time()
            z = predict(net, test_x, norm)
            correct = int((z.argmax(1) == test_y).sum())
            acc = 100.0 * correct / test_y.shape[0]
            best = max(best, acc)
            log(f"epoch {ep}/{math.ceil(a.epochs)} test-acc {acc:.2f}% (best {best:.2f}%) on {test_y.shape[0]} images, "
                f"{test_y.shape[0] / max(time.time() - t0, 1e-9):.0f} img/s eval, elapsed {fmt_time(time.time() - t_start)}")
        save_ckpt(step)
        t_ckpt = time.time()
        barrier()

    if rank == 0:
        finish(a, net, test_x, test_y, norm, world, t_start, log)
    return 0


def finish(a, net, test_x, test_y, norm, world, t_start, log):
    """Rank 0: final evaluation, export, read-back check, logits."""
    z = predict(net, test_x, norm)
    preds = z.argmax(1)
    correct = int((preds == test_y).sum())
    n = test_y.shape[0]
    acc = 100.0 * correct / n
    log(f"PyTorch: test accuracy {acc:.2f}% ({correct}/{n})")
    params = net.export_params()
    extra = meta_text(a, world, f"test_accuracy={acc:.4f}\n").encode()
    blob = fxm.write(fxm.KIND_INFERENCE, net.input_shape, [dict(f) for f in net.fields], params, extra=extra)
    # read back: the same graph, and the file rebuilt in PyTorch (lat = +-1) predicts exactly as the trained net
    back, m = GraphNet.from_bytes(blob, what="the exported file")
    if [fxm.node_fields(n) for n in m["nodes"]] != [fxm.node_fields(f) for f in net.fields]:
        raise RuntimeError("export: the file's node records differ from the trained graph")
    z2 = predict(back.to(norm.scale.device), test_x, norm)
    same = int((z2.argmax(1) == preds).sum())
    diff = float((z2 - z).abs().max()) if n else 0.0
    if same != n:
        raise RuntimeError(f"export: the exported file predicts differently from the trained model on {n - same} of "
                           f"{n} test images (max |logit difference| {diff:g})")
    atomic_write(a.out, lambda p: write_bytes(p, blob))
    log(f"saved {a.out} ({len(blob)} bytes); read back: {same}/{n} predictions identical, max |logit difference| "
        f"{diff:g}")
    if a.logits_out:
        zz = z.numpy().astype(np.float32)
        if a.logits_out.endswith(".fxg"):
            from fxg import write_fxg

            atomic_write(a.logits_out, lambda p: write_fxg(p, {"logits": zz, "labels": test_y.numpy().astype(np.int32),
                                                                "preds": preds.numpy().astype(np.int32)}))
        else:
            buf = io.BytesIO()
            np.save(buf, zz)
            atomic_write(a.logits_out, lambda p: write_bytes(p, buf.getvalue()))
        log(f"logits -> {a.logits_out}")
    log(f"done: test accuracy {acc:.2f}%, wall {fmt_time(time.time() - t_start)}")


if __name__ == "__main__":
    sys.exit(main())
