#!/bin/sh
# Every GPU check in one device call (600 s), planned to end within 8 min so
# that the 15 minutes of a lent H200 leave room for one rerun. Prepare on a
# machine without a GPU with scripts/gpu-prepare.sh (fills .deps/), then on
# the device: sh scripts/gpu-check.sh (carry .deps).
#
#   sh scripts/gpu-check.sh            run every step
#   sh scripts/gpu-check.sh --dry-run  the same steps on a machine without a
#                                      GPU: each GPU step runs as far as it
#                                      can and says what it lacked
#   sh scripts/gpu-check.sh --plan     print the plan and stop
#
# Steps (each under `timeout`; the seconds are its limit, 465 s in all):
#   machine     15  GPU, CUDA_HOME found from nvcc on PATH, cublas_v2.h and
#                   libcublas, compute-sanitizer, python/torch
#   build      150  make CUDA=1 build/biopp build/test_gpu build/bench_biopp
#   test_gpu    75  every GPU test (kernels vs CPU, trainings, graphs)
#   sanitizer   75  compute-sanitizer memcheck (the op tests) and racecheck
#                   (the kernels with shared memory)
#   train       40  quick MNIST trainings: bp fp32, bp tf32, bfa fp32 on CUDA
#   throughput  50  3x800 bp: biopp solo and 5-seed group (fp32, tf32) beside
#                   a PyTorch ensemble of the same 5 nets (torch.func
#                   stack_module_state + vmap), bench/torch_vmap.py
#   bench       60  bench/run.sh GPU rows, bp and bfa at 3x800, one round
# Each step's result is in $OUT as soon as the step ends (a kill loses
# nothing finished): summary.txt (a line per step, then the summary),
# build.log, test_gpu.log, sanitizer.log, steps.log (trainings and raw
# throughput JSON), bench.log, PERFORMANCE.md, results.json (8 files).
#
# Libraries: the .debs that gpu-prepare.sh unpacked into .deps/root (the
# device has no dpkg); LD_LIBRARY_PATH is set for our binaries only (through
# wrappers in $OUT/../biopp-bin), never for python, nvcc or this shell.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-/tmp/biopp-gpu-out}
export OUT ROOT
S=$OUT/summary.txt

PLAN="machine:15 build:150 test_gpu:75 sanitizer:75 train:40 throughput:50 bench:60"

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }

# ---- one step (run as `sh gpu-check.sh --step NAME` under timeout) --------------

say() { echo "$*"; }
ourbin() { echo "$BIN/$1"; }

step_machine() {
    if nvidia-smi -L; then :; else echo "no GPU: nvidia-smi -L failed"; fi
    echo "nvcc: ${NVCC:-none}"
    [ -n "${NVCC:-}" ] && "$NVCC" --version | tail -n 1
    echo "CUDA_HOME: ${CUDA_HOME:-none}"
    for f in "$CUDA_HOME/include/cublas_v2.h" "$CUDA_HOME/include/cuda_runtime_api.h"; do
        [ -f "$f" ] && echo "found $f" || echo "MISSING $f"
    done
    lib=$(ls "$CUDA_HOME"/lib64/libcublas.so* 2>/dev/null | head -n 1)
    [ -n "$lib" ] && echo "found $lib" || echo "MISSING $CUDA_HOME/lib64/libcublas.so"
    echo "compute-sanitizer: ${SANITIZER:-none}"
    echo "libraries: ${DEPLIB:-system}"
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -n 1
    [ -n "${NVCC:-}" ] && [ -n "$lib" ]
}

step_build() {
    make CUDA=1 CUDA_HOME="$CUDA_HOME" NVCC="$NVCC" -j"$(nproc)" \
        build/biopp build/test_gpu build/bench_biopp >"$OUT/build.log" 2>&1
    rc=$?
    tail -n 3 "$OUT/build.log"
    # where our binaries find their libraries (the wrappers' path)
    LD_LIBRARY_PATH="$LDPATH" ldd build/test_gpu 2>&1 | grep -E 'openblas|criterion|cublas|cudart|not found'
    return $rc
}

step_test_gpu() {
    "$(ourbin test_gpu)" --verbose >"$OUT/test_gpu.log" 2>&1
    rc=$?
    grep -E '^\[(FAIL|----)\]' "$OUT/test_gpu.log" | head -n 20
    grep -E 'Synthesis|skipped' "$OUT/test_gpu.log" | tail -n 2
    return $rc
}

