#!/bin/sh
# Prepares, on a Debian 12 machine WITHOUT a GPU, what scripts/gpu-check.sh
# needs on the GPU machine lent by the device tool, which has CUDA and
# PyTorch but none of our Debian packages and no network:
#   .deps/debs/   the .debs of our build and test libraries (OpenBLAS,
#                 inih, cJSON, Criterion and its runtime deps, zlib headers, libpng)
#   .deps/data/   MNIST (copied from ../shared/data, 11 MB)
# .deps/ is git-ignored; name it in the device tool's `carry` (about 25 MB).
set -eu
cd "$(dirname "$0")/.."
deps=.deps
mkdir -p "$deps/debs" "$deps/data"
pkgs="libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0
      libinih1 libinih-dev libcjson1 libcjson-dev zlib1g-dev libpng-dev libpng16-16
      libcriterion3 libcriterion-dev libnanomsg5 libffi8 libgit2-1.5 libhttp-parser2.9
      libssh2-1 libmbedtls14 libmbedx509-1 libmbedcrypto7 libpcre2-8-0
      libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2"
# apt-get download writes into the current folder; -o for the unprivileged _apt user.
# shellcheck disable=SC2086
(cd "$deps/debs" && apt-get download -q $pkgs)
src=${BIOPP_SHARED_DATA:-../shared/data}
if [ -d "$src/mnist" ]; then
    rm -rf "$deps/data/mnist"
    cp -r "$src/mnist" "$deps/data/mnist"
else
    sh scripts/fetch-data.sh "$deps/data" mnist
fi
du -sh "$deps"
echo "gpu-prepare: done; on the device: sh scripts/gpu-check.sh (carry .deps)"
