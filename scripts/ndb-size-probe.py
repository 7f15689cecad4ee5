"""Why the board's NDB fraction is not comparable between rows (notes for a follow-up).

piano-c3 at 16 kHz / 16,384 samples, dct-square, png8: NDB fractions (log-mel features,
two-proportion tests at α 0.05) of real clips against k-means cells of either the 50-clip
test half A (the generation task's reference, k = 50: one clip per cell) or the 900
training clips, for candidate sets of 50 and 500 clips: the test half B (real vs real),
B through the codec (round trip), and training clips clean or through the codec (what a
perfect generator's samples would be). The same codec shift that the 50-clip round-trip
row hardly shows becomes significant in most cells with 500 candidates, so a 500-clip
generator row and the 50-clip reference rows differ in test power, not only in quality.

usage: python scripts/ndb-size-probe.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from grainbench.codecs import get_codec
from grainbench.data import load_dataset
from grainbench.metrics import ndb
from grainbench.plugins import load_representation


def main() -> None:
    """Print the NDB fractions of each candidate set against each reference."""
    ds = load_dataset("piano-c3", sample_rate=16000, n_samples=16384, seed=0)
    rep = load_representation("dct-square", 16000, 16384)
    train = torch.from_numpy(np.ascontiguousarray(ds.train))
    test = torch.from_numpy(np.ascontiguousarray(ds.test))
    rep.fit(train)
    codec = get_codec("png8")

    def through_codec(audio: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(audio), 64):
            with tempfile.TemporaryDirectory() as tmp:
                stored, _ = codec.roundtrip(rep.encode(audio[i : i + 64]), Path(tmp))
            out.append(rep.decode(stored))
        return torch.cat(out)

    def features(audio: torch.Tensor) -> np.ndarray:
        return ndb.ndb_features(audio, 16000)

    rng = np.random.default_rng(0)
    order = rng.permutation(len(test))
    a_idx, b_idx = np.sort(order[:50]), np.sort(order[50:100])
    pick = rng.permutation(len(train))[:500]
    sets = {
        "test half B (50)": features(test[b_idx]),
        "B through png8 (50)": features(through_codec(test[b_idx])),
        "training clips (500)": features(train[pick]),
        "training clips through png8 (500)": features(through_codec(train[pick])),
    }
    sets["training clips through png8 (first 50)"] = sets["training clips through png8 (500)"][:50]
    for ref_name, ref in (
        ("test half A, k=50", features(test[a_idx])),
        ("train, k=50", features(train)),
    ):
        cells = ndb.kmeans(ref, 50, seed=0)
        for name, cand in sets.items():
            print(f"{ref_name:18s} {name:42s} {ndb.ndb(ref, cand, centroids=cells).fraction:.2f}")


if __name__ == "__main__":
    main()
