#!/bin/sh
# bench/run.sh: what `make bench` runs (bench/README.md explains the numbers).
#
# For each rule (bp fa dfa bfa bdfa) and width (1x800, 3x800), MNIST shapes,
# batch 128: biopp on the CPU with 1 thread and with all cores, PyTorch
# (bench/torch_ref.py) the same; with a GPU also biopp and PyTorch on CUDA,
# one run and a group of BENCH_GROUP seeds. Each measurement is its own
# process (peak RSS per configuration). Then the parity check (one epoch of
# each rule, biopp vs PyTorch from the same weights and sample order), then
# bench/report.py writes bench/results/<host>-<date>.json, prints the tables
# and rewrites the generated sections of docs/PERFORMANCE.md.
#
# Environment (defaults in brackets):
#   BIOPP_PYTHON        Python with torch and numpy        [/usr/bin/python3]
#   BIOPP_DATA_DIR      data directory holding mnist/      [../shared/data if present, else data]
#   BENCH_RULES         rules                              [bp fa dfa bfa bdfa]
#   BENCH_HIDDEN        widths                             [1x800 3x800]
#   BENCH_WARMUP / BENCH_STEPS / BENCH_REPS   warm-up steps, steps per timed
#                       repetition, repetitions per process [2 / 6 / 4]
#   BENCH_ROUNDS        processes per configuration and engine, alternating
#                       biopp and PyTorch (their repetitions are pooled) [3]
#   BENCH_GROUP         runs in the CUDA group rows        [5]
#   BENCH_PARITY        0 skips the parity check           [1]
#   BENCH_PARITY_HIDDEN widths of the parity check         [1x800 3x800]
#   BENCH_CPU           0 skips the CPU rows (a GPU-only run) [1]
#   BENCH_GPU           0 skips CUDA rows, 1 forces trying them [auto: nvidia-smi -L]
#   BENCH_DOC           the page to update                 [docs/PERFORMANCE.md]
#   BUILD               build directory                    [build]
#   BENCH_BIN           the benchmark binary               [$BUILD/bench_biopp]
#   BIOPP_BIN           the biopp binary                   [$BUILD/biopp]
set -eu

cd "$(dirname "$0")/.."
start=$(date +%s)

PY=${BIOPP_PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
BENCH_BIN=${BENCH_BIN:-$BUILD/bench_biopp}
BIOPP_BIN=${BIOPP_BIN:-$BUILD/biopp}
RULES=${BENCH_RULES:-bp fa dfa bfa bdfa}
HIDDEN=${BENCH_HIDDEN:-1x800 3x800}
WARMUP=${BENCH_WARMUP:-2}
STEPS=${BENCH_STEPS:-6}
REPS=${BENCH_REPS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
GROUP=${BENCH_GROUP:-5}
PARITY=${BENCH_PARITY:-1}
PARITY_HIDDEN=${BENCH_PARITY_HIDDEN:-1x800 3x800}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
if [ -z "${BIOPP_DATA_DIR:-}" ]; then
    if [ -d ../shared/data/mnist ]; then BIOPP_DATA_DIR=../shared/data; else BIOPP_DATA_DIR=data; fi
fi
export BIOPP_DATA_DIR

say() { printf 'bench: %s\n' "$*" >&2; }

# --- the harness binary ------------------------------------------------------
# `make bench` builds $BUILD/biopp and $BUILD/bench_biopp (bench/bench.c
# linked with the library of the current build mode) before running this.
for bin in "$BIOPP_BIN" "$BENCH_BIN"; do
    if [ ! -x "$bin" ]; then
        say "no $bin: run \`make bench\` (it builds both binaries, then runs this script)"
        exit 1
    fi
done

# --- what this machine has -----------------------------------------------------
have_torch=0
if "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
    have_torch=1
else
    say "no torch/numpy for $PY (set BIOPP_PYTHON): PyTorch rows and parity are skipped"
fi
have_gpu=0
case ${BENCH_GPU:-auto} in
    1) have_gpu=1 ;;
    0) have_gpu=0 ;;
    *) if nvidia-smi -L >/dev/null 2>&1; then have_gpu=1; fi ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
raw=$tmp/raw.jsonl
parity=$tmp/parity.jsonl
: >"$raw"
: >"$parity"

timing="--warmup $WARMUP --steps $STEPS --reps $REPS"
i=0

# One measurement: engine, then the arguments (its output line goes to $raw).
measure() {
    engine=$1
    shift
    i=$((i + 1))
    say "[$i] $engine $*"
    if [ "$engine" = biopp ]; then
        # shellcheck disable=SC2086
        "$BENCH_BIN" "$@" $timing >"$tmp/out" 2>"$tmp/err" || true
    else
        # shellcheck disable=SC2086
        "$PY" bench/torch_ref.py throughput "$@" $timing >"$tmp/out" 2>"$tmp/err" || true
    fi
    if grep -q '^{' "$tmp/out"; then
        grep '^{' "$tmp/out" | tail -n 1 >>"$raw"
    else
        # shellcheck disable=SC1003
        msg=$(tr '\n' ' ' <"$tmp/err" | tr -d '"\\' | cut -c1-300)
        say "  failed: $msg"
        printf '{"engine":"%s","error":"%s","args":"%s"}\n' "$engine" "$msg" "$*" >>"$raw"
    fi
}

# Both engines on one configuration, alternating ROUNDS times, so that the
# load of a shared machine hits both alike.
pair() {
    round=1
    while [ $round -le "$ROUNDS" ]; do
        measure biopp "$@"
        if [ $have_torch = 1 ]; then measure torch "$@"; fi
        round=$((round + 1))
    done
}

# --- CPU rows ------------------------------------------------------------------
if [ "${BENCH_CPU:-1}" != 0 ]; then
    for hidden in $HIDDEN; do
        for rule in $RULES; do
            for threads in 1 0; do
                pair --rule "$rule" --hidden "$hidden" --threads "$threads" --device cpu
            done
        done
    done
fi

# --- CUDA rows ---------------------------------------------------------------
if [ $have_gpu = 1 ]; then
    for hidden in $HIDDEN; do
        for rule in $RULES; do
            for R in 1 "$GROUP"; do
                pair --rule "$rule" --hidden "$hidden" --R "$R" --device cuda
            done
        done
    done
fi

# --- parity ------------------------------------------------------------------
parity_ok=1
if [ "$PARITY" != 0 ] && [ $have_torch = 1 ]; then
    for hidden in $PARITY_HIDDEN; do
        say "parity $hidden: one epoch of each rule, biopp vs PyTorch"
        if ! "$PY" bench/torch_ref.py parity --hidden "$hidden" --biopp "$BIOPP_BIN" \
            --bench-biopp "$BENCH_BIN" --workdir "$tmp" >>"$parity" 2>"$tmp/err"; then
            parity_ok=0
            say "parity $hidden FAILED: $(tail -n 3 "$tmp/err")"
        fi
    done
fi

end=$(date +%s)
wall=$((end - start))
settings="per configuration and engine: $ROUNDS alternating processes x $REPS repetitions of $STEPS steps after at least $WARMUP warm-up steps; batch 128; MNIST"
"$PY" bench/report.py --raw "$raw" --parity "$parity" --doc "$DOC" --wall "$wall" \
    --command "make bench" --settings "$settings"
say "done in ${wall} s"
[ $parity_ok = 1 ]
