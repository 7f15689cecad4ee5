#!/usr/bin/env bash
# Generation rows for StyleGAN2 at the CPU configs' small setting (piano-c3 rendered at
# 16 kHz, 16,384 samples: 128×128 DCT images, 2×256×128 STFT images), each next to the gmm
# baseline at the same setting so that the board compares them in one table (issue 6).
# StyleGAN trains inside `grainbench run`, then 500 clips are generated and scored (SPEC
# 4.5). Config and length per representation, where its Fréchet CREPE distance was lowest in
# docs/stylegan.md: DCT/FFT layouts (sparse images) `cpu-sparse` for 3 kimg, others `cpu`
# for 2 kimg (about 20 minutes of one core for stft-magif).
#
# usage: scripts/publish-stylegan-small-rows.sh [ENTRIES_DIR [BOARD_DIR]]
# environment: GRAINBENCH (default: grainbench), RUNS (default: runs/stylegan-small),
#   REPS (default: "stft-magif dct-square"), GENS (default: "gmm stylegan2"), KIMG (overrides
#   the length for every representation), THREADS (default: 1)
# Runs resume: finished tasks are reused; an interrupted StyleGAN training starts again.
set -euo pipefail

entries="${1:-leaderboards/entries}"
board="${2:-leaderboards}"
gb="${GRAINBENCH:-grainbench}"
runs="${RUNS:-runs/stylegan-small}"
reps="${REPS:-stft-magif dct-square}"
gens="${GENS:-gmm stylegan2}"
threads="${THREADS:-1}"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"

for rep in $reps; do
    for gen in $gens; do
        case "$rep" in
            dct-* | fft-*) config=cpu-sparse kimg="${KIMG:-3}" ;;
            *) config=cpu kimg="${KIMG:-2}" ;;
        esac
        opts=()
        case "$gen" in
            stylegan2 | stylegan3) opts=(--gen-opt "config=$config" --gen-opt "kimg=$kimg") ;;
        esac
        echo "=== $rep: generation with $gen ($(date +%T))"
        /usr/bin/time -f "    %e s wall, %U s user" \
            "$gb" run --rep "$rep" --data piano-c3 --sample-rate 16000 --n-samples 16384 \
            --seed 0 --no-progress --task generation --gen "$gen" "${opts[@]}" \
            --param generation.n_samples=500 --out "$runs/$rep--$gen" > /dev/null
        "$gb" submit "$runs/$rep--$gen" --entries "$entries" --force
    done
done
"$gb" leaderboard --entries "$entries" --out "$board"
