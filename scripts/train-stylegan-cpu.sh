#!/usr/bin/env bash
# The 20-minute CPU runs of docs/stylegan.md ("What a 20-minute CPU run gives"): StyleGAN2
# on piano-c3 at the small setting (16 kHz, 16,384 samples), one run per representation
# (stft-magif with the `cpu` config, dct-square with `cpu-sparse`), Fréchet CREPE distance
# at every snapshot (metrics.jsonl), WAVs and PNG grids in samples/. One torch thread per
# run, so two runs share a 2-core machine.
#
# usage: scripts/train-stylegan-cpu.sh [OUT_DIR]          (default: runs/stylegan-cpu)
# environment: GRAINBENCH (default: grainbench), THREADS (default: 1)
# Interrupted? Run it again: each run resumes from its last checkpoint.
set -euo pipefail

out="${1:-runs/stylegan-cpu}"
gb="${GRAINBENCH:-grainbench}"
threads="${THREADS:-1}"
common=(--gen stylegan2 --data piano-c3 --threads "$threads" --no-progress
        --eval crepe,spectral --wavs 4 --set snapshot_kimg=0.5 --set keep_checkpoints=10)

run() {  # run REP CONFIG KIMG
    local dir="$out/$1"
    local resume=()
    [ -d "$dir/checkpoints" ] && resume=(--resume)
    echo "=== $1: $2, $3 kimg ($(date +%T))"
    "$gb" train --rep "$1" --config "$2" --kimg "$3" --out "$dir" "${common[@]}" "${resume[@]}"
}

# 2×256×128 images: ~2 img/s on one loaded core, so 2 kimg ≈ 20 minutes
run stft-magif cpu 2 &
# 1×128×128 images: ~5-7 img/s, so 3 kimg ≈ 8-10 minutes (its distance was lowest at 2-3 kimg)
run dct-square cpu-sparse 3 &
wait
