#!/usr/bin/python3
"""PyTorch reference for biopp's five learning rules (BP, FA, DFA, BFA, BDFA).

The equations are those of shared/design/METHODS.md, written by hand: no
autograd (every delta and gradient below is an explicit matrix product), and
torch.optim.Adam / torch.optim.SGD for the update (the formulas of
kernels/optim.h). tanh hidden units, sigmoid_bce output, mean-reduced
gradients, batch 128, Adam lr 1e-3 by default.

Initial weights and per-epoch sample orders are reproduced exactly: a numpy
Philox-4x32-10 (vectorised over counters) computes the same numbers as
kernels/philox.h, the tensors are declared in biopp's order (src/net.c,
src/rules/*.c) and the Fisher-Yates shuffle is src/rng.c's.

Modes (one JSON object per result on stdout):
  throughput  samples/s of training steps (gather + step), median of repeats
  parity      one epoch of each rule from biopp's initial weights and sample
              order on MNIST (train_size 10000): test error and mean training
              loss, compared with `biopp train` on the same config
  check-rng   bit-exact comparison of this file's initial weights and sample
              order with biopp's (bench_biopp --dump-init / --dump-perm)

Run with Debian's Python (/usr/bin/python3), which has python3-torch.
"""
import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

RULES = ("bp", "fa", "dfa", "bfa", "bdfa")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("throughput", "parity", "check-rng"))
    p.add_argument("--rule", default=None, help="throughput: one rule (default bp); parity "
                   "and check-rng: a comma-separated list (default all five)")
    p.add_argument("--hidden", default="3x800", help="hidden widths, e.g. 3x800 or 800-400")
    p.add_argument("--R", type=int, default=1, help="runs trained in lockstep (batched matmuls)")
    p.add_argument("--threads", type=int, default=0,
                   help="cores: OpenBLAS threads (torch.set_num_threads does not reach "
                   "OpenBLAS); 0 = all cores")
    p.add_argument("--intra-op-threads", type=int, default=1,
                   help="torch.set_num_threads (ATen's OpenMP pool for elementwise ops); "
                   "default 1: --threads cores go to OpenBLAS, as in biopp's CPU backend; "
                   "0 = same as --threads (torch's usual policy: OpenMP and OpenBLAS pools "
                   "of --threads each, which oversubscribes the cores)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="steps per timed repetition")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions")
    p.add_argument("--train-size", type=int, default=10000)
    p.add_argument("--data-dir", default=None, help="default $BIOPP_DATA_DIR, else data")
    p.add_argument("--synthetic", action="store_true", help="random data of MNIST's shape")
    p.add_argument("--biopp", default="build/biopp", help="biopp binary (parity)")
    p.add_argument("--bench-biopp", default="build/bench_biopp", help="bench binary (check-rng)")
    p.add_argument("--config", default="configs/mnist.ini", help="base config (parity)")
    p.add_argument("--tolerance-pp", type=float, default=0.5,
                   help="parity: allowed |test error difference| in percentage points")
    p.add_argument("--loss-rtol", type=float, default=2e-3,
                   help="parity: allowed relative difference of the epoch's mean training loss")
    p.add_argument("--workdir", default=None, help="parity: where biopp writes its runs")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None

# Thread counts must be fixed before torch (and its OpenBLAS) is loaded:
# torch.set_num_threads sets OpenMP's count but not OpenBLAS's.
if ARGS is not None:
    _b = ARGS.threads if ARGS.threads > 0 else (os.cpu_count() or 1)
    ARGS.intra_op_threads = ARGS.intra_op_threads if ARGS.intra_op_threads > 0 else _b
    os.environ["OMP_NUM_THREADS"] = str(ARGS.intra_op_threads)
    os.environ["MKL_NUM_THREADS"] = str(_b)
    os.environ["OPENBLAS_NUM_THREADS"] = str(_b)

