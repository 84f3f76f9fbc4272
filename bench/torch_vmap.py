#!/usr/bin/python3
"""Throughput of R seeds trained at once the way a PyTorch user would: an
ensemble of R identical MLPs (784-<hidden>-10, tanh, sigmoid + BCE output,
mean-reduced, batch 128, Adam lr 1e-3: the backprop configuration of
bench_biopp) stacked with torch.func.stack_module_state and trained with
vmap(grad(functional_call)) and one torch.optim.Adam over the stacked
parameters. Each member sees its own minibatch (its own sample order), as
biopp's R runs do. Prints one JSON line: samples/s = steps x batch x R /
seconds (biopp's definition), median and range over the repetitions.

Used by scripts/gpu-check.sh beside biopp's 5-seed group (bench_biopp --R 5).
The data is random, of MNIST's shape (data loading is not timed by either).
"""
import argparse
import copy
import json
import sys
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--R", type=int, default=5, help="ensemble members (seeds)")
    p.add_argument("--hidden", default="3x800", help="e.g. 3x800 or 800-400")
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=50, help="steps per timed repetition")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls")
    a = p.parse_args(argv)

    import torch
    from torch import nn
    from torch.func import functional_call, grad, stack_module_state, vmap

    if a.device == "cuda" and not torch.cuda.is_available():
        print("torch_vmap: no CUDA device for torch", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    dev = torch.device(a.device)
    if "x" in a.hidden:
        k, w = a.hidden.split("x")
        widths = [int(w)] * int(k)
    else:
        widths = [int(w) for w in a.hidden.split("-")]
    sizes = [784] + widths + [10]

    def make(seed):
        torch.manual_seed(seed)
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.Tanh())
        return nn.Sequential(*layers).to(dev)

    models = [make(1 + r) for r in range(a.R)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def loss_fn(p_, b_, x, y):
        logits = functional_call(base, (p_, b_), (x,))
        return nn.functional.binary_cross_entropy_with_logits(logits, y)

    grads_of = vmap(grad(loss_fn))
    opt = torch.optim.Adam(list(params.values()), lr=a.lr)
    n_data = 10000
    X = torch.rand(n_data, 784, device=dev)
    Y = nn.functional.one_hot(torch.randint(0, 10, (n_data,), device=dev), 10).float()
    gen = torch.Generator(device="cpu").manual_seed(0)

    def batch():
        idx = torch.randint(0, n_data, (a.R, a.batch), generator=gen).to(dev)
        return X[idx], Y[idx]  # R x B x 784, R x B x 10

    def step(x, y):
        g = grads_of(params, buffers, x, y)
        for name, t in params.items():
            t.grad = g[name]
        opt.step()

    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        step(*batch())
    sync()
    times = []
    for _ in range(a.reps):
        bs = [batch() for _ in range(a.steps)]  # index drawing outside the timed region
        sync()
        t0 = time.perf_counter()
        for x, y in bs:
            step(x, y)
        sync()
        times.append(time.perf_counter() - t0)
    sps = sorted(a.steps * a.batch * a.R / t for t in times)
    finite = all(bool(torch.isfinite(t).all()) for t in params.values())
    print(json.dumps({
        "engine": "torch-vmap", "device": a.device, "R": a.R, "hidden": a.hidden,
        "batch": a.batch, "tf32": a.tf32, "torch": torch.__version__, "finite": finite,
        "samples_per_s": {"median": sps[len(sps) // 2], "min": sps[0], "max": sps[-1]},
    }), flush=True)
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
