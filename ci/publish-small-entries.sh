#!/usr/bin/env bash
# (Re)publish the small-setting entries that ci/check-builtins.sh checks against: every
# built-in representation that follows the dataset's setting is run on synth-piano (100
# clips, 16 kHz, 16,384 samples) with the round trip through png16 and png8, submitted
# (replacing its old entry), and the board is rendered.
#
# usage: ci/publish-small-entries.sh [ENTRIES_DIR [BOARD_DIR]]
#        (default: leaderboards/entries and leaderboards)
# environment: GRAINBENCH (default: grainbench),
#   RUNS (where the runs go; default: runs/small-entries)
# Run it from the repository root after a change that moves the numbers on purpose (a new
# suite version, a changed dataset or task), and commit the entries with the change.
set -euo pipefail

entries="${1:-leaderboards/entries}"
board="${2:-leaderboards}"
gb="${GRAINBENCH:-grainbench}"
runs="${RUNS:-runs/small-entries}"
data="synth-piano"

reps="$("$gb" list --reps-for "$data")"

for rep in $reps; do
    echo "=== $rep"
    "$gb" run --rep "$rep" --data "$data" --task roundtrip --seed 0 --no-progress \
        --param 'roundtrip.codecs=["png16","png8"]' --out "$runs/$rep" > /dev/null
    "$gb" submit "$runs/$rep" --entries "$entries" --force
done
"$gb" leaderboard --entries "$entries" --out "$board"
