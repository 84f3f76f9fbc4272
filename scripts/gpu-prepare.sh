#!/bin/sh
# Prepares, on a Debian 12 machine WITHOUT a GPU, what scripts/gpu-check.sh
# needs on the GPU machine lent by the device tool, which has CUDA and
# PyTorch but none of our Debian packages and no network:
#   .deps/root/   our build and test libraries (OpenBLAS, inih, cJSON,
#                 Criterion and its runtime deps, zlib headers, libpng), their .debs
#                 unpacked here with dpkg-deb (the device has no dpkg);
#                 documentation dropped
#   .deps/data/   MNIST (copied from ../shared/data, 11 MB)
# .deps/ is git-ignored; name it in the device tool's `carry` (the size is
# printed at the end; the carry limit is 64 MiB with the working tree).
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
rm -rf "$deps/root"
mkdir -p "$deps/root"
for f in "$deps"/debs/*.deb; do dpkg-deb -x "$f" "$deps/root"; done
# what neither the build nor the binaries use (static libraries are 58 MB)
rm -rf "$deps/debs" "$deps/root/usr/share"
find "$deps/root" \( -name '*.a' -o -name 'liblapack.so*' -o -name cmake -o -name pkgconfig \) \
    -prune -exec rm -rf {} +
src=${BIOPP_SHARED_DATA:-../shared/data}
if [ -d "$src/mnist" ]; then
    rm -rf "$deps/data/mnist"
    cp -r "$src/mnist" "$deps/data/mnist"
else
    sh scripts/fetch-data.sh "$deps/data" mnist
fi
du -sh "$deps"
echo "gpu-prepare: done; on the device: sh scripts/gpu-check.sh (carry .deps)"
