#!/bin/sh
# Puts the benchmark datasets into DATA_DIR, each file checked against
# scripts/SHA256SUMS.  Called by `make data`.
#
#   sh scripts/fetch-data.sh DATA_DIR [DATASET...]
#
# DATASET is any of mnist cifar-10 fashion-mnist kmnist (default: all four;
# "cifar10" is accepted for cifar-10).  Layout produced (what the loader in
# src/data/dataset.c reads; it accepts each file with or without .gz):
#
#   DATA_DIR/mnist/          {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
#   DATA_DIR/cifar-10/       data_batch_{1..5}.bin.gz test_batch.bin.gz batches.meta.txt
#   DATA_DIR/fashion-mnist/  same four names as mnist
#   DATA_DIR/kmnist/         same four names as mnist
#
# Where the files come from:
#   mnist, cifar-10  copied from the shared data folder, $BIOPP_SHARED_DATA or
#                    else ../shared/data beside the repository, when it has
#                    them; otherwise downloaded (MNIST from the ossci mirror,
#                    falling back to yann.lecun.com; CIFAR-10 as the official
#                    binary tarball, whose .bin files are gzip -9 -n'd).
#   fashion-mnist    copied from Debian's dataset-fashion-mnist package,
#                    /usr/share/datasets/fashion-mnist (override with
#                    $BIOPP_FASHION_DIR); it ships the four official file
#                    names, re-gzipped by Debian, with the official contents.
#   kmnist           downloaded from codh.rois.ac.jp, or placed by hand.
#
# Checksums: a SHA256SUMS entry "dir/file" is the SHA-256 of the uncompressed
# file, so it holds whether a copy is gzipped or not and whoever gzipped it.
# KMNIST only has published hashes of its .gz downloads, listed as
# "kmnist/file.gz" and checked against the compressed file.
#
# Files already present and verified are skipped; a present file that fails
# its check is deleted and fetched again; a freshly fetched file that fails
# is deleted and the script stops with an error.  mnist and cifar-10 are
# required (failure = non-zero exit); fashion-mnist and kmnist are optional:
# when they cannot be obtained the script says how to get them and goes on.
set -eu

PROG=fetch-data
SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
REPO_ROOT=$(dirname -- "$SCRIPT_DIR")
SUMS=$SCRIPT_DIR/SHA256SUMS
SHARED=${BIOPP_SHARED_DATA:-$REPO_ROOT/../shared/data}
FASHION_SRC=${BIOPP_FASHION_DIR:-/usr/share/datasets/fashion-mnist}

IDX_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
CIFAR_FILES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin batches.meta.txt"
# Download locations; the BIOPP_* overrides let you use a local mirror (any
# URL curl/wget take, file:// included) and are how the download path is tested.
MNIST_URLS=${BIOPP_MNIST_MIRRORS:-"https://ossci-datasets.s3.amazonaws.com/mnist http://yann.lecun.com/exdb/mnist"}
CIFAR_URL=${BIOPP_CIFAR_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}
KMNIST_URLS=${BIOPP_KMNIST_MIRRORS:-"https://codh.rois.ac.jp/kmnist/dataset/kmnist http://codh.rois.ac.jp/kmnist/dataset/kmnist"}

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: WARNING: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

# A partial file being written, removed if we stop half way.
PART=
cleanup() { if [ -n "$PART" ]; then rm -rf -- "$PART"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- checksums ----

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -c1-64
    else shasum -a 256 | cut -c1-64; fi
}

is_gzip() { [ "$(od -An -tx1 -N2 -- "$1" | tr -d ' \n')" = 1f8b ]; }

listed_sum() { awk -v k="$1" '$2 == k { print $1; exit }' "$SUMS"; }

# verify REL FILE: checks FILE (plain or gzip) as the dataset file REL.
# Returns 0 if it matches, 1 on a mismatch, 2 if no checksum applies.
# Sets V_GOT / V_WANT for messages.
verify() {
    V_WANT=$(listed_sum "$1")
    if [ -n "$V_WANT" ]; then
        if is_gzip "$2"; then V_GOT=$(gzip -dc <"$2" | sha256)
        else V_GOT=$(sha256 <"$2"); fi
    else
        V_WANT=$(listed_sum "$1.gz")
        if [ -z "$V_WANT" ] || ! is_gzip "$2"; then return 2; fi
        V_GOT=$(sha256 <"$2")
    fi
    [ "$V_GOT" = "$V_WANT" ]
}

