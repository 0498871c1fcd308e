#!/usr/bin/env python3
"""export_onnx.py - ONNX models for the onnxruntime-web peer of bench/run.mjs (run with Debian's /usr/bin/python3,
torch 1.13 CPU; torch.onnx.export serialises the protobuf itself, the `onnx` pip package is not needed).

  python3 bench/export_onnx.py --out bench/out --model resnet20_fp:1,64 --model resnet20_fx:64 --convs convs.json

--model NAME:BATCHES  reads the spec NAME.json + NAME.f32 that bench/run.mjs wrote (our model's graph in node
                      order with the float weights its forward uses; FleXOR layers decoded) and writes
                      NAME_b<B>.onnx for each batch B (static shapes: onnxruntime's best case). The graph is
                      rebuilt node for node: conv, BN (eval; torch folds it into the conv on export), ReLU, max
                      pool, global average pool, the option-A shortcut (x[:, :, ::s, ::s] + zero channel pad),
                      add and dense, so the ONNX model computes what our runtime computes.
--convs FILE          a JSON list of [name, c_in, h, w, c_out, k, stride, pad, batch]: one Conv (no bias, random
                      weights) per entry, written as conv_<name>_b<batch>.onnx (W3 per-layer benchmarks).
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpecNet(nn.Module):
    def __init__(self, spec, floats):
        super().__init__()
        self.spec = spec
        self.mods = nn.ModuleDict()
        eps = spec.get("bnEps", 1e-5)

        def p(node, key):
            off, n = node["params"][key]
            return torch.from_numpy(floats[off:off + n].copy())

        nodes = spec["nodes"]
        for n in nodes:
            k = n["kind"]
            if k == "conv":
                cin = nodes[n["inputs"][0]]["shape"][0]
                m = nn.Conv2d(cin, n["cOut"], n["k"], stride=n["stride"], padding=n["pad"], bias=bool(n["bias"]))
                m.weight.data = p(n, "w").reshape(n["cOut"], cin, n["k"], n["k"])
                if n["bias"]:
                    m.bias.data = p(n, "b")
                self.mods[str(n["id"])] = m
            elif k == "bn":
                c = n["shape"][0]
                m = nn.BatchNorm2d(c, eps=eps)
                m.weight.data, m.bias.data = p(n, "gamma"), p(n, "beta")
                m.running_mean.data, m.running_var.data = p(n, "rmean"), p(n, "rvar")
                self.mods[str(n["id"])] = m
            elif k == "dense":
                c, h, w = nodes[n["inputs"][0]]["shape"]
                m = nn.Linear(c * h * w, n["shape"][0], bias=bool(n["bias"]))
                m.weight.data = p(n, "w").reshape(n["shape"][0], c * h * w)
                if n["bias"]:
                    m.bias.data = p(n, "b")
                self.mods[str(n["id"])] = m
            elif k not in ("input", "relu", "maxpool", "gap", "shortcut", "add"):
                raise SystemExit(f"export_onnx: unsupported node kind {k}")

    def forward(self, x):
        nodes = self.spec["nodes"]
        env = {0: x}
        for n in nodes[1:]:
            k, i = n["kind"], n["inputs"]
            a = env[i[0]]
            if k in ("conv", "bn"):
                y = self.mods[str(n["id"])](a)
            elif k == "dense":
                y = self.mods[str(n["id"])](torch.flatten(a, 1))
            elif k == "relu":
                y = F.relu(a)
            elif k == "maxpool":
                y = F.max_pool2d(a, n["k"], n["stride"])
            elif k == "gap":
                y = torch.mean(a, dim=(2, 3), keepdim=True)
            elif k == "shortcut":
                cin = nodes[i[0]]["shape"][0]
                lo = (n["cOut"] - cin) // 2
                hi = n["cOut"] - cin - lo
                s = n["stride"]
                y = a[:, :, ::s, ::s] if s > 1 else a
                if lo or hi:
                    y = F.pad(y, (0, 0, 0, 0, lo, hi))
            elif k == "add":
                y = a + env[i[1]]
            env[n["id"]] = y
        return torch.flatten(env[nodes[-1]["id"]], 1)


def export(model, example, path):
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, example, path, opset_version=13, input_names=["x"], output_names=["y"],
                          do_constant_folding=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--convs")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")  # torch 1.13's ONNX shape-inference chatter
    torch.manual_seed(0)
    written = []
    for spec_arg in a.model:
        name, batches = spec_arg.split(":")
        with open(os.path.join(a.out, name + ".json")) as f:
            spec = json.load(f)
        floats = np.fromfile(os.path.join(a.out, name + ".f32"), dtype="<f4")
        net = SpecNet(spec, floats)
        c, h, w = spec["input"]
        for b in (int(s) for s in batches.split(",")):
            path = os.path.join(a.out, f"{name}_b{b}.onnx")
            export(net, torch.zeros(b, c, h, w), path)
            written.append(path)
    if a.convs:
        with open(a.convs) as f:
            convs = json.load(f)
        for name, cin, h, w, cout, k, s, p, b in convs:
            m = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=False)
            path = os.path.join(a.out, f"conv_{name}_b{b}.onnx")
            export(m, torch.zeros(b, cin, h, w), path)
            written.append(path)
    print(f"export_onnx: wrote {len(written)} models to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
