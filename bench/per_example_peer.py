"""The PyTorch side of per_example_bench: the same models, timings and output shape, one JSON line.

    /usr/bin/python3 bench/per_example_peer.py --model mlp --batch 128 --gram-examples 500 --reps 3 --threads 2

PyTorch 1.13 offers two routes to per-example gradients, and both are timed (--method):
- "expanded": torch.nn.utils._per_sample_grad.call_for_per_sample_grads (ExpandedWeights:
  per-example weight gradients computed in the backward of Linear and Conv2d);
- "functorch": vmap(grad(loss of one example)) over functorch.make_functional's parameters.
Both materialize every parameter's (B, ...) per-example gradient; norms and the Gram are computed
from those, as a PyTorch user would (PyTorch has no route without materializing them). Each route
is timed twice: flattened into one (B, P) matrix as gradscope returns it ("expanded",
"functorch"), and left as the per-parameter list PyTorch hands back, with norms and the Gram summed
over the list ("expanded_list", "functorch_list"). The flattening is a copy of the whole (B, P)
result, about a third of PyTorch's alexnet_small time, so the list routes are its fastest. Each
timing is the best of --reps runs after one warm-up run, like per_example_bench, and the JSON
line reports, per quantity, the fastest method ("*_method" names it).
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn
from torch.nn.utils._per_sample_grad import call_for_per_sample_grads
from functorch import grad, make_functional, vmap

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


def expanded_list(model, x, y):
    """Per parameter, (B, ...): example i's gradient of its own loss (sum of per-example losses, as
    gradscope), each flattened to (B, numel)."""
    out = call_for_per_sample_grads(model, batch_size=x.shape[0], loss_reduction="sum")(x)
    nn.functional.cross_entropy(out, y, reduction="sum").backward()
    gs = [p.grad_sample.reshape(x.shape[0], -1) for p in model.parameters()]
    for p in model.parameters():
        p.grad_sample = None
        p.grad = None
    return gs


def functorch_grads(model):
    """A function (x, y) -> the same list as expanded_list, through vmap(grad(...))."""
    fmodel, params = make_functional(model)

    def one_loss(ps, xi, yi):
        return nn.functional.cross_entropy(fmodel(ps, xi.unsqueeze(0)), yi.unsqueeze(0), reduction="sum")

    per_example = vmap(grad(one_loss), in_dims=(None, 0, 0))

    def run(x, y):
        return [g.reshape(x.shape[0], -1) for g in per_example(params, x, y)]

    return run


def flattened(route):
    """The route's list as one (B, P) matrix."""
    return lambda x, y: torch.cat(route(x, y), dim=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "alexnet_small"], required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--gram-examples", type=int, default=500)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--method", choices=["expanded", "functorch", "both"], default="both")
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

    routes = {"expanded": lambda xs, ys: expanded_list(model, xs, ys), "functorch": functorch_grads(model)}
    if a.method != "both":
        routes = {a.method: routes[a.method]}
    # name -> (gradients, squared norms, Gram) of a batch
    methods = {}
    for name, route in routes.items():
        flat = flattened(route)
        methods[name] = (flat, lambda xs, ys, flat=flat: flat(xs, ys).square().sum(dim=1),
                         lambda xs, ys, flat=flat: (lambda g: g @ g.T)(flat(xs, ys)))
        methods[name + "_list"] = (route, lambda xs, ys, route=route: sum(g.square().sum(dim=1) for g in route(xs, ys)),
                                   lambda xs, ys, route=route: sum(g @ g.T for g in route(xs, ys)))

    t_plain = best_of(a.reps, plain)
    out = {"model": a.model, "parameters": P, "batch": a.batch, "gram_examples": a.gram_examples,
           "threads": torch.get_num_threads(), "plain_seconds": t_plain}
    timings = {}
    for name, (grads, norms, gram) in methods.items():
        timings[name] = {
            "grads": best_of(a.reps, lambda: grads(x, y)),
            "norms": best_of(a.reps, lambda: norms(x, y)),
            "gram": best_of(a.reps, lambda: gram(xm, ym)),
        }
        out.update({f"{name}_{k}_seconds": v for k, v in timings[name].items()})
    for k in ("grads", "norms", "gram"):
        best = min(timings, key=lambda m: timings[m][k])
        out[f"{k}_seconds"] = timings[best][k]
        out[f"{k}_method"] = best
    out["grads_per_second"] = a.batch / out["grads_seconds"]
    out["norms_per_second"] = a.batch / out["norms_seconds"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
