#!/usr/bin/env bash
# Guard a representation against its published grainbench entry: copy this file into the
# repository that holds the representation and call it from CI (see github-actions.yml).
#
# usage: ci/check-representation.sh REP ENTRY [TOLERANCE ...]
#   REP        a built-in name or path/to/file.py:Class
#   ENTRY      an entry id (in $GRAINBENCH_ENTRIES), an entry folder or a run folder
#   TOLERANCE  passed to --tolerance: a fraction for every metric (0.05 or 5%),
#              or METRIC=VALUE (absolute in the metric's unit) or METRIC=N% (relative)
# environment:
#   GRAINBENCH          the command (default: grainbench)
#   GRAINBENCH_ENTRIES  where entry ids live (default: leaderboards/entries)
#   GRAINBENCH_OUT      keep the re-run and its report.html there (default: not kept)
# exit: 0 no metric worse than the entry; 1 a metric is worse (named in the output);
#       2 the check could not be made (bad arguments, other suite version or dataset).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    sed -n '5,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
rep="$1"
entry="$2"
shift 2

args=(check --rep "$rep" --against "$entry" --entries "${GRAINBENCH_ENTRIES:-leaderboards/entries}" --no-progress)
for tolerance in "$@"; do
    args+=(--tolerance "$tolerance")
done
if [ -n "${GRAINBENCH_OUT:-}" ]; then
    args+=(--out "$GRAINBENCH_OUT")
fi

echo "+ ${GRAINBENCH:-grainbench} ${args[*]}" >&2
exec ${GRAINBENCH:-grainbench} "${args[@]}"
