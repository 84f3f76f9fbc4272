#!/bin/bash
# make test-slurm: biopp against a real Slurm (docs/CLUSTER.md, "Testing").
#
# Installs Debian's slurm-wlm and munge when missing, starts munged,
# slurmctld and slurmd for a one-node cluster on localhost (every file under
# a temporary directory, ports of their own), submits a small sweep with
# `biopp slurm --submit` as 3 shards with a 2-minute time limit and the
# warning signal 100 s before it, so that the long shard is signalled
# (SIGUSR1), checkpoints mid-epoch, exits 75 and requeues itself; waits for
# the merge job, and compares the merged summary with the same sweep run
# locally. It stops exactly the daemons it started (by pid).
#
# Exit status: 0 passed, or skipped because Slurm cannot be installed
# (it says so); 1 failed, including daemons that do not start.
# Usage: scripts/test-slurm.sh BIOPP_BINARY   (run as root)
set -u
BIOPP=$(readlink -f "${1:-build/biopp}")
START=$(date +%s)
say() { echo "test-slurm: $*"; }
fail() { say "FAIL: $*"; exit 1; }

[ -x "$BIOPP" ] || fail "$BIOPP is not built"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        say "SKIP: Slurm is not installed and installing it needs root (apt-get install slurm-wlm munge)"
        exit 0
    fi
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >/tmp/test-slurm-apt.log 2>&1; then
        tail -5 /tmp/test-slurm-apt.log
        say "SKIP: Slurm cannot be installed here (apt-get failed; log /tmp/test-slurm-apt.log)"
        exit 0
    fi
fi
[ "$(id -u)" = 0 ] || fail "the one-node cluster runs its daemons as root (SlurmUser=root): run as root"