import numpy as np  # noqa: E402
import torch  # noqa: E402

# ----------------------------------------------------------------------------
# Philox-4x32-10, as kernels/philox.h

_MASK = np.uint64(0xFFFFFFFF)
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
BP_STREAM_SHUFFLE = 1 << 40


def philox_blocks(seed, stream, blocks):
    """The four 32-bit words of each block index in `blocks` (uint64 array),
    counter = (block lo, block hi, stream lo, stream hi), key = seed."""
    b = np.asarray(blocks, dtype=np.uint64)
    c0 = b & _MASK
    c1 = b >> np.uint64(32)
    c2 = np.full_like(b, stream & 0xFFFFFFFF)
    c3 = np.full_like(b, (stream >> 32) & 0xFFFFFFFF)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK
        c0, c1, c2, c3 = (hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0)
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def philox_words(seed, stream, n):
    """Words 0..n-1 of the (seed, stream) sequence (bp_philox_u32)."""
    if n <= 0:
        return np.zeros(0, dtype=np.uint32)
    blocks = np.arange((n + 3) // 4, dtype=np.uint64)
    return philox_blocks(seed, stream, blocks).reshape(-1)[:n]


def uniform_fill(seed, stream, bound, n):
    """bp_uniform_fill: bound * (2u - 1), u = (word >> 8) / 2^24, in float32."""
    u = (philox_words(seed, stream, n) >> np.uint32(8)).astype(np.float32)
    unit = u * np.float32(1.0 / 16777216.0)
    return np.float32(bound) * (np.float32(2.0) * unit - np.float32(1.0))


def permutation(seed, stream, n):
    """bp_permutation: Fisher-Yates, for i = n..2: j = (u * i) >> 32 with
    u = word n - i; swap idx[i-1], idx[j]."""
    idx = np.arange(n, dtype=np.int64)
    if n < 2:
        return idx
    u = philox_words(seed, stream, n - 1).astype(np.uint64)
    i = np.arange(n, 1, -1, dtype=np.uint64)
    js = ((u * i) >> np.uint64(32)).tolist()
    lst = idx.tolist()
    for t, j in enumerate(js):
        a = n - 1 - t
        lst[a], lst[j] = lst[j], lst[a]
    return np.asarray(lst, dtype=np.int64)


def f32_bound(fan):
    return np.float32(1.0) / np.sqrt(np.float32(fan))


def param_stream(arena, index):
    return (arena << 32) | index


# ----------------------------------------------------------------------------
# Model declaration, in biopp's tensor order

def parse_hidden(spec):
    if "x" in spec:
        n, w = spec.split("x")
        return [int(w)] * int(n)
    return [int(w) for w in spec.split("-")]


def declare(rule, n):
    """[(arena, index, name, rows, cols, bound)] as src/net.c and src/rules/*.c
    declare them; n = [n0, n1..nL, C]."""
    L = len(n) - 2
    C = n[-1]
    t = []
    for l in range(1, L + 2):
        b = f32_bound(n[l - 1])
        t.append((0, 2 * (l - 1), "W%d" % l, n[l], n[l - 1], b))
        t.append((0, 2 * (l - 1) + 1, "b%d" % l, 1, n[l], b))
    if rule == "fa":
        for l in range(2, L + 2):
            t.append((2, l - 2, "B%d" % l, n[l - 1], n[l], f32_bound(n[l])))
    elif rule == "dfa":
        for l in range(1, L + 1):
            t.append((2, l - 1, "D%d" % l, n[l], C, f32_bound(n[l])))
    elif rule == "bfa":
        for l in range(1, L + 2):
            b = f32_bound(n[l])
            t.append((1, 2 * (l - 1), "V%d" % l, n[l - 1], n[l], b))
            t.append((1, 2 * (l - 1) + 1, "c%d" % (l - 1), 1, n[l - 1], b))
    elif rule == "bdfa":
        for l in range(1, L + 1):
            t.append((1, l - 1, "U%d" % l, n[l], C, f32_bound(n[l])))
    return t


def init_tensors(rule, n, seed):
    """{name: float32 array} of one run's initial parameters."""
    out = {}
    for arena, index, name, rows, cols, bound in declare(rule, n):
        v = uniform_fill(seed, param_stream(arena, index), bound, rows * cols)
        out[name] = v.reshape(rows, cols) if rows > 1 else v
    return out


# ----------------------------------------------------------------------------
# Data

def data_dir(args):
    return args.data_dir or os.environ.get("BIOPP_DATA_DIR") or "data"


def _read_idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            magic = int.from_bytes(raw[0:4], "big")
            nd = magic & 0xFF
            dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
            a = np.frombuffer(bytearray(raw), dtype=np.uint8, offset=4 + 4 * nd)
            return a.reshape(dims[0], -1) if nd > 1 else a
    raise FileNotFoundError(path + "[.gz]")


def load_mnist(args, split):
    d = os.path.join(data_dir(args), "mnist")
    prefix = "train" if split == "train" else "t10k"
    x = _read_idx(os.path.join(d, prefix + "-images-idx3-ubyte"))
    y = _read_idx(os.path.join(d, prefix + "-labels-idx1-ubyte"))
    return x, y


def training_data(args):
    """The first train_size training samples (uint8), and their source."""
    if not args.synthetic:
        try:
            x, y = load_mnist(args, "train")
            return x[:args.train_size], y[:args.train_size], "mnist"
        except (FileNotFoundError, OSError) as e:
            print("torch_ref: %s; using synthetic data of MNIST's shape" % e, file=sys.stderr)
    n = args.train_size
    x = (philox_words(args.seed, 99, n * 784) >> np.uint32(24)).astype(np.uint8).reshape(n, 784)
    y = (philox_words(args.seed, 98, n) % np.uint32(10)).astype(np.uint8)
    return x, y, "synthetic"


def sample_orders(seed, n, batch, steps):
    """Indices of `steps` batches, epochs of Philox permutations, last
    partial batch dropped (src/train.c)."""
    per_epoch = n // batch
    out, epoch = [], 0
    while len(out) < steps:
        perm = permutation(seed, BP_STREAM_SHUFFLE + epoch, n)
        for k in range(per_epoch):
            if len(out) == steps:
                break
            out.append(perm[k * batch:(k + 1) * batch])
        epoch += 1
    return np.stack(out)


# ----------------------------------------------------------------------------
# The five rules (METHODS.md), by hand

def _t(m):
    return m.transpose(-1, -2)


def linear(h, w, b):
    """h w^T + b (one run: addmm; R runs: baddbmm)."""
    if h.dim() == 2:
        return torch.addmm(b, h, w.t())
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


class Model:
    """R runs of one rule, weights of run r from seed + r (biopp's groups)."""

    def __init__(self, rule, n, seeds, device, lr, optimizer="adam"):
        self.rule, self.n, self.L, self.C = rule, n, len(n) - 2, n[-1]
        self.R = len(seeds)
        per_run = [init_tensors(rule, n, s) for s in seeds]

        def tensor(name):
            if self.R == 1:
                a = per_run[0][name]
            else:
                a = np.stack([pr[name] for pr in per_run])
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        L = self.L
        self.W = [None] + [tensor("W%d" % l) for l in range(1, L + 2)]
        self.b = [None] + [tensor("b%d" % l) for l in range(1, L + 2)]
        self.fwd = [p for l in range(1, L + 2) for p in (self.W[l], self.b[l])]
        self.fb = []
        if rule == "fa":
            self.M = {l: tensor("B%d" % (l + 1)) for l in range(1, L + 1)}  # n_l x n_{l+1}
        elif rule == "dfa":
            self.M = {l: tensor("D%d" % l) for l in range(1, L + 1)}        # n_l x C
        elif rule == "bfa":
            self.V = [None] + [tensor("V%d" % l) for l in range(1, L + 2)]
            self.c = [tensor("c%d" % l) for l in range(0, L + 1)]
            self.M = {l: self.V[l + 1] for l in range(1, L + 1)}
            self.fb = [p for l in range(1, L + 2) for p in (self.V[l], self.c[l - 1])]
        elif rule == "bdfa":
            self.U = [None] + [tensor("U%d" % l) for l in range(1, L + 1)]
            self.M = {l: self.U[l] for l in range(1, L + 1)}
            self.fb = self.U[1:]
        self.direct = rule in ("dfa", "bdfa")
        mk = (lambda ps: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8)) \
            if optimizer == "adam" else (lambda ps: torch.optim.SGD(ps, lr=lr))
        self.opt_fwd = mk(self.fwd)
        self.opt_fb = mk(self.fb) if self.fb else None

    def forward(self, x):
        H = [x]
        for l in range(1, self.L + 1):
            H.append(torch.tanh_(linear(H[-1], self.W[l], self.b[l])))
        return H, linear(H[-1], self.W[self.L + 1], self.b[self.L + 1])

    @staticmethod
    def _grads(w, b, delta, h, scale):
        w.grad = torch.matmul(_t(delta), h).mul_(scale)
        b.grad = delta.sum(-2).mul_(scale)

    def step(self, x, labels):
        """One step in METHODS.md's order. Returns (loss sum, errors, feedback loss)."""
        L, C = self.L, self.C
        B = x.shape[-2]
        scale = 1.0 / B
        y = torch.nn.functional.one_hot(labels.long(), C).to(x.dtype)
        H, logits = self.forward(x)
        # Output: sigmoid_bce, e = yhat - y; the metrics biopp also records.
        yhat = torch.sigmoid(logits)
        E = yhat - y
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="none").sum(dim=(-1, -2))
        errors = (logits.argmax(-1) != labels).sum(-1)
        # Forward learning phase.
        self._grads(self.W[L + 1], self.b[L + 1], E, H[L], scale)
        delta = None
        for l in range(L, 0, -1):
            s = E if (self.direct or l == L) else delta
            if self.rule == "bp":
                d = torch.matmul(s, self.W[l + 1])
            else:
                d = torch.matmul(s, _t(self.M[l]))
            delta = d.mul_(1.0 - H[l] * H[l])
            self._grads(self.W[l], self.b[l], delta, H[l - 1], scale)
        self.opt_fwd.step()
        fb_loss = None
        # Backward learning phase, with the W just updated.
        if self.rule == "bfa":
            fb_loss = self._bfa_backward(x, y, scale)
        elif self.rule == "bdfa":
            fb_loss = self._bdfa_backward(H, y, scale)
        if self.opt_fb is not None:
            self.opt_fb.step()
        return loss, errors, fb_loss

    def _bfa_backward(self, x, y, scale):
        L = self.L
        r = [None] * (L + 2)
        r[L + 1] = y
        inp = y
        for l in range(L, 0, -1):
            r[l] = torch.tanh_(linear(inp, self.V[l + 1], self.c[l]))
            inp = r[l]
        g0 = linear(inp, self.V[1], self.c[0])
        eps = [g0 - x]  # identity reconstruction: eps_0 = xhat - x
        fb_loss = 0.5 * (eps[0] * eps[0]).sum(dim=(-1, -2))
        for l in range(1, L + 1):
            e = torch.matmul(eps[l - 1], _t(self.W[l]))
            eps.append(e.mul_(1.0 - r[l] * r[l]))
        for l in range(1, L + 2):
            self._grads(self.V[l], self.c[l - 1], eps[l - 1], r[l], scale)
        return fb_loss

    def _bdfa_backward(self, H, t, scale):
        total = 0.0
        for l in range(1, self.L + 1):
            P = torch.matmul(t, _t(self.U[l]))
            s = (P * H[l]).sum(-1)
            sig = torch.sigmoid(s)
            total = total + (1.0 - sig).sum(-1)
            HS = H[l] * (-sig * (1.0 - sig)).unsqueeze(-1)
            self.U[l].grad = torch.matmul(_t(HS), t).mul_(scale)
        return total

    def test_error(self, x_u8, y_u8, device, chunk=1000):
        """Fraction of misclassified samples (run 0 when R > 1)."""
        wrong = 0
        for s in range(0, len(x_u8), chunk):
            x = torch.from_numpy(x_u8[s:s + chunk]).to(device).float().mul_(1.0 / 255.0)
            if self.R > 1:
                x = x.unsqueeze(0).expand(self.R, -1, -1).contiguous()
            _, logits = self.forward(x)
            lab = torch.from_numpy(y_u8[s:s + chunk].astype(np.int64)).to(device)
            pred = logits.argmax(-1)
            wrong += int((pred[0] if self.R > 1 else pred).ne(lab).sum())
        return wrong / len(x_u8)


