"""``--gen ddsp``: DDSP with a Gaussian mixture over z, behind grainbench's generator protocols.

- *Audio generator* (what the generation task uses when a generator has these methods):
  ``fit_audio(audio (N, ch, n), labels, sample_rate)`` loads the trained model
  (``checkpoint=RUN_DIR`` from ``grainbench train --gen ddsp``; without one it trains from
  scratch with ``config`` for ``kimg``), computes the clips' features, fits the mixture over
  their z (components by BIC, :mod:`.latent`) and keeps their pitch and loudness tracks;
  ``sample_audio(n, labels, seed)`` draws z from the mixture and a profile per clip
  (:mod:`.profiles`: ``profile="clips"``, a random clip's tracks of the requested note,
  or ``profile="midi"``, the note at ``velocity``) and decodes them to audio ``(n, 1, n_samples)``.
- *Reconstruction* (the reconstruction task): ``reconstruct_audio(audio, sample_rate)``
  encodes each clip (f0, loudness, z) and decodes it, ``(B, 1, n)``.
- *Image generator* for the ``harmonic-noise`` representation (SPEC section 2 ``fit`` /
  ``sample``, and ``project`` for the realized-grain task): images are DDSP's controls
  laid out as that representation's images (:mod:`.controls`). These need the
  representation's fitted peaks, which ``grainbench train --rep harmonic-noise`` stores in
  the checkpoint. ``fit(images)`` decodes the images with the representation and fits on
  that audio; ``project(images)`` is decode → DDSP encode (f0, loudness, z) → DDSP decode →
  image: the closest image DDSP can draw for each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.baselines.generators.ddsp.configs import feature_options, get_config
from grainbench.baselines.generators.ddsp.controls import controls_to_image
from grainbench.baselines.generators.ddsp.evaluate import reconstruct
from grainbench.baselines.generators.ddsp.features import (
    Features,
    cached_features,
    compute_features,
)
from grainbench.baselines.generators.ddsp.latent import fit_by_bic
from grainbench.baselines.generators.ddsp.model import DDSP
from grainbench.baselines.generators.ddsp.profiles import Profiles, midi_profiles
from grainbench.baselines.generators.ddsp.train import Trainer, load_model
from grainbench.baselines.generators.gmm import GaussianMixture
from grainbench.baselines.generators.training import step_generator
from grainbench.errors import UserError

PROFILES = ("clips", "midi")
BATCH = 16
"""Clips per forward pass when encoding and decoding."""


class DDSPGenerator:
    """DDSP + GMM over z (module doc).

    Options: ``checkpoint`` (a ``grainbench train --gen ddsp`` run folder or checkpoint),
    ``config`` (``tiny``/``cpu``/``paper``, used to train when there is no checkpoint),
    ``kimg`` (training length then), ``seed``, ``max_components`` (the largest mixture BIC
    may choose, 10), ``profile`` (``clips`` or ``midi``), ``velocity`` (1…127, for
    ``profile=midi``; the median training track stands for velocity 100), ``progress``, and
    any :class:`~.configs.DDSPConfig` field (e.g. ``noise=false``) for training.
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        checkpoint: str | os.PathLike[str] | None = None,
        config: str = "cpu",
        kimg: float | None = None,
        seed: int = 0,
        max_components: int = 10,
        profile: str = "clips",
        velocity: int = 100,
        progress: bool = False,
        **overrides: Any,
    ) -> None:
        if profile not in PROFILES:
            raise UserError(f"ddsp: profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.config, self.overrides = str(config), dict(overrides)
        get_config(self.config, **self.overrides)  # check the options now
        self.kimg = None if kimg is None else float(kimg)
        self.seed, self.max_components = int(seed), int(max_components)
        self.profile, self.velocity = profile, int(velocity)
        self.progress = bool(progress)
        self.model: DDSP | None = None
        self.meta: dict[str, Any] = {}
        self.gmm: GaussianMixture | None = None
        self.bic: dict[int, float] = {}
        self.profiles: Profiles | None = None

    # -- fitting ---------------------------------------------------------------------------

    def _load_or_train(self, audio: torch.Tensor, sample_rate: int) -> DDSP:
        """The checkpoint's model, or one trained here on ``audio`` (N, ch, n)."""
        if self.checkpoint is not None:
            model, self.meta = load_model(self.checkpoint)
            self._check_setting(model, sample_rate, audio.shape[-1])
            return model
        cfg = get_config(
            self.config, sample_rate=sample_rate, n_samples=audio.shape[-1], **self.overrides
        )
        model = DDSP(cfg)
        feats = cached_features(
            audio, sample_rate, model.hop, feature_options(cfg), progress=self.progress
        )
        trainer = Trainer(cfg, audio.float().mean(1), feats, seed=self.seed, progress=self.progress)
        trainer.train(self.kimg)
        self.meta = trainer.checkpoint_meta()
        return trainer.model.eval()

    def _check_setting(self, model: DDSP, sample_rate: int, n_samples: int) -> None:
        """Refuse clips of another sample rate or length than the checkpoint's."""
        cfg = model.cfg
        if (cfg.sample_rate, cfg.n_samples) != (sample_rate, n_samples):
            raise UserError(
                f"ddsp checkpoint {self.checkpoint} was trained on {cfg.sample_rate} Hz × "
                f"{cfg.n_samples} clips, not {sample_rate} Hz × {n_samples}"
            )

    @staticmethod
    def _clips(audio: Any, least: int, what: str) -> torch.Tensor:
        """``audio`` as float clips ``(N, ch, n)`` (a ``(N, n)`` batch gains a channel axis)."""
        x = torch.as_tensor(audio).detach().float().cpu()
        if x.ndim == 2:
            x = x[:, None]
        if x.ndim != 3 or x.shape[0] < least:
            raise UserError(f"ddsp: {what} needs clips (N ≥ {least}, ch, n), got {tuple(x.shape)}")
        return x

    def fit_audio(self, audio: Any, labels: Any = None, sample_rate: int | None = None) -> None:
        """Load (or train) the model, fit the mixture over the clips' z, keep their tracks."""
        x = self._clips(audio, 2, "fit_audio")
        if sample_rate is None:
            raise UserError("ddsp: fit_audio needs the clips' sample_rate")
        self.model = self._load_or_train(x, int(sample_rate))
        cfg = self.model.cfg
        feats = cached_features(
            x, cfg.sample_rate, self.model.hop, feature_options(cfg), progress=self.progress
        )
        lab = None if labels is None else np.asarray(torch.as_tensor(labels).cpu()).ravel()
        self._fit_latents(feats, lab)

    def _fit_latents(self, feats: Features, labels: np.ndarray | None) -> None:
        """The mixture over the clips' z (when the model has an encoder) and their tracks."""
        assert self.model is not None
        self.profiles = Profiles.from_features(feats, labels)
        self.gmm, self.bic = None, {}
        if self.model.encoder is not None:
            with torch.no_grad():
                z = torch.cat(
                    [self.model.encode(feats[i : i + BATCH]) for i in range(0, len(feats), BATCH)]
                )
            self.gmm, self.bic = fit_by_bic(z.double().numpy(), self.max_components, seed=self.seed)

    # -- sampling --------------------------------------------------------------------------

    def _inputs(
        self, n: int, labels: Any, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """f0 and loudness ``(n, T)`` and z ``(n, z_dim)`` (or None) for ``n`` samples."""
        if self.model is None or self.profiles is None:
            raise UserError("ddsp: call fit_audio (or fit) before sampling")
        rng = np.random.default_rng(seed)
        notes = None if labels is None else np.asarray(torch.as_tensor(labels).cpu()).ravel()
        if self.profile == "clips":
            f0, loudness = self.profiles.draw(n, notes, rng)
        else:
            if notes is None:
                notes = self.profiles.labels[rng.integers(0, len(self.profiles.labels), n)]
                if (notes < 0).any():
                    raise UserError("ddsp: profile=midi needs labels (MIDI notes)")
            f0, loudness = midi_profiles(
                notes, np.full(n, self.velocity), self.profiles.template_loudness(), 100.0
            )
        z = None
        if self.gmm is not None:
            z = torch.from_numpy(self.gmm.sample(n, rng)).float()
        return f0, loudness, z

    def _decode(
        self, f0: torch.Tensor, loudness: torch.Tensor, z: torch.Tensor | None, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, list[Any]]:
        """Audio ``(n, N)``, the noise parts ``(n, N)`` (or None) and the controls, in batches."""
        assert self.model is not None
        audio, noise, controls = [], [], []
        with torch.no_grad():
            for i in range(0, f0.shape[0], BATCH):
                zi = None if z is None else z[i : i + BATCH]
                c = self.model.controls(f0[i : i + BATCH], loudness[i : i + BATCH], zi)
                a, nz = self.model.synthesize(c, step_generator(seed, i // BATCH, 2))
                audio.append(a)
                noise.append(nz)
                controls.append(c)
        noise_all = None if noise[0] is None else torch.cat(noise)
        return torch.cat(audio), noise_all, controls

    def sample_audio(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` clips ``(n, 1, n_samples)`` (labels: MIDI notes)."""
        f0, loudness, z = self._inputs(int(n), labels, int(seed))
        return self._decode(f0, loudness, z, int(seed))[0].unsqueeze(1)

    def reconstruct_audio(self, audio: Any, sample_rate: int) -> torch.Tensor:
        """Clips ``(B, ch, n)`` encoded (f0, loudness and z from their channel mean) and
        decoded by the model: ``(B, 1, n)``; the reconstruction task's protocol. Loads
        ``checkpoint`` when nothing is fitted yet; the noise is drawn from a fixed seed."""
        x = self._clips(audio, 1, "reconstruct_audio")
        if self.model is None:
            if self.checkpoint is None:
                raise UserError(
                    "ddsp: reconstruction needs checkpoint=RUN_DIR (or fit_audio first)"
                )
            self.model, self.meta = load_model(self.checkpoint)
        self._check_setting(self.model, int(sample_rate), x.shape[-1])
        cfg = self.model.cfg
        feats = cached_features(
            x, cfg.sample_rate, self.model.hop, feature_options(cfg), progress=self.progress
        )
        return reconstruct(self.model, feats, seed=0, batch=BATCH).unsqueeze(1)

    # -- the harmonic-noise image protocol ---------------------------------------------------

    def _representation(self) -> Any:
        """The ``harmonic-noise`` representation at the model's setting, with the peaks the
        training run fitted (from the checkpoint)."""
        from grainbench.baselines.harmonic_noise import harmonic_noise

        if self.model is None:
            raise UserError("ddsp: call fit_audio (or fit) first")
        image = (self.meta.get("metadata") or {}).get("image")
        if not image:
            raise UserError(
                "ddsp: harmonic-noise images need the representation's fitted peaks: train with "
                "`grainbench train --rep harmonic-noise --gen ddsp` and pass checkpoint=RUN_DIR"
            )
        cfg = self.model.cfg
        rep = harmonic_noise(cfg.sample_rate, cfg.n_samples)
        rep.stages[0].peaks.copy_(torch.tensor(image["peaks"]))
        if tuple(rep.image_shape) != self.image_shape:
            raise UserError(
                f"ddsp draws harmonic-noise images {tuple(rep.image_shape)}, not {self.image_shape}"
            )
        return rep

    def _images(self, controls: list[Any], noise: torch.Tensor | None, rep: Any) -> torch.Tensor:
        """Controls (in batches) and their noise parts → images ``(n, 1, H, W)``."""
        assert self.model is not None
        out = []
        for i, c in enumerate(controls):
            nz = None if noise is None else noise[i * BATCH : (i + 1) * BATCH]
            out.append(controls_to_image(rep.stages[0], c, nz, self.model.hop))
        return torch.cat(out)

    def fit(self, images: Any, labels: Any = None) -> None:
        """Fit on harmonic-noise images ``(N, 1, H, W)``: decoded by the representation (the
        checkpoint's peaks), then as :meth:`fit_audio`. Needs ``checkpoint``."""
        if self.checkpoint is None:
            raise UserError(
                "ddsp: fitting on images needs checkpoint=RUN_DIR (DDSP trains on audio: "
                "grainbench train --rep harmonic-noise --gen ddsp)"
            )
        self.model, self.meta = load_model(self.checkpoint)
        rep = self._representation()
        x = torch.as_tensor(images).detach().float().cpu()
        audio = torch.cat([rep.decode(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
        self.fit_audio(audio, labels, self.model.cfg.sample_rate)

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` harmonic-noise images ``(n, 1, H, W)`` of DDSP's controls."""
        rep = self._representation()
        f0, loudness, z = self._inputs(int(n), labels, int(seed))
        _, noise, controls = self._decode(f0, loudness, z, int(seed))
        return self._images(controls, noise, rep)

    def project(self, images: Any) -> torch.Tensor:
        """The closest image DDSP draws for each: decode → DDSP encode → DDSP decode → image."""
        rep = self._representation()
        assert self.model is not None
        cfg = self.model.cfg
        x = torch.as_tensor(images).detach().float().cpu()
        audio = torch.cat([rep.decode(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
        feats = compute_features(audio, cfg.sample_rate, self.model.hop, **feature_options(cfg))
        with torch.no_grad():
            z = self.model.encode(feats)
        _, noise, controls = self._decode(feats.f0_hz, feats.loudness_db, z, 0)
        return self._images(controls, noise, rep)

    def describe(self) -> dict[str, Any]:
        """Model, training and mixture facts, for results."""
        cfg = None if self.model is None else self.model.cfg
        return {
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "config": None if cfg is None else cfg.to_dict(),
            "variant": None if cfg is None else cfg.variant(),
            "steps": self.meta.get("step"),
            "mixture_components": None if self.gmm is None else int(len(self.gmm.weights)),
            "bic": {str(k): v for k, v in self.bic.items()},
            "profile": self.profile,
            "velocity": self.velocity if self.profile == "midi" else None,
        }


def factory(image_shape: tuple[int, ...], **options: Any) -> DDSPGenerator:
    """``GENERATORS`` factory: ``DDSPGenerator(image_shape, **options)``."""
    try:
        return DDSPGenerator(image_shape, **options)
    except TypeError as exc:
        raise UserError(f"ddsp: bad option: {exc}") from None
