"""The PyTorch side of per_example_bench: the same models, timings and output shape, one JSON line.

    /usr/bin/python3 bench/per_example_peer.py --model mlp --batch 128 --gram-examples 500 --reps 3 --threads 2

PyTorch has no per-example mode of its own; this uses the one it ships,
torch.nn.utils._per_sample_grad.call_for_per_sample_grads (ExpandedWeights: per-example weight
gradients computed in the backward of Linear and Conv2d), which materializes every parameter's
(B, ...) per-example gradient. Norms and the Gram are computed from those, as a PyTorch user
would (PyTorch has no route without materializing them). Timings are the best of --reps runs
after one warm-up run, like per_example_bench.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn
from torch.nn.utils._per_sample_grad import call_for_per_sample_grads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import alexnet_small, mlp  # noqa: E402


def best_of(reps, f):
    f()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def per_example_grads(model, x, y):
    """(B, P): example i's gradient of its own loss (sum of per-example losses, as gradscope)."""
    out = call_for_per_sample_grads(model, batch_size=x.shape[0], loss_reduction="sum")(x)
    nn.functional.cross_entropy(out, y, reduction="sum").backward()
    g = torch.cat([p.grad_sample.reshape(x.shape[0], -1) for p in model.parameters()], dim=1)
    for p in model.parameters():
        p.grad_sample = None
        p.grad = None
    return g


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "alexnet_small"], required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--gram-examples", type=int, default=500)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    C = 1 if a.model == "mlp" else 3
    model = mlp(28 * 28, [512] * 3, 10) if a.model == "mlp" else alexnet_small(C, 10)
    P = sum(q.numel() for q in model.parameters())
    x, y = torch.randn(a.batch, C, 28, 28), torch.randint(0, 10, (a.batch,))
    xm, ym = torch.randn(a.gram_examples, C, 28, 28), torch.randint(0, 10, (a.gram_examples,))

    def plain():
        nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
        model.zero_grad(set_to_none=True)

    def norms():
        per_example_grads(model, x, y).square().sum(dim=1)

    def gram():
        g = per_example_grads(model, xm, ym)
        g @ g.T

    t_plain = best_of(a.reps, plain)
    t_grads = best_of(a.reps, lambda: per_example_grads(model, x, y))
    t_norms = best_of(a.reps, norms)
    t_gram = best_of(a.reps, gram)
    print(json.dumps({"model": a.model, "parameters": P, "batch": a.batch, "gram_examples": a.gram_examples,
                      "threads": torch.get_num_threads(), "plain_seconds": t_plain, "grads_seconds": t_grads,
                      "grads_per_second": a.batch / t_grads, "norms_seconds": t_norms, "norms_per_second": a.batch / t_norms,
                      "gram_seconds": t_gram}))


if __name__ == "__main__":
    main()