# present REL: succeeds if DATA_DIR/REL(.gz) exists and verifies; deletes a
# copy that fails so it gets fetched again.
present() {
    for p_file in "$DATA_DIR/$1.gz" "$DATA_DIR/$1"; do
        [ -f "$p_file" ] || continue
        if verify "$1" "$p_file"; then
            say "ok       $p_file (already present, SHA-256 verified)"
            return 0
        elif [ $? -eq 2 ]; then
            warn "$p_file: no checksum listed for it in $SUMS; keeping it unverified"
            return 0
        fi
        warn "$p_file: SHA-256 mismatch (got $V_GOT, expected $V_WANT); deleting it and fetching it again"
        rm -f -- "$p_file"
    done
    return 1
}

# accept_part REL TMP FINAL: verifies the fetched TMP and moves it to FINAL, or
# deletes it and stops.
accept_part() {
    if verify "$1" "$2"; then
        mv -f -- "$2" "$3" || die "cannot move $2 to $3"
        PART=
        say "ok       $3 (SHA-256 verified)"
        return 0
    elif [ $? -eq 2 ]; then
        rm -f -- "$2"
        die "$1: no checksum listed in $SUMS; refusing an unverified file"
    fi
    rm -f -- "$2"
    die "$3: SHA-256 mismatch (got $V_GOT, expected $V_WANT); the bad file was deleted"
}

# ---- sources ----

# copy_file SRC_DIR REL: copies SRC_DIR/<file>.gz, or else SRC_DIR/<file>,
# into DATA_DIR/REL(.gz), where <file> is REL's last component. Returns 1 if
# SRC_DIR has neither.
copy_file() {
    c_name=${2##*/}
    if [ -f "$1/$c_name.gz" ]; then c_src=$1/$c_name.gz; c_dst=$DATA_DIR/$2.gz
    elif [ -f "$1/$c_name" ]; then c_src=$1/$c_name; c_dst=$DATA_DIR/$2
    else return 1; fi
    say "copying  $c_src"
    PART=$c_dst.part
    cp -- "$c_src" "$PART" || die "$c_src: copy failed"
    chmod u+w -- "$PART"   # the sources are read-only; our copy need not be
    accept_part "$2" "$PART" "$c_dst"
}

download() {
    if command -v curl >/dev/null 2>&1; then
        curl -fLsS --retry 2 --connect-timeout 20 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q --tries=3 --timeout=20 -O "$2" "$1"
    else
        warn "neither curl nor wget is installed"
        return 1
    fi
}

# download_any REL "BASE_URLS": fetches <file>.gz from the first base URL
# that answers into DATA_DIR/REL.gz. Returns 1 if none does.
download_any() {
    d_name=${1##*/}
    d_dst=$DATA_DIR/$1.gz
    PART=$d_dst.part
    for d_base in $2; do
        say "download $d_base/$d_name.gz"
        if download "$d_base/$d_name.gz" "$PART"; then
            accept_part "$1" "$PART" "$d_dst"
            return 0
        fi
    done
    rm -f -- "$PART"
    PART=
    return 1
}

# ---- datasets ----

# find_missing DIR FILES: sets MISSING to the FILES of DATA_DIR/DIR that are
# not present and verified. (A variable, not output: present() prints.)
find_missing() {
    mkdir -p -- "$DATA_DIR/$1" || die "cannot create $DATA_DIR/$1"
    MISSING=
    for m_f in $2; do
        present "$1/$m_f" || MISSING="$MISSING $m_f"
    done
}

fetch_mnist() {
    say "mnist: checking $DATA_DIR/mnist"
    find_missing mnist "$IDX_FILES"
    for f in $MISSING; do
        if [ -d "$SHARED/mnist" ]; then
            copy_file "$SHARED/mnist" "mnist/$f" || die "mnist/$f: not in $SHARED/mnist"
        else
            download_any "mnist/$f" "$MNIST_URLS" ||
                die "mnist/$f.gz: download failed from $MNIST_URLS; put the official file in $DATA_DIR/mnist/ by hand"
        fi
    done
}

# download_cifar FILES: fetches the official tarball and installs FILES from
# it, the .bin batches gzip -9 -n'd (reproducible, as in the shared copy).
download_cifar() {
    PART=$DATA_DIR/cifar-10/.download
    rm -rf -- "$PART"
    mkdir -p -- "$PART"
    say "download $CIFAR_URL (163 MB)"
    download "$CIFAR_URL" "$PART/cifar-10-binary.tar.gz" ||
        die "cifar-10: download failed from $CIFAR_URL; put the .bin files in $DATA_DIR/cifar-10/ by hand"
    say "extract  cifar-10-binary.tar.gz"
    tar -xzf "$PART/cifar-10-binary.tar.gz" -C "$PART" || die "cifar-10: cannot extract the tarball"
    for f in $1; do
        src=$PART/cifar-10-batches-bin/$f
        [ -f "$src" ] || die "cifar-10/$f: not in the tarball from $CIFAR_URL"
        verify "cifar-10/$f" "$src" ||
            die "cifar-10/$f: SHA-256 mismatch in the downloaded tarball (got $V_GOT, expected $V_WANT); deleted"
        case $f in
        *.bin) gzip -9 -n -- "$src" || die "cifar-10/$f: gzip failed"
               dst=$DATA_DIR/cifar-10/$f.gz
               mv -f -- "$src.gz" "$dst" ;;
        *)     chmod u+w -- "$src"; dst=$DATA_DIR/cifar-10/$f
               mv -f -- "$src" "$dst" ;;
        esac
        say "ok       $dst (SHA-256 verified)"
    done
    rm -rf -- "$PART"
    PART=
}

