"""DDSP's controls as ``harmonic-noise`` images (what ``--gen ddsp`` draws for that representation).

The ``harmonic-noise`` representation (:class:`grainbench.stages.parametric.HarmonicNoise`)
stores per frame: row 0 the f0 (log scale), rows 1…63 the linear amplitudes of harmonics
1…63, rows 64…127 the RMS STFT magnitude of the non-harmonic part in 64 mel triangles (both
log-scaled with the peaks fitted on the training set). Its frames are ``hop_hn`` samples
apart (128 at 16 kHz / 16,384 samples), DDSP's ``hop`` (64 there).

The mapping, per image frame (DDSP's controls linearly interpolated to its time t·hop_hn):

- f0 → row 0 as it is;
- harmonic k's amplitude A·c_k (the same quantity: the amplitude of the sinusoid at k·f0;
  only the phase convention differs, sine vs cosine, and phases are not stored) → row k,
  for k ≤ 63; DDSP's harmonics above 63 have no row (at 16 kHz they lie above Nyquist for
  f0 > 127 Hz); rows beyond DDSP's last harmonic are 0;
- noise: DDSP's filter has 65 linear-frequency bands applied to uniform noise, the image
  has 64 mel bands of an STFT magnitude. No fixed matrix maps one onto the other (the
  image's value depends on the excitation's level and the STFT's normalisation), so the
  rows are *measured*: DDSP's synthesised noise signal is analysed exactly as the
  representation analyses a residual (its STFT, mel triangles, square root).
"""

from __future__ import annotations

import torch

from grainbench.baselines.generators.ddsp.model import Controls
from grainbench.stages.parametric import HarmonicNoise
from grainbench.stages.stft import stft


def resample_frames(x: torch.Tensor, hop: int, new_hop: int, n_new: int) -> torch.Tensor:
    """Frame values ``(…, T)`` at samples t·hop → ``(…, n_new)`` at samples t·new_hop
    (linear interpolation, held after the last frame)."""
    pos = torch.arange(n_new, dtype=torch.float64, device=x.device) * new_hop / hop
    i0 = pos.floor().long().clamp(max=x.shape[-1] - 1)
    i1 = (i0 + 1).clamp(max=x.shape[-1] - 1)
    frac = (pos - i0).clamp(0.0, 1.0).to(x.dtype)
    return x[..., i0] * (1.0 - frac) + x[..., i1] * frac


def controls_to_image(
    stage: HarmonicNoise, controls: Controls, noise_audio: torch.Tensor | None, hop: int
) -> torch.Tensor:
    """Controls of ``B`` clips (+ their synthesised noise ``(B, N)``) → images ``(B, 1, H, T_hn)``.

    ``stage`` is the representation's fitted HarmonicNoise stage (its peaks set the scale);
    ``hop`` is DDSP's frame hop. See the module doc.
    """
    b, _, t = controls.harmonics.shape
    n = t * hop
    t_hn = n // stage.hop
    f0 = resample_frames(controls.f0_hz, hop, stage.hop, t_hn)
    amps = resample_frames(controls.harmonics, hop, stage.hop, t_hn)
    rows = torch.zeros(b, stage.n_harmonics, t_hn, dtype=amps.dtype, device=amps.device)
    k = min(stage.n_harmonics, amps.shape[1])
    rows[:, :k] = amps[:, :k]
    if noise_audio is None:
        noise = torch.zeros(b, stage.n_noise, t_hn, dtype=amps.dtype, device=amps.device)
    else:
        power = stft(noise_audio, stage.win, stage.hop).abs() ** 2
        noise = torch.einsum("jf,bft->bjt", stage.bank, power).sqrt()
    image = stage._rows(f0.unsqueeze(1), rows.unsqueeze(1), noise.unsqueeze(1))
    return image.squeeze(2)