T=$(mktemp -d /tmp/biopp-slurm-XXXXXX)
PIDS=""
LOCAL=""
# slurmstepd processes of this cluster (their files lie under $T); slurmd
# starts them, one per running job, and they outlive it by a moment.
our_stepds() {
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
        ls -l "$d/fd" 2>/dev/null | grep -q -- "-> $T/" && echo "${d#/proc/}"
    done
}
cleanup() {
    if [ -n "${SLURM_CONF:-}" ] && [ -n "$PIDS" ]; then
        # Jobs still there (a failed run): cancel them, let their steps end.
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null
        for _ in $(seq 60); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && [ -z "$(our_stepds)" ] && break
            sleep 0.5
        done
    fi
    [ -n "${LOCAL:-}" ] && kill "$LOCAL" 2>/dev/null && wait "$LOCAL" 2>/dev/null
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    for p in $(our_stepds); do kill -9 "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
show_logs() {
    for f in "$T"/munged.log "$T"/slurmctld.log "$T"/slurmd.log; do
        [ -f "$f" ] && { echo "---- $f (last lines)"; tail -15 "$f"; }
    done
}

# ---- munge: a fresh key, its own socket ----
mkdir -p "$T/state" "$T/spool" "$T/munge"
chmod 711 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
SOCK="$T/munge/munge.socket"
munged -F --force --key-file="$T/munge/munge.key" --socket="$SOCK" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munged.log" --seed-file="$T/munge/seed" \
    >"$T/munged.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { show_logs; fail "munged did not start"; }

# ---- slurm.conf: one node, localhost ----
HOST=$(hostname -s)
PORT=$((20000 + $$ % 20000))
CPUS=$(nproc)
cat >"$T/slurm.conf" <<CONF
ClusterName=bioppci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK,cred_expire=10
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"

slurmctld -D -i -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
PIDS="$PIDS $!"
slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$T/slurmd.out" 2>&1 &
PIDS="$PIDS $!"
up=0
for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then up=1; break; fi
    sleep 0.5
done
[ $up = 1 ] || { sinfo 2>&1; show_logs; cat "$T"/slurm*.out; fail "slurmctld/slurmd did not start (no idle node after 30 s)"; }
say "Slurm $(sinfo -V | cut -d' ' -f2) up: node $HOST, $CPUS CPUs ($(($(date +%s) - START)) s)"

# ---- data: a small synthetic data set in MNIST's files (IDX), so that the
# test needs no download; every process reads the same bytes ----
D="$T/data/mnist"
mkdir -p "$D"
idx_images() { # file count
    { printf '\x00\x00\x08\x03'; be32 "$2"; be32 28; be32 28; head -c $(($2 * 784)) /dev/urandom; } >"$1"
}
idx_labels() {
    { printf '\x00\x00\x08\x01'; be32 "$2"; head -c $(($2 * 40)) /dev/urandom | tr -dc '\000-\011' | head -c "$2"; } >"$1"
}
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
idx_images "$D/train-images-idx3-ubyte" 12000
idx_labels "$D/train-labels-idx1-ubyte" 12000
idx_images "$D/t10k-images-idx3-ubyte" 2000
idx_labels "$D/t10k-labels-idx1-ubyte" 2000
export BIOPP_DATA_DIR="$T/data"

# ---- the sweep: three cells, one per shard. Slurm sends the warning at
# its first time-limit check after the task starts (it may send it up to
# 60 s early, and checks about every 30 s), so the 3x512 cell must train for
# longer than that: its epochs are chosen for about 45 s on this machine,
# from the time of one epoch. ----
cat >"$T/probe.ini" <<INI
[data]
dataset = mnist
train_size = 10000
[model]
hidden = ${BIG:-3x512}
[rule]
rule = bfa
[train]
batch = 50
epochs = 1
threads = 1
seed = 1,2
INI
p0=$(date +%s%N)
"$BIOPP" sweep --config "$T/probe.ini" --out "$T/probe" >"$T/probe.log" 2>&1 || { cat "$T/probe.log"; fail "the probe sweep failed"; }
probe_ms=$((($(date +%s%N) - p0) / 1000000))
EPOCHS=${EPOCHS:-$(( (45000 + probe_ms - 1) / probe_ms ))}
[ "$EPOCHS" -lt 3 ] && EPOCHS=3
[ "$EPOCHS" -gt 40 ] && EPOCHS=40
say "one epoch of the long cell: ${probe_ms} ms; it trains $EPOCHS epochs"
cat >"$T/sweep.ini" <<INI
[sweep]
seeds = 2
[data]
dataset = mnist
train_size = 10000
[model]
hidden = 1x16,1x32,${BIG:-3x512}
[rule]
rule = bfa
[optimizer]
lr = 1e-3
[train]
batch = 50
epochs = $EPOCHS
threads = 1
checkpoint_every = 100
INI


OUT="$T/cluster"
"$BIOPP" slurm --config "$T/sweep.ini" --out "$OUT" --shards 3 --time 2 --signal-before 100 \
    --cpus-per-task 1 --submit >"$T/submit.log" 2>&1 || { cat "$T/submit.log"; show_logs; fail "biopp slurm --submit failed"; }
cat "$T/submit.log"
ARRAY=$(sed -n 's/^array_job=\([0-9]*\) merge_job=\([0-9]*\)$/\1/p' "$T/submit.log")
MERGE=$(sed -n 's/^array_job=\([0-9]*\) merge_job=\([0-9]*\)$/\2/p' "$T/submit.log")
[ -n "$ARRAY" ] && [ -n "$MERGE" ] || fail "no job ids in the output of biopp slurm --submit"

# The same sweep locally, for the reference, meanwhile (it slows the tasks
# down, which only makes the long one surer to meet its warning).
"$BIOPP" sweep --config "$T/sweep.ini" --out "$T/local" >"$T/local.log" 2>&1 &
LOCAL=$!

# ---- wait for the merge job ----
state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
LIMIT=${WAIT_S:-420}
EXTENDED=""
while :; do
    m=$(state "$MERGE")
    case "$m" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    if [ $(($(date +%s) - START)) -gt "$LIMIT" ]; then
        squeue; scontrol show job "$ARRAY" | grep -E 'JobId|JobState|Restarts|Reason'
        for f in "$OUT"/logs/*; do echo "---- $f"; tail -20 "$f"; done
        show_logs; fail "the merge job did not end within $LIMIT s"
    fi
    # A task that requeued itself is given the time to finish when it runs
    # again (otherwise the next warning could come before it makes progress;
    # Slurm may send it up to 60 s early).
    for k in 0 1 2; do
        info=$(scontrol show job "${ARRAY}_$k" 2>/dev/null)
        case "$info" in *JobState=PENDING*Restarts=[1-9]* | *Restarts=[1-9]*JobState=PENDING*) ;; *) continue ;; esac
        case " $EXTENDED " in *" $k "*) continue ;; esac
        scontrol update JobId="${ARRAY}_$k" TimeLimit=10 && EXTENDED="$EXTENDED $k" &&
            say "task $k requeued itself; its next run may take 10 minutes"
    done
    if scontrol show job "$MERGE" 2>/dev/null | grep -q 'DependencyNeverSatisfied'; then
        for f in "$OUT"/logs/*; do echo "---- $f"; tail -20 "$f"; done
        fail "a task of the array failed: the merge job can never run"
    fi
    sleep 2
done
for f in "$OUT"/logs/*; do echo "---- $f"; cat "$f"; done
[ "$m" = COMPLETED ] || { show_logs; fail "merge job $MERGE ended $m"; }

wait $LOCAL || { LOCAL=""; tail "$T/local.log"; fail "the local sweep failed"; }
LOCAL=""

# ---- checks ----
ok=1
grep -q 'SIGUSR1 (time limit near)' "$OUT"/logs/"${ARRAY}"_*.out || { say "no task was signalled before its time limit"; ok=0; }
grep -q 'requeueing task' "$OUT"/logs/"${ARRAY}"_*.out || { say "no task requeued itself"; ok=0; }
grep -q 'stopped at step' "$OUT"/logs/"${ARRAY}"_*.out || { say "no task checkpointed mid-epoch"; ok=0; }
restarts=$(grep -h 'restart [1-9]' "$OUT"/logs/"${ARRAY}"_*.out | head -1)
[ -n "$restarts" ] || { say "no task ran again after its requeue"; ok=0; }
for f in summary.csv summary.json summary.md; do
    cmp -s "$T/local/$f" "$OUT/$f" || { say "$f: the cluster's differs from the local sweep's"; diff "$T/local/$f" "$OUT/$f" | head; ok=0; }
done
[ $ok = 1 ] || fail "see above"
say "PASS: 3 shards through Slurm, a task signalled at its time limit, checkpointed, requeued and resumed; merged summary = local ($(($(date +%s) - START)) s)"
