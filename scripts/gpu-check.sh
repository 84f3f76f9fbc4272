#!/bin/sh
# Every GPU check in one run, for the device tool's GPU machine (see
# scripts/gpu-prepare.sh, which must have filled .deps/ here first):
#   1. builds biopp with CUDA against the carried libraries,
#   2. make test-gpu: each CUDA kernel against the CPU backend, each rule's
#      training on CUDA against the CPU engine, CUDA graphs against direct
#      launches,
#   3. quick MNIST trainings: CPU fp32, CUDA fp32, CUDA tf32 (test errors),
#   4. throughput: a solo run and a 5-seed group of BP and BFA at 3x800,
#   5. the GPU rows of the benchmark (bench/run.sh with BENCH_CPU=0).
# Results go to $OUT (the device tool brings back at most 8 files):
#   summary.txt, build.log, test_gpu.log, bench.log, PERFORMANCE.md, results.json
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/biopp-gpu-out}
mkdir -p "$OUT"
S=$OUT/summary.txt
: >"$S"
log() { echo "$*" | tee -a "$S"; }

root=/tmp/biopp-deps
mkdir -p "$root"
for f in .deps/debs/*.deb; do dpkg -x "$f" "$root"; done
lib=$root/usr/lib/x86_64-linux-gnu
export CPATH="$root/usr/include:$root/usr/include/x86_64-linux-gnu:$root/usr/include/x86_64-linux-gnu/openblas-pthread"
export LIBRARY_PATH="$lib:$lib/openblas-pthread"
export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread:${LD_LIBRARY_PATH:-}"
export BIOPP_DATA_DIR=$PWD/.deps/data
export BIOPP_PYTHON=${BIOPP_PYTHON:-python3}

log "== machine"
nvidia-smi -L 2>&1 | tee -a "$S"
nvcc --version 2>&1 | tail -1 | tee -a "$S"

log "== 1. build (CUDA=1)"
if ! make CUDA=1 -j"$(nproc)" build/biopp build/test_gpu build/bench_biopp >"$OUT/build.log" 2>&1; then
    log "build FAILED: last lines of build.log:"
    tail -n 30 "$OUT/build.log" | tee -a "$S"
    exit 1
fi
log "build ok"

log "== 2. make test-gpu"
BIOPP_BIN=build/biopp build/test_gpu --verbose >"$OUT/test_gpu.log" 2>&1
log "test_gpu exit $?: $(grep -E 'Synthesis|skipped' "$OUT/test_gpu.log" | tail -n 2 | tr '\n' ' ')"
grep -E '^\[(FAIL|----)\]' "$OUT/test_gpu.log" | head -n 40 >>"$S"

log "== 3. quick trainings (configs/quick/mnist_bp.ini and _bfa.ini, 3 epochs)"
for rule in bp bfa; do
    for run in "cpu fp32" "cuda fp32" "cuda tf32"; do
        set -- $run
        line=$(build/biopp train --config "configs/quick/mnist_$rule.ini" --set device="$1" \
            --set precision="$2" 2>&1 | grep -E 'epoch +[0-9]+/|error|biopp train:' | tr '\n' '|')
        log "$rule $1 $2: $line"
    done
done

log "== 4. throughput at 3x800 (samples/s; solo vs 5-seed group)"
for rule in bp bfa; do
    for R in 1 5; do
        for prec in fp32 tf32; do
            res=$(build/bench_biopp --rule "$rule" --hidden 3x800 --R "$R" --device cuda \
                --precision "$prec" --warmup 20 --steps 50 --reps 5 2>&1 | tail -n 1)
            log "$rule R=$R $prec: $res"
        done
    done
done

log "== 5. benchmark GPU rows"
BENCH_CPU=0 BENCH_PARITY=0 BENCH_STEPS=30 BENCH_REPS=3 BENCH_ROUNDS=2 BENCH_WARMUP=10 \
    sh bench/run.sh >"$OUT/bench.log" 2>&1
log "bench exit $?"
cp docs/PERFORMANCE.md "$OUT/PERFORMANCE.md"
newest=$(ls -t bench/results/*.json 2>/dev/null | head -n 1)
[ -n "$newest" ] && cp "$newest" "$OUT/results.json"
log "== done"
