#!/bin/sh
# make check-valgrind: a short `biopp train` and a short `biopp sweep` under
# valgrind memcheck, on a tiny synthetic MNIST-shaped data set (so it needs
# no download). Fails on any memcheck error or definite leak.
# usage: scripts/valgrind-check.sh BIOPP_BINARY
set -eu
bin=$1
work=$(mktemp -d /tmp/biopp-valgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
data=$work/data/mnist
mkdir -p "$data"

# IDX files: big-endian header, then bytes; labels cycle through 0..9.
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
idx() { # prefix count
    { printf '\000\000\010\003'; be32 "$2"; be32 28; be32 28; head -c $(($2 * 784)) /dev/urandom; } \
        > "$data/$1-images-idx3-ubyte"
    { printf '\000\000\010\001'; be32 "$2"; i=0; while [ $i -lt "$2" ]; do printf "\\$(printf %03o $((i % 10)))"; i=$((i + 1)); done; } \
        > "$data/$1-labels-idx1-ubyte"
}
idx train 640
idx t10k 128

export BIOPP_DATA_DIR=$work/data OPENBLAS_NUM_THREADS=1
vg="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --track-origins=yes --quiet"
small="--set train_size=512 --set hidden=1x32 --set batch=64 --set eval_batch=128 --set threads=1"

echo "check-valgrind: biopp train (2 epochs, then --resume to 3)"
$vg "$bin" train --config configs/mnist.ini $small --set epochs=2 --out "$work/train" 2>"$work/train.log" \
    || { cat "$work/train.log"; exit 1; }
$vg "$bin" train --config configs/mnist.ini $small --set epochs=3 --out "$work/train" --resume \
    2>"$work/resume.log" || { cat "$work/resume.log"; exit 1; }
echo "check-valgrind: biopp sweep (2 rules x 2 seeds, 1 epoch)"
printf '[sweep]\nseeds = 2\n[rule]\nrule = bp, bfa\n[train]\nepochs = 1\n' > "$work/sweep.ini"
$vg "$bin" sweep --config "$work/sweep.ini" $small --out "$work/sweep" >"$work/sweep.out" 2>"$work/sweep.log" \
    || { cat "$work/sweep.log"; exit 1; }
grep -q "summary.md" "$work/sweep.log" || { cat "$work/sweep.log"; exit 1; }
echo "check-valgrind: no memcheck errors, no definite leaks"
