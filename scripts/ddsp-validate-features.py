"""How well DDSP's inputs track what piano-c3 rendered (docs/ddsp.md, "Preprocessing").

For every clip of piano-c3 at the board's small setting (16 kHz, 16,384 samples), with the
features `grainbench train --gen ddsp --config cpu` computes (the same cache): the error
of the clip's median CREPE f0 against the note it rendered (MIDI 48 plus its detune, ±10
cents), in cents; and how the clip's peak A-weighted loudness follows its velocity (Pearson
r; over all clips and within each program) and the rendered level
40·log10(velocity/127) + 20·log10(gain) (the soundfont's default velocity curve).

usage: python scripts/ddsp-validate-features.py [CONFIG]       (default: cpu)
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from grainbench.baselines.generators.ddsp.configs import feature_options, get_config
from grainbench.baselines.generators.ddsp.features import cached_features, frame_hop
from grainbench.data import load_dataset
from grainbench.data.core import split_indices
from grainbench.data.piano import draw_notes, open_default_soundfont


def main() -> None:
    cfg = get_config(sys.argv[1] if len(sys.argv) > 1 else "cpu")
    ds = load_dataset(
        "piano-c3", sample_rate=cfg.sample_rate, n_samples=cfg.n_samples, progress=False
    )
    hop = frame_hop(cfg.sample_rate, cfg.frame_rate)
    train_idx, test_idx = split_indices(len(ds.train) + len(ds.test), 0)
    notes = draw_notes(open_default_soundfont(), np.full(len(train_idx) + len(test_idx), 48), 0)
    order = np.concatenate([train_idx, test_idx])
    clips = torch.from_numpy(np.concatenate([ds.train, ds.test]))
    opts = feature_options(cfg)
    feats = [
        cached_features(torch.from_numpy(x), cfg.sample_rate, hop, opts)
        for x in (ds.train, ds.test)
    ]
    f0 = torch.cat([f.f0_hz for f in feats]).numpy()
    loud = torch.cat([f.loudness_db for f in feats]).numpy()
    meta = [notes[i] for i in order]
    truth = np.array([48 + n.detune_cents / 100 for n in meta])
    midi = 69 + 12 * np.log2(np.median(f0, axis=1) / 440.0)
    err = 100 * (midi - truth)
    print(
        f"clips: {len(clips)}; f0 from CREPE {cfg.crepe_model} every {cfg.crepe_hop} samples at 16 kHz"
    )
    print(
        f"f0 error vs MIDI 48 + detune (cents): median |e| {np.median(np.abs(err)):.2f}, "
        f"95th pct {np.percentile(np.abs(err), 95):.2f}, mean e {err.mean():+.2f}, "
        f"within 50 cents {np.mean(np.abs(err) <= 50):.3f}"
    )
    vel = np.array([n.velocity for n in meta], dtype=float)
    level = 40 * np.log10(vel / 127) + 20 * np.log10([n.gain for n in meta])
    peak = loud.max(axis=1)
    prog = np.array([n.program for n in meta])
    print(f"peak loudness {np.median(peak):.1f} dB median ({peak.min():.1f} … {peak.max():.1f})")
    print(f"r(peak loudness, velocity) = {np.corrcoef(peak, vel)[0, 1]:.3f}")
    print(f"r(peak loudness, rendered level) = {np.corrcoef(peak, level)[0, 1]:.3f}")
    slope = np.polyfit(level, peak, 1)[0]
    print(f"slope of peak loudness on rendered level: {slope:.3f} dB/dB")
    for p in np.unique(prog):
        sel = prog == p
        r_v = np.corrcoef(peak[sel], vel[sel])[0, 1]
        r_l = np.corrcoef(peak[sel], level[sel])[0, 1]
        slope_p = np.polyfit(level[sel], peak[sel], 1)[0]
        print(
            f"  program {p}: {sel.sum():4d} clips, r(velocity) {r_v:.3f}, r(level) {r_l:.3f}, slope {slope_p:.3f}"
        )


if __name__ == "__main__":
    main()
