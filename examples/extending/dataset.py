from dataclasses import dataclass

import numpy as np

from grainbench.data.core import RawClips, Setting
from grainbench.registries import DATASETS


@dataclass(frozen=True)
class NoisePlan:  # what a spec such as "noise?n=8" resolves to
    n: int

    def defaults(self) -> Setting:  # used for every setting the user leaves out
        return Setting(sample_rate=16000, n_samples=16384, n_channels=1)

    def key_material(self) -> dict:  # everything besides the setting that decides the clips
        return {"n": self.n}

    def build(self, setting: Setting, progress: bool) -> RawClips:  # (n, ch, samples) float32
        shape = (self.n, setting.n_channels, setting.n_samples)
        clips = np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)
        return RawClips(clips, labels=np.full(self.n, -1, dtype=np.int64))


class NoiseSource:
    name, summary, version, cached, takes_path = "noise", "white noise", "1", False, False

    def plan(self, path: str | None, options: dict[str, str]) -> NoisePlan:
        return NoisePlan(int(options.get("n", 8)))


DATASETS.register("noise", NoiseSource(), NoiseSource.summary)