fetch_cifar() {
    say "cifar-10: checking $DATA_DIR/cifar-10"
    find_missing cifar-10 "$CIFAR_FILES"
    [ -n "$MISSING" ] || return 0
    if [ -d "$SHARED/cifar-10" ]; then
        for f in $MISSING; do
            copy_file "$SHARED/cifar-10" "cifar-10/$f" || die "cifar-10/$f: not in $SHARED/cifar-10"
        done
    else
        download_cifar "$MISSING"
    fi
}

fashion_help() {
    warn "fashion-mnist (optional) is not available: $1. Install it with"
    warn "    apt-get install dataset-fashion-mnist     (Debian/Ubuntu, as root)"
    warn "and run make data again, or put the four official files"
    warn "($IDX_FILES, .gz or not) in $DATA_DIR/fashion-mnist/."
    rmdir -- "$DATA_DIR/fashion-mnist" 2>/dev/null || true   # leave no empty folder
}

fetch_fashion() {
    say "fashion-mnist: checking $DATA_DIR/fashion-mnist"
    find_missing fashion-mnist "$IDX_FILES"
    [ -n "$MISSING" ] || return 0
    if [ ! -d "$FASHION_SRC" ]; then
        fashion_help "$FASHION_SRC not found"
        return 0
    fi
    for f in $MISSING; do
        copy_file "$FASHION_SRC" "fashion-mnist/$f" || {
            fashion_help "$FASHION_SRC/$f(.gz) not found"
            return 0
        }
    done
}

fetch_kmnist() {
    say "kmnist: checking $DATA_DIR/kmnist"
    find_missing kmnist "$IDX_FILES"
    for f in $MISSING; do
        if ! download_any "kmnist/$f" "$KMNIST_URLS"; then
            warn "kmnist (optional): download failed (no network?). To use it, put the"
            warn "four .gz files from http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
            warn "($IDX_FILES) in $DATA_DIR/kmnist/ and run make data to verify them."
            rmdir -- "$DATA_DIR/kmnist" 2>/dev/null || true   # leave no empty folder
            return 0
        fi
    done
}

# ---- main ----

if [ $# -lt 1 ] || [ -z "$1" ]; then
    echo "usage: sh scripts/fetch-data.sh DATA_DIR [mnist|cifar-10|fashion-mnist|kmnist ...]" >&2
    exit 2
fi
DATA_DIR=$1
shift
[ -f "$SUMS" ] || die "$SUMS is missing"
[ $# -gt 0 ] || set -- mnist cifar-10 fashion-mnist kmnist
for name in "$@"; do
    case $name in
    mnist | cifar-10 | cifar10 | fashion-mnist | kmnist) ;;
    *) die "unknown dataset '$name' (valid: mnist cifar-10 fashion-mnist kmnist)" ;;
    esac
done
mkdir -p -- "$DATA_DIR"
if [ -d "$SHARED" ]; then
    SHARED=$(CDPATH='' cd -- "$SHARED" && pwd)
    say "shared data: $SHARED (copying from it)"
else say "shared data: $SHARED not found (downloading)"; fi

for name in "$@"; do
    case $name in
    mnist) fetch_mnist ;;
    cifar-10 | cifar10) fetch_cifar ;;
    fashion-mnist) fetch_fashion ;;
    kmnist) fetch_kmnist ;;
    esac
done
say "done: $DATA_DIR"