step_sanitizer() {
    if [ -z "${SANITIZER:-}" ]; then
        echo "no compute-sanitizer in $CUDA_HOME/bin or on PATH"
        return 3
    fi
    rc=0
    # memcheck: every op test; racecheck: the kernels that share memory.
    for run in "memcheck cuda/*" "racecheck cuda/output_error" "racecheck cuda/bdfa_align" \
               "racecheck cuda/recon_error"; do
        set -- $run
        echo "== compute-sanitizer --tool $1 test_gpu --filter '$2'" >>"$OUT/sanitizer.log"
        env LD_LIBRARY_PATH="$LDPATH" "$SANITIZER" --tool "$1" --target-processes all \
            --error-exitcode 9 "$ROOT/build/test_gpu" --filter "$2" --jobs 4 \
            >>"$OUT/sanitizer.log" 2>&1
        r=$?
        echo "$1 $2: exit $r ($(grep -E 'ERROR SUMMARY' "$OUT/sanitizer.log" | tail -n 1))"
        [ $r = 0 ] || rc=$r
    done
    return $rc
}

step_train() {
    rc=0
    for run in "bp fp32" "bp tf32" "bfa fp32"; do
        set -- $run
        o=$("$(ourbin biopp)" train --config "configs/quick/mnist_$1.ini" --set device=cuda \
            --set precision="$2" --out "$OUT/../biopp-train-$1-$2" 2>&1)
        r=$?
        echo "$o" >>"$OUT/steps.log"
        echo "$1 cuda $2 (exit $r): $(echo "$o" | grep -E 'epoch +[0-9]+/|error|no CUDA|failed' | tail -n 2 | tr '\n' '|')"
        [ $r = 0 ] && echo "$o" | grep -qE 'epoch +[0-9]+/' || rc=1
    done
    return $rc
}

median_of() { sed -n 's/.*"samples_per_s": *{[^}]*"median": *\([0-9.e+]*\).*/\1/p' | tail -n 1; }

step_throughput() {
    rc=0
    t="--warmup 20 --steps 50 --reps 5"
    for run in "1 fp32" "5 fp32" "5 tf32"; do
        set -- $run
        j=$("$(ourbin bench_biopp)" --rule bp --hidden 3x800 --R "$1" --device cuda \
            --precision "$2" $t 2>>"$OUT/steps.log" | tail -n 1)
        echo "$j" >>"$OUT/steps.log"
        eval "biopp_$1_$2=\$(echo \"\$j\" | median_of)"
    done
    for prec in fp32 tf32; do
        flag=; [ $prec = tf32 ] && flag=--tf32
        j=$("$PY" bench/torch_vmap.py --R 5 --hidden 3x800 --device cuda $flag $t \
            2>>"$OUT/steps.log" | tail -n 1)
        echo "$j" >>"$OUT/steps.log"
        eval "torch_5_$prec=\$(echo \"\$j\" | median_of)"
    done
    printf '%-28s %14s %22s\n' "3x800 bp, samples/s" "biopp" "torch.func vmap (5)"
    printf '%-28s %14s %22s\n' "solo (R=1) fp32" "${biopp_1_fp32:-failed}" "-"
    for prec in fp32 tf32; do
        eval "b=\${biopp_5_$prec:-failed}; p=\${torch_5_$prec:-failed}"
        printf '%-28s %14s %22s\n' "5-seed group $prec" "$b" "$p"
        case "$b$p" in *failed*) rc=1 ;; esac
    done
    [ -n "${biopp_1_fp32:-}" ] || rc=1
    return $rc
}