# ----------------------------------------------------------------------------
# Modes

def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def emit(obj):
    print(json.dumps(obj), flush=True)


def gather(X, Y, idx, R):
    """x = pixels[idx] / 255 (float32), labels likewise; idx is R x B."""
    if R == 1:
        return X[idx[0]].float().mul_(1.0 / 255.0), Y[idx[0]]
    return X[idx].float().mul_(1.0 / 255.0), Y[idx]


def mode_throughput(args):
    base = {"engine": "torch", "rule": args.rule, "hidden": args.hidden, "device": args.device,
            "R": args.R, "threads": args.threads}
    if args.device == "cuda" and not torch.cuda.is_available():
        base["skipped"] = "torch has no CUDA device (torch %s, built with CUDA: %s)" % (
            torch.__version__, torch.version.cuda)
        emit(base)
        return 3
    torch.set_num_threads(args.intra_op_threads)
    dev = torch.device(args.device)
    xs, ys, source = training_data(args)
    n = [xs.shape[1]] + parse_hidden(args.hidden) + [10]
    seeds = [args.seed + r for r in range(args.R)]
    total = args.warmup + args.steps * args.reps
    orders = np.stack([sample_orders(s, len(xs), args.batch, total) for s in seeds], axis=1)
    X = torch.from_numpy(np.ascontiguousarray(xs)).to(dev)
    Y = torch.from_numpy(ys.astype(np.int64)).to(dev)
    idx = torch.from_numpy(orders).to(dev)  # steps x R x B
    model = Model(args.rule, n, seeds, dev, args.lr)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    losses = []
    with torch.no_grad():
        for s in range(args.warmup):
            x, lab = gather(X, Y, idx[s], args.R)
            losses.append(model.step(x, lab)[0])
        sync()
        reps = []
        s = args.warmup
        for _ in range(args.reps):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                x, lab = gather(X, Y, idx[s], args.R)
                losses.append(model.step(x, lab)[0])
                s += 1
            sync()
            reps.append(time.perf_counter() - t0)
    finite = bool(torch.isfinite(torch.stack([torch.as_tensor(v).float().sum()
                                              for v in losses])).all())
    samples = args.steps * args.batch * args.R
    sps = [samples / t for t in reps]
    base.update({
        "blas_threads": int(os.environ["OPENBLAS_NUM_THREADS"]),
        "intra_op_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch": args.batch, "data": source, "train_size": len(xs),
        "warmup": args.warmup, "steps": args.steps, "reps": args.reps, "finite": finite,
        "samples_per_s": {"median": float(np.median(sps)), "min": min(sps), "max": max(sps),
                          "all": sps},
        "step_ms": {"median": float(np.median(reps)) / args.steps * 1e3,
                    "min": min(reps) / args.steps * 1e3, "max": max(reps) / args.steps * 1e3,
                    "all": [t / args.steps * 1e3 for t in reps]},
        "peak_rss_mb": peak_rss_mb(),
        "loadavg_1m": loadavg(),
    })
    if args.device == "cuda":
        # Device memory as biopp reports it: in use on the device (cudaMemGetInfo).
        free_b, total_b = torch.cuda.mem_get_info()
        base["device_mem_mb"] = (total_b - free_b) / 1048576.0
    emit(base)
    return 0 if finite else 1


