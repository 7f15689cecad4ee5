#!/usr/bin/env bash
# The first published board on piano-c3 (issue 7, item 6): every built-in representation
# that follows piano-c3's setting (mono, 44.1 kHz, 65,536 samples) through the standard
# tasks (round trip, perturbation, locality, transfer), then the generation task with the
# baseline generators (gmm and oracle; 500 clips each, as SPEC 4.5 asks of an entry) on a
# few representations; each run is submitted
# as an entry (replacing an old one) and the board is rendered.
#
# usage: scripts/publish-piano-c3-board.sh [ENTRIES_DIR [BOARD_DIR]]
# environment: GRAINBENCH (default: grainbench),
#   RUNS (default: runs/piano-c3-board), REPS (default: every setting-following built-in),
#   GEN_REPS (default: "dct-square stft-magif waveform-square"; empty: no generation),
#   RUN_ARGS (extra `grainbench run` options for the standard tasks), THREADS (default: 1)
# The representations that decode by iteration (mel-griffinlim, mfcc) or synthesis
# (harmonic-noise) cost 0.1-0.6 s per decode, and the perturbation task makes 16,384 of
# them by default (8 clips × 1,024 pixels × 2 δ): the board runs them with
#   REPS="mel-griffinlim mfcc harmonic-noise" GEN_REPS= \
#   RUN_ARGS="--param perturbation.n_clips=2 --param perturbation.n_pixels=128"
# so their perturbation rows form their own comparable group.
# Runs resume: an interrupted board picks up where it stopped (each task is written
# atomically). About 1 h 30 of CPU on one core of the 2-core reference box.
set -euo pipefail

entries="${1:-leaderboards/entries}"
board="${2:-leaderboards}"
gb="${GRAINBENCH:-grainbench}"
runs="${RUNS:-runs/piano-c3-board}"
threads="${THREADS:-1}"
data="piano-c3"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"

reps="${REPS:-$("$gb" list --reps-for "$data")}"
gen_reps="${GEN_REPS-dct-square stft-magif waveform-square}"
read -r -a run_args <<< "${RUN_ARGS:-}"

for rep in $reps; do
    echo "=== $rep: standard tasks ($(date +%T))"
    /usr/bin/time -f "    %e s wall, %U s user" \
        "$gb" run --rep "$rep" --data "$data" --seed 0 --no-progress --out "$runs/$rep" \
        "${run_args[@]}" > /dev/null
    "$gb" submit "$runs/$rep" --entries "$entries" --force
done

for rep in $gen_reps; do
    for gen in gmm oracle; do
        echo "=== $rep: generation with $gen ($(date +%T))"
        /usr/bin/time -f "    %e s wall, %U s user" \
            "$gb" run --rep "$rep" --data "$data" --seed 0 --no-progress --task generation \
            --gen "$gen" --param generation.n_samples=500 --out "$runs/$rep--$gen" > /dev/null
        "$gb" submit "$runs/$rep--$gen" --entries "$entries" --force
    done
done
"$gb" leaderboard --entries "$entries" --out "$board"