step_bench() {
    if ! nvidia-smi -L >/dev/null 2>&1; then
        echo "no GPU (nvidia-smi -L fails): bench/run.sh would have no rows to run"
        return 3
    fi
    # the report goes to $OUT's copy of the page, never to the checkout's
    cp docs/PERFORMANCE.md "$OUT/PERFORMANCE.md"
    BENCH_DOC="$OUT/PERFORMANCE.md" BUILD=$BIN BENCH_CPU=0 BENCH_PARITY=0 BENCH_RULES="bp bfa" BENCH_HIDDEN=3x800 \
        BENCH_ROUNDS=1 BENCH_STEPS=30 BENCH_REPS=3 BENCH_WARMUP=10 BIOPP_PYTHON="$PY" \
        sh bench/run.sh >"$OUT/bench.log" 2>&1
    rc=$?
    tail -n 15 "$OUT/bench.log"
    newest=$(ls -t bench/results/*.json 2>/dev/null | head -n 1)
    [ -n "$newest" ] && cp "$newest" "$OUT/results.json"
    return $rc
}

if [ "${1:-}" = --step ]; then
    "step_$2"
    exit $?
fi

# ---- the driver -----------------------------------------------------------------

DRY=0
case "${1:-}" in
    --dry-run) DRY=1 ;;
    --plan) DRY=plan ;;
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) echo "gpu-check: unknown option '$1'" >&2; usage >&2; exit 2 ;;
esac

total=0
echo "gpu-check plan (limits in seconds):"
for s in $PLAN; do
    printf '  %-11s %4s\n' "${s%%:*}" "${s#*:}"
    total=$((total + ${s#*:}))
done
echo "  total       $total (one device call allows 600)"
[ "$DRY" = plan ] && exit 0

mkdir -p "$OUT"
: >"$S"
: >"$OUT/steps.log"
: >"$OUT/sanitizer.log"
log() { echo "$*" | tee -a "$S"; }
log "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)$([ "$DRY" = 1 ] && echo ' (dry run: no GPU expected)')"

# CUDA from nvcc on PATH (then the usual place), CUDA_HOME from its location.
NVCC=$(command -v nvcc 2>/dev/null || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -n "$NVCC" ]; then
    NVCC=$(readlink -f "$NVCC")
    CUDA_HOME=$(dirname "$(dirname "$NVCC")")
else
    CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
fi
SANITIZER=$(ls "$CUDA_HOME/bin/compute-sanitizer" 2>/dev/null || command -v compute-sanitizer 2>/dev/null || true)
PY=${BIOPP_PYTHON:-python3}

# Our libraries: the unpacked .debs when prepared, else the system's.
DEPLIB= LDPATH=${LD_LIBRARY_PATH:-}
if [ -d .deps/root/usr/lib/x86_64-linux-gnu ]; then
    r=$ROOT/.deps/root
    DEPLIB="$r/usr/lib/x86_64-linux-gnu:$r/usr/lib/x86_64-linux-gnu/openblas-pthread:$r/lib/x86_64-linux-gnu"
    LDPATH=$DEPLIB${LDPATH:+:$LDPATH}
    # compile and link time only (gcc and ld read these; python and nvcc's runtime do not)
    export CPATH="$r/usr/include:$r/usr/include/x86_64-linux-gnu:$r/usr/include/x86_64-linux-gnu/openblas-pthread"
    export LIBRARY_PATH=$DEPLIB
fi
[ -d .deps/data/mnist ] && export BIOPP_DATA_DIR=$ROOT/.deps/data
BIN=$(dirname "$OUT")/biopp-bin
mkdir -p "$BIN"
for b in biopp test_gpu bench_biopp; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s/build/%s" "$@"\n' "$LDPATH" "$ROOT" "$b" >"$BIN/$b"
    chmod +x "$BIN/$b"
done
export NVCC CUDA_HOME SANITIZER PY DEPLIB LDPATH BIN

t0=$(date +%s)
for s in $PLAN; do
    name=${s%%:*} limit=${s#*:}
    ts=$(date +%s)
    timeout -k 5 "$limit" sh "$0" --step "$name" >"$OUT/.step" 2>&1
    rc=$?
    dt=$(($(date +%s) - ts))
    case $rc in
        0) st=ok ;;
        124 | 137) st="TIMEOUT after ${limit}s" ;;
        *) st="FAILED (exit $rc)" ;;
    esac
    if [ "$DRY" = 1 ] && [ $rc != 0 ]; then
        case $name in sanitizer | train | throughput | bench) st="needs a GPU: exit $rc, as expected in a dry run" ;; esac
    fi
    log "== $name: $st, ${dt}s"
    sed 's/^/   /' "$OUT/.step" | tee -a "$S"
done
rm -f "$OUT/.step"
log "== done in $(($(date +%s) - t0))s (plan: $total s); files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