def mode_check_rng(args, rules):
    """Bit-exact: initial parameters of run 0 and the epoch-0 sample order."""
    ok = True
    n = [784] + parse_hidden(args.hidden) + [10]
    with tempfile.TemporaryDirectory() as tmp:
        for rule in rules:
            path = os.path.join(tmp, rule + ".f32")
            out = subprocess.run([args.bench_biopp, "--rule", rule, "--hidden", args.hidden,
                                  "--seed", str(args.seed), "--dump-init", path],
                                 check=True, capture_output=True, text=True).stdout
            man = json.loads(out)
            got = np.fromfile(path, dtype=np.float32)
            mine = init_tensors(rule, n, args.seed)
            decl = declare(rule, n)
            bad = []
            if len(man["tensors"]) != len(decl):
                bad.append("tensor count %d != %d" % (len(man["tensors"]), len(decl)))
            for t, d in zip(man["tensors"], decl):
                if (t["arena"], t["index"], t["name"], t["rows"], t["cols"]) != d[:5]:
                    bad.append("declaration %s != %s" % (t, d[:5]))
                    continue
                size = t["rows"] * t["cols"]
                theirs = got[t["offset"]:t["offset"] + size]
                if not np.array_equal(theirs, mine[t["name"]].reshape(-1)):
                    bad.append("%s differs (max |diff| %g)" % (
                        t["name"], float(np.abs(theirs - mine[t["name"]].reshape(-1)).max())))
            ok &= not bad
            emit({"check": "init", "rule": rule, "hidden": args.hidden, "seed": args.seed,
                  "tensors": len(decl), "floats": int(got.size), "identical": not bad,
                  "problems": bad})
        for epoch in (0, 1):
            path = os.path.join(tmp, "perm.i32")
            subprocess.run([args.bench_biopp, "--seed", str(args.seed), "--dump-perm", path,
                            "--perm-n", str(args.train_size), "--perm-epoch", str(epoch)],
                           check=True, capture_output=True)
            theirs = np.fromfile(path, dtype=np.int32)
            mine = permutation(args.seed, BP_STREAM_SHUFFLE + epoch, args.train_size)
            same = bool(np.array_equal(theirs, mine))
            ok &= same
            emit({"check": "permutation", "seed": args.seed, "epoch": epoch,
                  "n": args.train_size, "identical": same})
    return ok


