#!/usr/bin/python3
"""Turns the raw results of bench/run.sh into bench/results/<host>-<date>.json,
a Markdown table on stdout and the generated sections of docs/PERFORMANCE.md.

Standard library only, so it runs where torch is missing. Input: JSON lines
from bench_biopp and torch_ref.py (throughput) and torch_ref.py parity.
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys

RULES = ("bp", "fa", "dfa", "bfa", "bdfa")
TARGET_RATIO = 1.5       # biopp / torch samples/s, every rule at 3x800 (CPU)
TARGET_EFFICIENCY = 0.6  # step FLOP/s / GEMM rate of the step's shapes


def read_jsonl(path):
    out = []
    if not path or not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(runs):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    info = {
        "hostname": socket.gethostname(),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory": mem,
        "kernel": platform.release(),
        "gpus": [l for l in sh(["nvidia-smi", "-L"]).splitlines() if l.strip()],
        "git_commit": sh(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(sh(["git", "status", "--porcelain", "--untracked-files=no"])),
    }
    for r in runs:
        if r.get("engine") == "biopp" and r.get("openblas_config"):
            info["openblas_config"] = r["openblas_config"]
            info["openblas_core"] = r.get("openblas_core")
            break
    for r in runs:
        if r.get("engine") == "torch" and r.get("torch"):
            info["torch"] = r["torch"]
            break
    for dev in ("cpu", "cuda"):
        peaks = [r["sgemm_peak_gflops"] for r in runs
                 if r.get("engine") == "biopp" and r.get("device") == dev
                 and r.get("sgemm_peak_gflops") and r.get("threads") in (0, None)]
        peaks1 = [r["sgemm_peak_gflops"] for r in runs
                  if r.get("engine") == "biopp" and r.get("device") == dev
                  and r.get("sgemm_peak_gflops") and r.get("threads") == 1]
        if peaks:
            info["sgemm_peak_gflops_%s_all_cores" % dev if dev == "cpu" else
                 "sgemm_peak_gflops_cuda"] = statistics.median(peaks)
        if peaks1 and dev == "cpu":
            info["sgemm_peak_gflops_cpu_1_thread"] = statistics.median(peaks1)
    return info


def threads_label(r):
    if r.get("device") == "cuda":
        return "-"
    return "1" if r.get("threads") == 1 else "all"


def key(r):
    return (r.get("device", "cpu"), r.get("hidden"), r.get("rule"), threads_label(r),
            int(r.get("R", 1)))


def _stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "all": values}


def merge(entries):
    """Pools the repetitions of several processes (rounds) of one engine and
    configuration. Rates of the step are recomputed from the pooled median
    step time; the GEMM-only rate is the median of the rounds'; the profile
    is that of the round whose median is closest to the pooled one."""
    ok = [e for e in entries if "samples_per_s" in e]
    if not ok:
        return entries[-1]
    sps = [v for e in ok for v in e["samples_per_s"]["all"]]
    pooled = _stats(sps)
    rep = min(ok, key=lambda e: abs(e["samples_per_s"]["median"] - pooled["median"]))
    m = dict(rep)
    m["rounds"] = len(ok)
    m["samples_per_s"] = pooled
    m["finite"] = all(e.get("finite", True) for e in ok)
    m["peak_rss_mb"] = max(e.get("peak_rss_mb", 0) for e in ok)
    if any("device_mem_mb" in e for e in ok):
        m["device_mem_mb"] = max(e.get("device_mem_mb", 0) for e in ok)
    if all("step_ms" in e and "all" in e["step_ms"] for e in ok):
        m["step_ms"] = _stats([v for e in ok for v in e["step_ms"]["all"]])
    if all("gemm_rate_gflops" in e for e in ok):
        m["gemm_rate_gflops"] = statistics.median(e["gemm_rate_gflops"] for e in ok)
        m["step_gflops"] = m["gflop_per_step"] / (m["step_ms"]["median"] * 1e-3)
        m["efficiency"] = m["step_gflops"] / m["gemm_rate_gflops"]
        m["gemm_only_step_ms"] = _stats([v for e in ok for v in e["gemm_only_step_ms"]["all"]])
    if all("sgemm_peak_gflops" in e for e in ok):
        m["sgemm_peak_gflops"] = statistics.median(e["sgemm_peak_gflops"] for e in ok)
        m["efficiency_vs_sgemm_peak"] = m["step_gflops"] / m["sgemm_peak_gflops"]
    loads = [e["loadavg_1m"] for e in ok if e.get("loadavg_1m") is not None]
    if loads:
        m["loadavg_1m"] = max(loads)
    return m


def build_rows(runs):
    groups = {}
    for r in runs:
        groups.setdefault((key(r), r.get("engine", "?")), []).append(r)
    rows = {}
    for (k, engine), entries in groups.items():
        row = rows.setdefault(k, {"device": k[0], "hidden": k[1], "rule": k[2],
                                  "threads": k[3], "R": k[4]})
        row[engine] = merge(entries)
    order = {"cpu": 0, "cuda": 1}
    out = []
    for k in sorted(rows, key=lambda k: (order.get(k[0], 9), k[1], RULES.index(k[2])
                                          if k[2] in RULES else 9, k[3] != "1", k[4])):
        row = rows[k]
        b, t = row.get("biopp"), row.get("torch")
        if b and t and "samples_per_s" in b and "samples_per_s" in t:
            row["ratio"] = b["samples_per_s"]["median"] / t["samples_per_s"]["median"]
            row["ratio_best"] = b["samples_per_s"]["max"] / t["samples_per_s"]["max"]
        out.append(row)
    return out


def fmt_sps(r):
    if not r:
        return "—"
    if "samples_per_s" not in r:
        return "skipped" if "skipped" in r else "error"
    s = r["samples_per_s"]
    return "%s (%s–%s)" % (fmt_k(s["median"]), fmt_k(s["min"]), fmt_k(s["max"]))


def fmt_k(v):
    return "%.0f" % v if v < 100000 else "%.3gk" % (v / 1000)


def fmt(v, f="%.2f"):
    return "—" if v is None else f % v


def markdown_table(rows, device):
    lines = [
        "| rule | hidden | threads | R | biopp samples/s median (min–max) "
        "| PyTorch samples/s median (min–max) | biopp/PyTorch median (best) "
        "| GEMM rate GFLOP/s | step GFLOP/s | efficiency | %s |" % (
            "peak RSS MB biopp / PyTorch" if device == "cpu"
            else "RSS MB biopp / PyTorch; device MB biopp / PyTorch"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["device"] != device:
            continue
        b, t = row.get("biopp") or {}, row.get("torch") or {}
        lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s / %s |" % (
            row["rule"], row["hidden"], row["threads"], row["R"], fmt_sps(b), fmt_sps(t),
            "%s (%s)" % (fmt(row.get("ratio"), "**%.2f**"), fmt(row.get("ratio_best"), "%.2f")),
            fmt(b.get("gemm_rate_gflops"), "%.1f"),
            fmt(b.get("step_gflops"), "%.1f"), fmt(100 * b["efficiency"] if "efficiency" in b else None, "%.0f%%"),
            fmt(b.get("peak_rss_mb"), "%.0f"),
            fmt(t.get("peak_rss_mb"), "%.0f") + ("" if device == "cpu" else "; %s / %s" % (
                fmt(b.get("device_mem_mb"), "%.0f"), fmt(t.get("device_mem_mb"), "%.0f")))))
    return "\n".join(lines)


def targets(rows):
    """The two CPU targets at 3x800, per row, with the ratio biopp could reach
    if everything but its GEMMs took no time (PyTorch's step time over
    biopp's in-step GEMM time): both engines call the same sgemm here."""
    out = []
    for row in rows:
        if row["device"] != "cpu" or row["hidden"] != "3x800":
            continue
        b, t = row.get("biopp") or {}, row.get("torch") or {}
        bound = None
        gemm_ms = b.get("profile", {}).get("ops", {}).get("gemm", {}).get("ms")
        if gemm_ms and "step_ms" in t:
            bound = t["step_ms"]["median"] / gemm_ms
        out.append({"rule": row["rule"], "threads": row["threads"],
                    "ratio": row.get("ratio"),
                    "ratio_met": row.get("ratio") is not None and row["ratio"] >= TARGET_RATIO,
                    "ratio_bound_gemm_only": bound,
                    "efficiency": b.get("efficiency"),
                    "efficiency_met": (b.get("efficiency") or 0) >= TARGET_EFFICIENCY})
    return out


def targets_md(tg):
    if not tg:
        return ""
    nr = sum(t["ratio_met"] for t in tg)
    ne = sum(t["efficiency_met"] for t in tg)
    lines = ["Targets at 3x800 (CPU): biopp/PyTorch >= %.1f in %d of %d rows; step efficiency "
             ">= %.0f%% of the GEMM rate in %d of %d rows. \"bound\" is the ratio biopp "
             "would reach if all its non-GEMM time were zero (PyTorch step time / biopp's "
             "in-step GEMM time; both call the same OpenBLAS sgemm)." % (
                 TARGET_RATIO, nr, len(tg), 100 * TARGET_EFFICIENCY, ne, len(tg)),
             "",
             "| rule | threads | biopp/PyTorch | bound | efficiency |",
             "|---|---|---|---|---|"]
    for t in tg:
        lines.append("| %s | %s | %s%s | %s | %s%s |" % (
            t["rule"], t["threads"], fmt(t["ratio"]), "" if t["ratio_met"] else " (missed)",
            fmt(t["ratio_bound_gemm_only"]),
            fmt(100 * t["efficiency"] if t["efficiency"] is not None else None, "%.0f%%"),
            "" if t["efficiency_met"] else " (missed)"))
    return "\n".join(lines)


def profile_md(rows):
    """Where the time of one step goes, BP and BFA at 3x800 (CPU)."""
    lines = ["| rule | threads | step ms | GEMM ms (share) | GEMM-only replay ms | adam ms "
             "| bias_act ms | act_grad_mul ms | other ops ms | loop overhead ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    n = 0
    for row in rows:
        b = row.get("biopp") or {}
        if (row["device"] != "cpu" or row["hidden"] != "3x800" or row["rule"] not in ("bp", "bfa")
                or "profile" not in b):
            continue
        p = b["profile"]
        ops = p["ops"]
        g = ops.get("gemm", {}).get("ms", 0.0)
        named = ("gemm", "adam_step", "bias_act", "act_grad_mul")
        rest = sum(v["ms"] for k, v in ops.items() if k not in named)
        lines.append("| %s | %s | %.2f | %.2f (%.0f%%) | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f |" % (
            row["rule"], row["threads"], p["step_ms"], g, 100 * g / p["step_ms"],
            b["gemm_only_step_ms"]["median"], ops.get("adam_step", {}).get("ms", 0.0),
            ops.get("bias_act", {}).get("ms", 0.0), ops.get("act_grad_mul", {}).get("ms", 0.0),
            rest, p["other_ms"]))
        n += 1
    return "\n".join(lines) if n else ""


def gemm_shapes_md(rows, rule="bp", threads="1"):
    for row in rows:
        b = row.get("biopp") or {}
        if (row["device"] == "cpu" and row["hidden"] == "3x800" and row["rule"] == rule
                and row["threads"] == threads and "profile" in b):
            lines = ["| # | op | m | n | k | MFLOP | ms in step | GFLOP/s |",
                     "|---|---|---|---|---|---|---|---|"]
            for i, g in enumerate(b["profile"]["gemms"]):
                lines.append("| %d | %s | %d | %d | %d | %.1f | %.3f | %.1f |" % (
                    i + 1, g["op"], g["m"], g["n"], g["k"], g["mflop"], g["ms"], g["gflops"]))
            return "\n".join(lines)
    return ""


def parity_md(parity):
    checks = [p for p in parity if p.get("check") in ("init", "permutation")]
    runs = [p for p in parity if p.get("check") == "parity"]
    if not checks and not runs:
        return "Not run (BENCH_PARITY=0)."
    lines = []
    if checks:
        same = all(c.get("identical") for c in checks)
        lines.append("Philox check (torch_ref.py's numpy Philox against `bench_biopp --dump-init` "
                     "/ `--dump-perm`): %s (%d checks: initial parameters of every rule, sample "
                     "orders of epochs 0 and 1)." % ("**bit-identical**" if same else
                                                      "**MISMATCH**", len(checks)))
        lines.append("")
    if runs:
        lines += ["| rule | hidden | test error biopp | test error PyTorch | diff (pp) | "
                  "train loss rel. diff | feedback loss rel. diff | pass |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in runs:
            lines.append("| %s | %s | %.2f%% | %.2f%% | %+.2f | %.1e | %s | %s |" % (
                p["rule"], p["hidden"], 100 * p["test_error_biopp"], 100 * p["test_error_torch"],
                p["diff_pp"], p["train_loss_rel_diff"],
                "%.1e" % p["feedback_loss_rel_diff"] if p["rule"] in ("bfa", "bdfa") else "—",
                "yes" if p["pass"] else "**NO**"))
        lines.append("")
        p0 = runs[0]
        lines.append("Tolerances: |test error diff| <= %.2f percentage points and relative "
                     "difference of the epoch's mean training (and feedback) loss <= %.0e. "
                     "One epoch, train_size %d (%d steps), seed %d, Adam lr %g, batch 128." % (
                         p0["tolerance_pp"], p0["loss_rtol"], p0["train_size"], p0["steps"],
                         p0["seed"], p0["lr"]))
    return "\n".join(lines)


SKELETON = """# Performance

Measured by `make bench` (bench/run.sh; bench/README.md explains what is
measured and how to read the tables). The sections between `BENCH:` markers
are rewritten by each run on a machine of that kind; the text outside them is
written by hand.

## CPU

<!-- BENCH:CPU:BEGIN -->
<!-- BENCH:CPU:END -->

## GPU

<!-- BENCH:GPU:BEGIN -->
Not measured yet: run `make bench` on a machine with an NVIDIA GPU.
<!-- BENCH:GPU:END -->

## Parity with the PyTorch reference

<!-- BENCH:PARITY:BEGIN -->
<!-- BENCH:PARITY:END -->

## Profile of one training step

<!-- BENCH:PROFILE:BEGIN -->
<!-- BENCH:PROFILE:END -->
"""


def replace_section(doc, name, body):
    begin, end = "<!-- BENCH:%s:BEGIN -->" % name, "<!-- BENCH:%s:END -->" % name
    if begin not in doc or end not in doc:
        doc = doc.rstrip("\n") + "\n\n" + begin + "\n" + end + "\n"
    i, j = doc.index(begin) + len(begin), doc.index(end)
    return doc[:i] + "\n" + body.strip("\n") + "\n" + doc[j:]


def header_md(info, settings, command, when, device, runs):
    m = [
        "Machine: %s, %s cores (%s usable), %s%s." % (
            info.get("cpu_model") or "unknown CPU", info.get("cores"), info.get("cores_usable"),
            info.get("memory"), "" if device == "cpu" else "; " + "; ".join(info.get("gpus", []))),
        "OpenBLAS: %s (core %s). PyTorch %s (same OpenBLAS via libblas.so.3)." % (
            info.get("openblas_config", "?"), info.get("openblas_core", "?"),
            info.get("torch", "not available")),
        "Date: %s; git %s%s." % (when, info.get("git_commit") or "?",
                                 " (with uncommitted changes)" if info.get("git_dirty") else ""),
        "Command: `%s` (%s)." % (command, settings),
    ]
    loads = [r["loadavg_1m"] for r in runs if r.get("device", "cpu") == device
             and r.get("loadavg_1m") is not None]
    if loads:
        m.append("1-minute load average at the end of each measurement: %.2f–%.2f (%d cores; "
                 "above ~1 other processes shared the cores with the benchmark)." % (
                     min(loads), max(loads), info.get("cores") or 0))
    if device == "cpu" and info.get("sgemm_peak_gflops_cpu_1_thread"):
        m.append("Square SGEMM (1024³) on this machine: %.0f GFLOP/s on 1 thread, %.0f on "
                 "all cores." % (info["sgemm_peak_gflops_cpu_1_thread"],
                                 info.get("sgemm_peak_gflops_cpu_all_cores", float("nan"))))
    return "\n".join(m)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--parity", default=None)
    ap.add_argument("--results-dir", default="bench/results")
    ap.add_argument("--doc", default="docs/PERFORMANCE.md")
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--settings", default="")
    ap.add_argument("--wall", type=float, default=None)
    a = ap.parse_args()

    runs = read_jsonl(a.raw)
    parity = read_jsonl(a.parity)
    info = machine_info(runs)
    now = datetime.datetime.now(datetime.timezone.utc)
    when = now.strftime("%Y-%m-%d %H:%M UTC")
    rows = build_rows(runs)
    tg = targets(rows)

    os.makedirs(a.results_dir, exist_ok=True)
    path = os.path.join(a.results_dir, "%s-%s.json" % (
        re.sub(r"[^A-Za-z0-9._-]", "_", info["hostname"]), now.strftime("%Y%m%dT%H%M%SZ")))
    result = {"machine": info, "date": now.isoformat(), "command": a.command,
              "settings": a.settings, "wall_s": a.wall, "rows": [
                  {k: v for k, v in r.items() if k not in ("biopp", "torch")} for r in rows],
              "targets": tg, "runs": runs, "parity": parity}
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    # A device whose rows were all skipped (no GPU, CUDA=0 build) is left alone.
    devices = [d for d in ("cpu", "cuda")
               if any(r["device"] == d and "samples_per_s" in (r.get("biopp") or {})
                      for r in rows)]
    skipped = [r for r in rows if r["device"] not in devices]
    out = []
    for d in devices:
        out.append("### %s\n\n%s\n" % ("CPU" if d == "cpu" else "GPU", markdown_table(rows, d)))
    if tg:
        out.append(targets_md(tg) + "\n")
    prof = profile_md(rows)
    if prof:
        out.append("### Profile (BP, BFA at 3x800)\n\n" + prof + "\n")
    out.append("### Parity\n\n" + parity_md(parity) + "\n")
    if skipped:
        out.append("Skipped (no device): %d %s rows, e.g. %s" % (
            len(skipped), skipped[0]["device"],
            ((skipped[0].get("biopp") or {}).get("skipped") or "")[:200]))
    print("\n".join(out))
    print("raw results: %s" % path)

    doc = open(a.doc).read() if os.path.exists(a.doc) else SKELETON
    rel = os.path.relpath(path)
    for d in devices:
        body = "\n\n".join(x for x in [
            header_md(info, a.settings, a.command, when, d, runs),
            markdown_table(rows, d),
            targets_md(tg) if d == "cpu" else "",
            "Raw numbers: `%s`.%s" % (rel, " Whole `make bench` wall time: %.0f s." % a.wall
                                      if a.wall else "")] if x)
        doc = replace_section(doc, "CPU" if d == "cpu" else "GPU", body)
    if parity:
        doc = replace_section(doc, "PARITY", parity_md(parity))
    if prof:
        body = ("Measured by bench_biopp's op-timing shim in the same runs as the CPU table "
                "(%s): every backend op of the timed steps is timed; \"loop overhead\" is the "
                "step time not spent in any op. Milliseconds per step (mean over the timed "
                "steps).\n\n%s\n\nThe GEMMs of one BP step at 3x800, 1 thread:\n\n%s" % (
                    when, prof, gemm_shapes_md(rows)))
        doc = replace_section(doc, "PROFILE", body)
    os.makedirs(os.path.dirname(a.doc) or ".", exist_ok=True)
    with open(a.doc, "w") as f:
        f.write(doc)
    print("updated %s" % a.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
