#!/usr/bin/env bash
# Check every built-in representation against its published small-setting entries: each
# entry in the entries folder whose dataset is synth-piano and whose representation is a
# built-in name is re-run with `grainbench check` (its tasks, parameters and seed).
#
# usage: ci/check-builtins.sh [ENTRIES_DIR]      (default: leaderboards/entries)
# environment: GRAINBENCH (the command; default: grainbench), PYTHON (default: python),
#   GRAINBENCH_TOLERANCE (default: 2%): extra allowance beyond each entry's 95% interval, as
#   a fraction of the entry's value, for float differences between the machine that made
#   an entry and this one (a degraded representation misses by far more).
# exit: 0 every check passed; 1 at least one regression (named above);
#       2 a check could not be made, or there is no small-setting entry to check.
set -uo pipefail

entries="${1:-leaderboards/entries}"
gb="${GRAINBENCH:-grainbench}"
py="${PYTHON:-python}"
tolerance="${GRAINBENCH_TOLERANCE:-2%}"

listing="$("$py" - "$entries" <<'PY'
import json
import sys
from pathlib import Path

from grainbench.registries import REPRESENTATIONS

for result in sorted(Path(sys.argv[1]).glob("*/result.json")):
    body = json.loads(result.read_text())
    dataset = body["dataset"]["spec"].split(":")[0].split("?")[0]
    rep = body["representation"]["spec"]
    if dataset == "synth-piano" and rep in REPRESENTATIONS:
        print(f"{rep}\t{result.parent}")
PY
)" || { echo "check-builtins: cannot list the entries in $entries" >&2; exit 2; }

if [ -z "$listing" ]; then
    echo "check-builtins: no small-setting (synth-piano) entry of a built-in representation in $entries" >&2
    exit 2
fi

regressions=()
errors=()
while IFS=$'\t' read -r rep entry; do
    echo "=== $rep against $entry"
    "$gb" check --rep "$rep" --against "$entry" --tolerance "$tolerance" --no-progress
    case $? in
        0) ;;
        1) regressions+=("$rep ($entry)") ;;
        *) errors+=("$rep ($entry)") ;;
    esac
done <<< "$listing"

n=$(printf '%s\n' "$listing" | wc -l)
if [ "${#errors[@]}" -gt 0 ]; then
    echo "check-builtins: could not check: ${errors[*]}" >&2
    exit 2
fi
if [ "${#regressions[@]}" -gt 0 ]; then
    echo "check-builtins: regressions in: ${regressions[*]}" >&2
    exit 1
fi
echo "check-builtins: all $n small-setting checks passed"