def biopp_epoch(args, rule, workdir):
    """One epoch of `biopp train`; returns (final.json, metrics of epoch 1, seconds)."""
    out = os.path.join(workdir, "parity-%s-%s" % (rule, args.hidden))
    cmd = [args.biopp, "train", "--config", args.config, "--out", out,
           "--set", "rule=" + rule, "--set", "hidden=" + args.hidden,
           "--set", "epochs=1", "--set", "train_size=%d" % args.train_size,
           "--set", "lr=%g" % args.lr, "--set", "batch=%d" % args.batch,
           "--set", "seed=%d" % args.seed, "--set", "threads=%d" % args.threads,
           "--set", "optimizer=adam", "--set", "grad_reduce=mean",
           "--set", "activation=tanh", "--set", "output=sigmoid_bce",
           "--set", "init=uniform", "--set", "checkpoint_every=0", "--set", "device=cpu"]
    if args.data_dir:
        cmd += ["--set", "data_dir=" + args.data_dir]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    with open(os.path.join(out, "final.json")) as f:
        final = json.load(f)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        metrics = json.loads(f.readline())
    return final, metrics, secs, " ".join(cmd)


def mode_parity(args, rules):
    torch.set_num_threads(args.intra_op_threads)
    ok = mode_check_rng(args, rules)
    xs, ys = load_mnist(args, "train")
    xt, yt = load_mnist(args, "test")
    xs, ys = xs[:args.train_size], ys[:args.train_size]
    n = [xs.shape[1]] + parse_hidden(args.hidden) + [10]
    steps = len(xs) // args.batch
    order = sample_orders(args.seed, len(xs), args.batch, steps)
    X = torch.from_numpy(np.ascontiguousarray(xs))
    Y = torch.from_numpy(ys.astype(np.int64))
    idx = torch.from_numpy(order)
    workdir = args.workdir or tempfile.mkdtemp(prefix="biopp-parity-")
    for rule in rules:
        t0 = time.perf_counter()
        model = Model(rule, n, [args.seed], torch.device("cpu"), args.lr)
        loss_sum, err_sum, fb_sum = 0.0, 0.0, 0.0
        with torch.no_grad():
            for s in range(steps):
                x, lab = X[idx[s]].float().mul_(1.0 / 255.0), Y[idx[s]]
                loss, errors, fb = model.step(x, lab)
                loss_sum += float(loss)
                err_sum += float(errors)
                fb_sum += float(fb) if fb is not None else 0.0
            test_err = model.test_error(xt, yt, torch.device("cpu"))
        torch_s = time.perf_counter() - t0
        samples = steps * args.batch
        final, m1, biopp_s, cmd = biopp_epoch(args, rule, workdir)
        diff_pp = 100.0 * (test_err - final["test_error"])
        loss_t = loss_sum / samples
        loss_rel = abs(loss_t - m1["train_loss"]) / max(abs(m1["train_loss"]), 1e-30)
        fb_t = fb_sum / samples
        fb_rel = (abs(fb_t - m1["feedback_loss"]) / max(abs(m1["feedback_loss"]), 1e-30)
                  if rule in ("bfa", "bdfa") else 0.0)
        passed = (abs(diff_pp) <= args.tolerance_pp and loss_rel <= args.loss_rtol
                  and fb_rel <= args.loss_rtol)
        ok &= passed
        emit({"check": "parity", "rule": rule, "hidden": args.hidden, "seed": args.seed,
              "train_size": len(xs), "steps": steps, "lr": args.lr,
              "test_error_torch": test_err, "test_error_biopp": final["test_error"],
              "diff_pp": diff_pp, "tolerance_pp": args.tolerance_pp,
              "train_loss_torch": loss_t, "train_loss_biopp": m1["train_loss"],
              "train_loss_rel_diff": loss_rel,
              "train_error_torch": err_sum / samples, "train_error_biopp": m1["train_error"],
              "feedback_loss_torch": fb_t, "feedback_loss_biopp": m1["feedback_loss"],
              "feedback_loss_rel_diff": fb_rel, "loss_rtol": args.loss_rtol,
              "seconds_torch": torch_s, "seconds_biopp": biopp_s, "biopp_command": cmd,
              "pass": passed})
    return ok


def main(args):
    if args.mode == "throughput":
        args.rule = args.rule or "bp"
        if args.rule not in RULES:
            sys.exit("torch_ref: unknown rule %r" % args.rule)
        return mode_throughput(args)
    rules = RULES if args.rule in (None, "all") else tuple(args.rule.split(","))
    for r in rules:
        if r not in RULES:
            sys.exit("torch_ref: unknown rule %r" % r)
    if args.mode == "check-rng":
        return 0 if mode_check_rng(args, rules) else 1
    return 0 if mode_parity(args, rules) else 1


if __name__ == "__main__":
    sys.exit(main(ARGS))
