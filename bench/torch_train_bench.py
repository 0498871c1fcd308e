"""torch_train_bench.py - W4 of bench/run.mjs: one training step (forward, backward, SGD with momentum) of the
CIFAR ResNet-20 in Debian's PyTorch (CPU), FleXOR (tools/flexor_ref.py, float32, q = 1, N_out 20, N_in 16,
N_tap 2: 0.8 bit) or full precision, on a random batch. Speaks bench/native_bench.c's protocol: prints
"ready", then answers "run N" with "t SECONDS" for N steps, until "quit".
Usage: python3 bench/torch_train_bench.py <fx:0|1> <batch> <threads>"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import flexor_ref as fr  # noqa: E402


class ResNetFP(nn.Module):
    """The same graph with ordinary convolutions."""

    def __init__(self, depth=20):
        super().__init__()
        nb = (depth - 2) // 6
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        layers, c_in = [], 16
        for c_out, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(nb):
                s = stride if b == 0 else 1
                layers.append(nn.ModuleList([nn.Conv2d(c_in, c_out, 3, s, 1, bias=False), nn.BatchNorm2d(c_out),
                                             nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out)]))
                layers[-1].shape = (c_in, c_out, s)
                c_in = c_out
        self.blocks = nn.ModuleList(layers)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for blk in self.blocks:
            c_in, c_out, s = blk.shape
            y = F.relu(blk[1](blk[0](x)))
            y = blk[3](blk[2](y))
            x = F.relu(y + fr.shortcut_a(x, c_out, s))
        return self.fc(x.mean(dim=(2, 3)))


def main():
    fx, batch, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = fr.resnet20(n_in=16, dtype=torch.float32) if fx else ResNetFP()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    step()
    print(f"ready torch {torch.__version__}", flush=True)
    for line in sys.stdin:
        if line.startswith("quit"):
            break
        n = int(line.split()[1])
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        print(f"t {time.perf_counter() - t0:.9f}", flush=True)


if __name__ == "__main__":
    main()
