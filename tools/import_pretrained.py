#!/usr/bin/python3
"""Converts a pretrained full-precision CIFAR-10 ResNet (akamaster/pytorch_resnet_cifar10 checkpoints) into a
FleXOR inference model file (docs/FORMAT.md) that the C runtime loads.

    /usr/bin/python3 tools/import_pretrained.py /work/shared/pretrained/resnet20-12fca82f.th --depth 20 \\
        -o ~/.cache/flexor-wasm/models/resnet20-fp.fxm [--check 100 [--logits out.fxg]]

Input: a .th file (torch.load(...)['state_dict'], keys with or without the 'module.' prefix; needs torch) or a
.npz of the same state dict (numpy only). The graph is the one src/zoo.c builds for fx_model_resnet_cifar with
every stage full precision (tools/fxm.py resnet_cifar_nodes(depth)): every conv is an FP conv without bias,
BN keeps gamma, beta and the running statistics, the last layer is dense 64->10 with bias. Parameters are
mapped by name (conv1.weight, bn1.{weight,bias,running_mean,running_var}, layer{1,2,3}.{b}.conv{1,2}.weight,
layer{1,2,3}.{b}.bn{1,2}.*, linear.{weight,bias}); shapes are checked and every key must be used.

The model expects ImageNet normalisation: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) on [0, 1]
pixels (what the checkpoints were trained with), NOT CIFAR statistics.

--check N runs the checkpoint in PyTorch (a plain torch.nn ResNet with option-A shortcuts, built here) on the
first N CIFAR-10 test images (--data, default ~/.cache/flexor-wasm/data/cifar10/test_batch.bin), prints its
accuracy on them and writes the float32 logits: .npy (logits only) or .fxg (logits [N,10] float32, labels and
preds [N] int32; tools/fxg.py), default <output>.check.fxg. Compare them with the C runtime's logits.
The pretrained files are third-party (BSD-2-Clause, Y. Idelbayev); do not commit them or files derived from them.
"""

import argparse
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fxm  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DEFAULT_DATA = os.path.expanduser("~/.cache/flexor-wasm/data/cifar10/test_batch.bin")

BN_KEYS = {fxm.P_GAMMA: "weight", fxm.P_BETA: "bias", fxm.P_RMEAN: "running_mean", fxm.P_RVAR: "running_var"}


def load_state_dict(path):
    """name -> float32 numpy array, 'module.' prefixes removed, num_batches_tracked dropped."""
    if path.endswith(".npz"):
        with np.load(path) as z:
            raw = {k: z[k] for k in z.files}
    else:
        import torch

        ck = torch.load(path, map_location="cpu")
        sd = ck["state_dict"] if isinstance(ck, dict) and "state_dict" in ck else ck
        raw = {k: v.detach().cpu().numpy() for k, v in sd.items()}
    out = {}
    for k, v in raw.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = np.ascontiguousarray(v, dtype=np.float32)
    return out


def infer_depth(sd):
    blocks = {int(m.group(1)) for k in sd for m in [re.match(r"layer1\.(\d+)\.", k)] if m}
    if not blocks:
        raise SystemExit("import_pretrained: no layer1.<b>.* keys: not a CIFAR ResNet state dict")
    return 6 * (max(blocks) + 1) + 2


def map_params(sd, depth):
    """(nodes, params): the FP ResNet graph and its parameter values in file order, from the state dict."""
    nodes = fxm.resnet_cifar_nodes(depth)
    _, specs = fxm.analyse(fxm.CIFAR_INPUT, nodes)
    used, params = set(), []
    for name, node_id, pk, length, _tr in specs:
        layer = nodes[node_id - 1]["name"]  # conv1, bn1, layer2.0.conv1, linear, ...
        if pk in BN_KEYS:
            key = f"{layer}.{BN_KEYS[pk]}"
        elif pk == fxm.P_W:
            key = f"{layer}.weight"
        elif pk == fxm.P_B:
            key = f"{layer}.bias"
        else:
            raise SystemExit(f"import_pretrained: unexpected parameter {name} in a full-precision graph")
        if key not in sd:
            raise SystemExit(f"import_pretrained: the checkpoint has no {key} (for parameter {name}); "
                             f"is it a ResNet-{depth}?")
        v = sd[key]
        if v.size != length:
            raise SystemExit(f"import_pretrained: {key} has shape {list(v.shape)} ({v.size} values); "
                             f"parameter {name} needs {length}")
        if not np.all(np.isfinite(v)):
            raise SystemExit(f"import_pretrained: {key} has non-finite values")
        if pk == fxm.P_RVAR and np.any(v < 0):
            raise SystemExit(f"import_pretrained: {key} has negative variances")
        used.add(key)
        params.append(v.reshape(-1))  # OIHW conv and [O][I] linear weights are already our layouts
    unused = sorted(set(sd) - used)
    if unused:
        raise SystemExit(f"import_pretrained: {len(unused)} checkpoint tensors have no place in a ResNet-{depth}: "
                         + ", ".join(unused[:8]) + (" ..." if len(unused) > 8 else ""))
    return nodes, params


