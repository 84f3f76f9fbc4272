#!/bin/sh
# Installs the Debian 12 packages biopp needs to build and test (run as root).
# `make deps` calls this; `BIOPP_BENCH=1` adds what `make bench` needs.
set -eu
pkgs="gcc g++ make pkg-config libopenblas-dev libcriterion-dev libinih-dev libcjson-dev zlib1g-dev libpng-dev gnuplot-nox ca-certificates curl"
# make check: fuzzing (clang, libFuzzer) and make check-valgrind
pkgs="$pkgs clang libclang-rt-14-dev valgrind"
[ "${BIOPP_BENCH:-0}" = 1 ] && pkgs="$pkgs python3 python3-torch python3-numpy"
[ "${BIOPP_FASHION:-0}" = 1 ] && pkgs="$pkgs dataset-fashion-mnist"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root (sudo make deps) or install them with apt-get" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
