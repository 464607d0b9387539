"""The PyTorch side of bench/run: the same workloads as train_bench, printed as one JSON line.

    /usr/bin/python3 bench/torch_peer.py --workload mlp_3x512 --mode train --batch 128 --shape 1,28,28 \
        --steps 30 --warmup 5 --threads 2

The models mirror nn/models.h layer for layer (Zhang et al.'s MLPs, small AlexNet with LRN,
small Inception; BatchNorm with affine parameters, one more per channel than gradscope's
shift-only variant, which does not change the timing materially).
"""
import argparse
import json
import resource
import time

import torch
from torch import nn


def conv_module(cin, cout, k, stride, bn):
    layers = [nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Concat(nn.Module):
    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


def inception_small(cin, classes, bn):
    layers, c = [conv_module(cin, 96, 3, 1, bn)], 96

    def inception(ch1, ch3):
        nonlocal c
        layers.append(Concat(conv_module(c, ch1, 1, 1, bn), conv_module(c, ch3, 3, 1, bn)))
        c = ch1 + ch3

    def downsample(ch3):
        nonlocal c
        layers.append(Concat(conv_module(c, ch3, 3, 2, bn), nn.MaxPool2d(3, 2, 1)))
        c = ch3 + c

    inception(32, 32), inception(32, 48), downsample(80)
    inception(112, 48), inception(96, 64), inception(80, 80), inception(48, 96), downsample(96)
    inception(176, 160), inception(176, 160)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def alexnet_small(cin, classes):
    return nn.Sequential(
        nn.Conv2d(cin, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.LocalResponseNorm(9, 0.001, 0.75, 1.0),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(9, 0.001, 0.75, 1.0), nn.MaxPool2d(3, 2, 1),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, classes))


def mlp(inputs, widths, classes):
    layers, c = [nn.Flatten()], inputs
    for w in widths:
        layers += [nn.Linear(c, w), nn.ReLU()]
        c = w
    layers.append(nn.Linear(c, classes))
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True)
    p.add_argument("--mode", default="train", choices=["train", "infer"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--shape", default="1,28,28")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (GPU timing, as train_bench --device)")
    p.add_argument("--tf32", action="store_true", help="let CUDA matmuls and convolutions use TF32 (gradscope's --tf32)")
    a = p.parse_args()
    dev = torch.device(a.device)
    # PyTorch lets cuDNN convolutions use TF32 by default; gradscope does not unless asked, so the
    # peer follows the same rule or the two sides would not compute the same f32 math.
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = a.tf32

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    C, H, W = (int(v) for v in a.shape.split(","))
    builders = {"mlp_1x512": lambda: mlp(C * H * W, [512], 10), "mlp_3x512": lambda: mlp(C * H * W, [512] * 3, 10),
                "alexnet_small": lambda: alexnet_small(C, 10), "inception_small": lambda: inception_small(C, 10, True),
                "inception_small_nobn": lambda: inception_small(C, 10, False)}
    model = builders[a.workload]().to(dev)
    x, y = torch.randn(a.batch, C, H, W).to(dev), torch.randint(0, 10, (a.batch,)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if a.mode == "infer":
        model.eval()

    def step():
        if a.mode == "infer":
            with torch.no_grad():
                model(x)
            return
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    sync()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"workload": a.workload, "mode": a.mode, "device": a.device, "batch": a.batch, "threads": torch.get_num_threads(),
                      "steps": a.steps, "examples_per_second": a.batch * a.steps / seconds,
                      "seconds_per_step": seconds / a.steps, "cpu_seconds_per_step": cpu / a.steps,
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