# ----------------------------------------------------------------------------------------------------------
# The PyTorch model for --check (akamaster's resnet.py, re-written: option-A shortcut, no biases in convs)
# ----------------------------------------------------------------------------------------------------------
def torch_resnet(depth):
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, c_in, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.pad = (planes - c_in) // 2 if (stride != 1 or c_in != planes) else None
            self.stride = stride

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x if self.pad is None else F.pad(x[:, :, ::self.stride, ::self.stride],
                                                 (0, 0, 0, 0, self.pad, self.pad))
            return F.relu(y + s)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            n = (depth - 2) // 6
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            c = 16
            for st, planes in enumerate((16, 32, 64)):
                blocks = []
                for b in range(n):
                    blocks.append(Block(c, planes, 2 if st > 0 and b == 0 else 1))
                    c = planes
                setattr(self, f"layer{st + 1}", nn.Sequential(*blocks))
            self.linear = nn.Linear(64, 10)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.linear(x.mean(dim=(2, 3)))

    return ResNet()


def load_cifar(path, n):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise SystemExit(f"import_pretrained: {path}: {raw.size} bytes is not a whole number of 3073-byte records")
    rec = raw.reshape(-1, 3073)
    if n > rec.shape[0]:
        raise SystemExit(f"import_pretrained: --check {n}, but {path} has only {rec.shape[0]} images")
    return rec[:n, 1:].reshape(n, 3, 32, 32), rec[:n, 0].astype(np.int32)


def check(sd, depth, n, data, out_path):
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = torch_resnet(depth)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    model.eval()
    images, labels = load_cifar(data, n)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    logits = []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, n, 500):
            x = (torch.from_numpy(images[i:i + 500].astype(np.float32)) / 255.0 - mean) / std
            logits.append(model(x).numpy())
    z = np.concatenate(logits).astype(np.float32)
    preds = z.argmax(1).astype(np.int32)
    acc = float((preds == labels).mean()) * 100
    print(f"PyTorch ResNet-{depth}: {int((preds == labels).sum())}/{n} correct = {acc:.2f} % "
          f"({time.time() - t0:.1f} s)")
    if out_path.endswith(".npy"):
        np.save(out_path, z)
    else:
        from fxg import write_fxg

        write_fxg(out_path, {"logits": z, "labels": labels, "preds": preds})
    print(f"logits -> {out_path}")
    return acc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help=".th (torch) or .npz state dict of a CIFAR ResNet")
    ap.add_argument("--depth", type=int, help="6n+2 (20, 32); default: inferred from the state dict")
    ap.add_argument("-o", "--output", help="model file (default ~/.cache/flexor-wasm/models/resnet<depth>-fp.fxm)")
    ap.add_argument("--check", type=int, metavar="N", help="run PyTorch on the first N test images, save logits")
    ap.add_argument("--logits", help="where --check writes logits (.npy or .fxg; default <output>.check.fxg)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="CIFAR-10 test_batch.bin (default %(default)s)")
    a = ap.parse_args(argv)

    sd = load_state_dict(a.checkpoint)
    depth = infer_depth(sd)
    if a.depth is not None and a.depth != depth:
        raise SystemExit(f"import_pretrained: --depth {a.depth}, but the state dict is a ResNet-{depth}")
    out = a.output or os.path.expanduser(f"~/.cache/flexor-wasm/models/resnet{depth}-fp.fxm")
    nodes, params = map_params(sd, depth)
    blob = fxm.write(fxm.KIND_INFERENCE, fxm.CIFAR_INPUT, nodes, params)
    fxm.read(blob)  # validate what we wrote with the reader's checks
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(blob)
    n_w = sum(p.size for p in params)
    print(f"ResNet-{depth}: {len(nodes) + 1} nodes, {len(params)} parameter tensors, {n_w} values -> "
          f"{out} ({len(blob)} bytes)")
    if a.check:
        check(sd, depth, a.check, a.data, a.logits or out + ".check.fxg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
