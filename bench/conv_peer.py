"""The PyTorch side of bench/conv_bench.cpp: the same conv layers, the same JSON lines.

    /usr/bin/python3 bench/conv_peer.py [--model alexnet|inception|all] [--batch N] [--repeats R] [--threads T] [--cpu-time 1]

Backward input and weight are timed separately through aten.convolution_backward with an output
mask, which is how autograd calls them.
"""
import argparse
import json
import statistics
import time

import torch

import os
import re


def layers():
    # Parsed from conv_bench.cpp so the two lists cannot drift apart.
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_bench.cpp")).read()
    pat = r'\{"(\w+)", "([^"]+)", (\d+), (\d+), (\d+), (\d+), (\d+), (true|false)\}'
    return [(m[0], m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), m[7] == "true")
            for m in re.findall(pat, src)]


def median_ms(repeats, f, cpu_time=False):
    clock = time.process_time if cpu_time else time.perf_counter
    f()
    t = []
    for _ in range(repeats):
        t0 = clock()
        f()
        t.append((clock() - t0) * 1e3)
    return statistics.median(t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="all")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cpu-time", type=int, default=0, help="1: CPU time of all threads instead of wall time")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    total = [0.0, 0.0, 0.0]
    conv_bwd = torch.ops.aten.convolution_backward
    for model, name, C, H, K, R, stride, need_dx in layers():
        if a.model not in ("all", model):
            continue
        pad = R // 2
        x = torch.randn(a.batch, C, H, H)
        w = torch.randn(K, C, R, R) * 0.1
        b = torch.randn(K) * 0.1
        y = torch.nn.functional.conv2d(x, w, b, stride, pad)
        dy = torch.randn_like(y)
        with torch.no_grad():
            f = median_ms(a.repeats, cpu_time=bool(a.cpu_time), f=lambda: torch.nn.functional.conv2d(x, w, b, stride, pad))
            args = (dy, x, w, [K], [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1)
            bi = median_ms(a.repeats, cpu_time=bool(a.cpu_time), f=lambda: conv_bwd(*args, [True, False, False])) if need_dx else 0.0
            bw = median_ms(a.repeats, cpu_time=bool(a.cpu_time), f=lambda: conv_bwd(*args, [False, True, False]))
        total[0] += f
        total[1] += bi
        total[2] += bw
        print(json.dumps({"layer": name, "fwd_ms": round(f, 3), "bwd_input_ms": round(bi, 3), "bwd_weight_ms": round(bw, 3)}))
    print(json.dumps({"layer": "total", "fwd_ms": round(total[0], 3), "bwd_input_ms": round(total[1], 3),
                      "bwd_weight_ms": round(total[2], 3)}))


if __name__ == "__main__":
    main()
