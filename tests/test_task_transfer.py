"""The transfer task: image errors at a set PSNR, and how they come out as sound."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from grainbench.data import load_dataset
from grainbench.plugins import load_representation
from grainbench.registries import TASKS
from grainbench.runner import RunSpec, run_benchmark
from grainbench.tasks.transfer_errors import MirrorBlur, add_noise, psnr_db, shift
from taskrun import run_task

SR, N = 16000, 16384
FAST = {"n_clips": 2, "n_boot": 100, "kinds": ["noise", "quant8"]}


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


def _run(name: str, data, tmp_path: Path, **params) -> tuple[dict, dict]:
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train))
    result = run_task("transfer", rep, data, tmp_path, name, {**FAST, **params})
    return {m.key: m for m in result.metrics}, result.data


def test_psnr_by_hand() -> None:
    ref = torch.zeros(2, 1, 8, 8)
    img = ref + torch.tensor([0.02, 0.2])[:, None, None, None]
    # MSE 4e-4 → 10·log10(4 / 4e-4) = 40 dB; MSE 0.04 → 20 dB
    torch.testing.assert_close(psnr_db(ref, img), torch.tensor([40.0, 20.0], dtype=torch.float64))


def test_noise_hits_its_psnr() -> None:
    images = torch.rand(2, 1, 128, 128) * 2 - 1
    for level in (30.0, 50.0):
        got = psnr_db(images, add_noise(images, level, seed=3))
        assert bool((got - level).abs().max() < 1e-4)  # float32 images
    assert torch.equal(add_noise(images, 40.0, 1), add_noise(images, 40.0, 1))


def test_shift_by_hand() -> None:
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    assert shift(x, -1).tolist() == [[[[0.0, 0.0, 1.0], [3.0, 3.0, 4.0]]]]
    assert shift(x, -2).tolist() == [[[[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]]]


def test_mirror_blur_against_scipy_and_parseval() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(2, 2, 32, 48, generator=g, dtype=torch.float64).cumsum(-1) / 10
    blur = MirrorBlur(images)
    sigma = torch.tensor([1.5, 3.0], dtype=torch.float64)
    out = blur.blur(sigma)
    for i in range(2):
        for c in range(2):
            ref = ndimage.gaussian_filter(
                images[i, c].numpy(), float(sigma[i]), mode="reflect", truncate=8.0
            )
            np.testing.assert_allclose(out[i, c].numpy(), ref, atol=2e-3 * np.abs(ref).max())
    direct = (out - images).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(blur.mse(sigma), direct, rtol=1e-9, atol=1e-15)
    target = blur.sigma_for_psnr(35.0)
    torch.testing.assert_close(
        psnr_db(images, blur.blur(target)), torch.full((2,), 35.0, dtype=torch.float64)
    )
    flat = MirrorBlur(torch.zeros(1, 1, 8, 8))
    assert bool(torch.isnan(flat.sigma_for_psnr(30.0)).all())  # nothing to blur


def test_linear_dct_grain_is_exactly_proportionate(data, tmp_path: Path) -> None:
    """dct-square-linear is orthonormal up to its scale s: ‖e‖² = s²·MSE·pixels, so the
    grain curve has slope −1 and its 40 dB level is known in closed form."""
    rows, out = _run("dct-square-linear", data, tmp_path, kinds=["noise"])
    assert rows["grain_slope[error=noise]"].value == pytest.approx(-1.0, abs=1e-3)
    rep = load_representation("dct-square-linear", SR, N)
    rep.fit(torch.from_numpy(data.train))
    scale = float(rep.plugin.stages[1].scale)
    with torch.no_grad():
        clean = rep.decode(rep.encode(torch.from_numpy(data.test[:2])))
    energy = clean.double().pow(2).sum(dim=(1, 2)).numpy()
    level = np.mean(10 * np.log10(scale**2 * 4e-4 * N / energy))
    assert rows["grain_level[error=noise]"].value == pytest.approx(level, abs=0.05)
    assert out["curves"]["noise"]["psnr"] == pytest.approx([30, 40, 50], abs=1e-3)


def test_quantisation_transfers_differently_under_linear_and_mulaw(data, tmp_path: Path) -> None:
    """8-bit steps are uniform in the image; μ-law makes them small where coefficients are
    small, linear scaling does not (REFERENCES: 11 vs 37 dB SNR on a piano note)."""
    linear, _ = _run("dct-square-linear", data, tmp_path)
    mulaw, _ = _run("dct-square", data, tmp_path)
    assert linear["esr[error=quant8]"].value > mulaw["esr[error=quant8]"].value + 15.0
    assert linear["audibility[error=quant8]"].value > mulaw["audibility[error=quant8]"].value + 10.0
    # the same holds for white noise at one PSNR: μ-law's inverse shrinks errors on the many
    # small coefficients (slope ln(256)/255 ≈ 0.022 at 0, −33 dB)
    assert mulaw["esr[error=noise,psnr=40]"].value < linear["esr[error=noise,psnr=40]"].value - 15.0


def test_task_outputs(tmp_path: Path) -> None:
    task = TASKS.get("transfer")
    assert task.in_default_run
    spec = RunSpec(
        rep="dct-square",
        data="synth-piano?n=20",
        tasks=["transfer"],
        params={"transfer": {"n_clips": 2, "n_boot": 100, "psnr": [40, 50]}},
        out=tmp_path / "run",
        progress=False,
    )
    result, run_dir = run_benchmark(spec)
    body = result["tasks"]["transfer"]
    keys = {m["key"] for m in body["metrics"]}
    for name in ("esr", "mrstft", "audibility"):
        for cond in ("error=noise,psnr=40", "error=quant8", "error=shift-rows", "error=shift-cols"):
            assert f"{name}[{cond}]" in keys, (name, cond)
    assert {"grain_slope[error=noise]", "grain_level[error=noise]"} <= keys
    curves = body["data"]["curves"]
    assert set(curves) >= {"noise", "quant8", "shift-rows", "shift-cols"}
    assert len(curves["noise"]["esr"]) == 2 and all(
        math.isfinite(v) for v in curves["noise"]["esr"]
    )
    names = {Path(a["path"]).name for a in body["artifacts"]}
    assert {
        "grain_curve.png",
        "clip0_clean.wav",
        "clip0_noise_40db.wav",
        "clip0_quant8.wav",
    } <= names
    for art in body["artifacts"]:
        assert (run_dir / art["path"]).is_file()
