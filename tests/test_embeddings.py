"""Embeddings: the interface, hand-computed spectral statistics, VGGish shapes, the cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from grainbench import mel
from grainbench.errors import UserError
from grainbench.metrics import embeddings as E
from grainbench.metrics import melspec, ndb, vggish

SR = 16000
N = 16384


def _tone(freq: float, amp: float = 0.5, n: int = N, sr: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)[None, None]


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    from grainbench.data import load_dataset

    ds = load_dataset("synth-piano?n=10", sample_rate=SR, n_samples=N, n_channels=1, progress=False)
    return ds.train[:3]


def test_registry_names_dims_and_shapes(clips: np.ndarray) -> None:
    for name, dim in [("crepe-tiny", 256), ("spectral-stats", 138)]:
        emb = E.get_embedding(name)
        assert emb.name == name and emb.dim == dim
        out = emb.embed(clips, SR)
        assert out.shape == (3, dim) and out.dtype == np.float64 and np.isfinite(out).all()
        assert not np.allclose(out[0], out[1])
    assert E.get_embedding("crepe-full").dim == 2048
    assert E.get_embedding("spectral-stats", n_mels=32).dim == 74


def test_unknown_names_and_options_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown embedding"):
        E.get_embedding("clap")
    with pytest.raises(UserError, match="no option"):
        E.get_embedding("crepe-tiny", n_mels=3)
    with pytest.raises(UserError):
        E.get_embedding("crepe-tiny", hop="ten")
    with pytest.raises(UserError, match="weights"):
        E.get_embedding("vggish")
    with pytest.raises(UserError):
        E.embedding_from_spec("crepe-tiny?hop")


def test_spec_parsing_passes_options() -> None:
    emb = E.embedding_from_spec("crepe-tiny?hop=320")
    assert (
        isinstance(emb, E.CrepeEmbedding)
        and emb.hop == 320
        and emb.cache_name == "crepe-tiny-hop320"
    )
    assert E.embedding_from_spec("spectral-stats?n_mels=16").dim == 42


def test_channels_are_averaged(clips: np.ndarray) -> None:
    emb = E.get_embedding("spectral-stats")
    stereo = np.concatenate([clips, clips], axis=1)
    assert np.allclose(emb.embed(stereo, SR), emb.embed(clips, SR))
    assert np.allclose(emb.embed(torch.from_numpy(clips), SR), emb.embed(clips, SR))


def test_mel_scale_and_filters_by_hand() -> None:
    assert mel.hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)  # HTK: 2595·log10(1 + 1000/700)
    assert mel.mel_to_hz(mel.hz_to_mel(3210.0)) == pytest.approx(3210.0)
    bank = melspec.mel_filterbank(512, SR, 10, 0.0, 8000.0)
    assert bank.shape == (10, 257)
    centres = mel.mel_to_hz(np.linspace(0.0, mel.hz_to_mel(8000.0), 12))[1:-1]
    freqs = np.linspace(0, 8000, 257)
    for m in range(10):
        peak = freqs[int(bank[m].argmax())]
        assert abs(peak - centres[m]) <= 8000 / 256  # the peak is at the bin nearest the centre
        assert float(bank[m].max()) <= 1.0
    with pytest.raises(UserError):
        melspec.mel_filterbank(512, SR, 10, 0.0, 9000.0)


def test_spectral_stats_of_a_pure_tone_by_hand() -> None:
    emb = E.get_embedding("spectral-stats")
    v = emb.embed(_tone(1000.0, amp=0.5), SR)[0]
    m = 64
    centres = mel.mel_to_hz(np.linspace(mel.hz_to_mel(20.0), mel.hz_to_mel(SR / 2), m + 2))[1:-1]
    assert int(v[:m].argmax()) == int(np.abs(centres - 1000.0).argmin())
    centroid, bandwidth, rolloff, flatness, rms = v[2 * m :: 2]
    assert centroid == pytest.approx(1.0, abs=0.01)  # kHz
    assert bandwidth < 0.05
    assert rolloff == pytest.approx(1.0, abs=0.03)
    assert -10.0 <= flatness < -5.0  # a tone is as far from flat as the floor allows
    assert rms == pytest.approx(np.log10(0.5**2 / 2), abs=0.03)  # bels of A²/2
    noise = np.random.default_rng(0).normal(size=(1, 1, N)).astype(np.float32) * 0.1
    assert emb.embed(noise, SR)[0, 2 * m + 6] > -0.5  # white noise is nearly flat


def test_silence_gives_finite_features() -> None:
    silent = np.zeros((2, 1, N), np.float32)
    assert np.isfinite(E.get_embedding("spectral-stats").embed(silent, SR)).all()
    assert np.isfinite(ndb.ndb_features(silent, SR)).all()


def test_inaudible_noise_in_silence_barely_moves_the_features() -> None:
    # A note then digital silence, against the same with rounding-level noise (−160 dB).
    clip = _tone(440.0)
    clip[..., N // 2 :] = 0.0
    noisy = clip + np.random.default_rng(0).normal(size=clip.shape).astype(np.float32) * 1e-8
    emb = E.get_embedding("spectral-stats")
    a, b = emb.embed(clip, SR), emb.embed(noisy, SR)
    assert np.abs(a - b).max() < 1e-3
    assert np.abs(ndb.ndb_features(clip, SR) - ndb.ndb_features(noisy, SR)).max() < 0.01  # dB


def test_ndb_features_shape_and_level() -> None:
    feats = ndb.ndb_features(_tone(1000.0), SR, n_mels=8, n_segments=4)
    assert feats.shape == (1, 32)
    per_band = feats.reshape(8, 4)  # (band, time segment), dB
    centres = mel.mel_to_hz(np.linspace(mel.hz_to_mel(20.0), mel.hz_to_mel(SR / 2), 10))[1:-1]
    band = int(np.abs(centres - 1000.0).argmin())
    assert (per_band.argmax(0) == band).all()
    assert np.ptp(per_band[band]) < 1.0  # a steady tone: the same level in every segment


def test_standardisation_uses_the_reference_statistics_only() -> None:
    rng = np.random.default_rng(3)
    spreads = np.array([1.0, 10.0, 4.0, 0.01, 0.0])  # the last is constant
    ref = rng.normal(size=(50, 5)) * spreads + np.array([0.0, 5.0, 2.0, -10.0, 3.0])
    st = E.Standardisation.of(ref)
    std = ref.std(0, ddof=1)
    floor = np.median(std[:4])  # the median of the nonzero spreads
    np.testing.assert_allclose(st.mean, ref.mean(0))
    np.testing.assert_allclose(st.scale, np.maximum(std, floor))
    assert st.scale[1] == pytest.approx(std[1]) and st.scale[3] == pytest.approx(floor)
    assert (st.floor, st.n_reference, st.n_floored) == (pytest.approx(floor), 50, 3)
    other = rng.normal(size=(30, 5)) * 100.0
    np.testing.assert_allclose(st.apply(other), (other - ref.mean(0)) / np.maximum(std, floor))
    own = st.apply(ref)
    np.testing.assert_allclose(own.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(own[:, 1].std(ddof=1), 1.0)
    assert E.get_embedding("spectral-stats").raw_units
    assert not E.get_embedding("crepe-tiny").raw_units
    with pytest.raises(UserError):
        E.Standardisation.of(np.ones((1, 3)))


def test_crepe_embedding_features_hold_the_pitch_track(clips: np.ndarray) -> None:
    emb = E.get_embedding("crepe-tiny", hop=400)
    feats = emb.features(clips, SR)
    assert set(feats) == {"embedding", "cents", "confidence", "salience_sum"}
    analysis = emb.analysis(feats)
    assert analysis.median_pitch_hz().shape == (3,)


def test_vggish_architecture_shapes() -> None:
    net = vggish.VGGish()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 96, 64))
    assert out.shape == (2, 128)
    assert net.embeddings[0].in_features == 512 * 6 * 4
    convs = [k for k in net.state_dict() if k.endswith("weight") and k.startswith("features.")]
    assert convs == [f"features.{i}.weight" for i in (0, 3, 6, 8, 11, 13)]
    examples, per_clip = vggish.vggish_examples(torch.zeros(3, 2 * 16000))
    assert per_clip == 2 and examples.shape == (6, 1, 96, 64)  # 2 s → two 0.96 s examples
    short, one = vggish.vggish_examples(torch.zeros(1, 1000))
    assert one == 1 and short.shape == (1, 1, 96, 64)


@pytest.fixture(scope="module")
def vggish_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One random VGGish state dict, as a torch file (with extra keys) and as safetensors."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("vggish")
    torch.manual_seed(0)
    state = vggish.VGGish().state_dict()
    pth, st = folder / "vggish.pth", folder / "vggish.safetensors"
    torch.save({**state, "pproc._pca_matrix": torch.zeros(128, 128)}, pth)
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    return pth, st


def test_vggish_loads_a_user_state_dict(vggish_files: tuple[Path, Path]) -> None:
    pth, st = vggish_files
    emb = E.get_embedding("vggish", weights=str(pth))
    assert emb.dim == 128 and emb.cache_name.startswith("vggish-")
    reference = torch.load(pth, weights_only=True)
    assert torch.equal(emb.net.embeddings[4].weight, reference["embeddings.4.weight"])
    out = emb.embed(_tone(440.0, n=22050, sr=22050), 22050)
    assert out.shape == (1, 128) and np.isfinite(out).all()
    from_st = E.get_embedding("vggish", weights=str(st))
    assert np.allclose(from_st.embed(_tone(440.0), SR), emb.embed(_tone(440.0), SR))


def test_vggish_rejects_bad_weight_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(UserError, match="not a VGGish state dict"):
        E.get_embedding("vggish", weights=str(bad))
    with pytest.raises(UserError, match="does not exist"):
        E.get_embedding("vggish", weights=str(tmp_path / "missing.pth"))


def test_fad_backend_missing_is_a_clear_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def no_fad(name: str, *args: object) -> object:
        return None if name == "frechet_audio_distance" else real_find_spec(name, *args)

    monkeypatch.setattr(E.importlib.util, "find_spec", no_fad)
    with pytest.raises(UserError, match="frechet-audio-distance"):
        E.get_embedding("fad")


def test_cache_reads_back_and_recovers_from_corruption(
    clips: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = E.get_embedding("spectral-stats")
    first = E.cached_features(emb, clips, SR, cache_dir=tmp_path)
    path = E.embedding_cache_path(emb, clips, SR, cache_dir=tmp_path)
    assert path.is_file() and path.parent == tmp_path / "embeddings"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left

    def fail(*args: object) -> None:
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(emb, "features", fail)
    again = E.cached_features(emb, clips, SR, cache_dir=tmp_path)
    assert np.array_equal(again["embedding"], first["embedding"])
    monkeypatch.undo()
    path.write_bytes(b"not an npz")
    fixed = E.cached_features(emb, clips, SR, cache_dir=tmp_path)
    assert np.array_equal(fixed["embedding"], first["embedding"])
    # Other clips (another dataset, another selection of its clips), another sample rate or
    # another option is a different entry.
    other = E.embedding_cache_path(
        E.get_embedding("spectral-stats", n_mels=32), clips, SR, tmp_path
    )
    assert other != path
    assert E.embedding_cache_path(emb, clips[:2], SR, tmp_path) != path
    assert E.embedding_cache_path(emb, clips[[0, 2, 1]], SR, tmp_path) != path
    changed = clips.copy()
    changed[1, 0, 100] += 1e-6
    assert E.embedding_cache_path(emb, changed, SR, tmp_path) != path
    assert E.embedding_cache_path(emb, clips, 22050, tmp_path) != path


def test_cache_entry_with_wrong_row_count_is_recomputed(
    clips: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emb = E.get_embedding("spectral-stats")
    path = E.embedding_cache_path(emb, clips, SR, cache_dir=tmp_path)
    E.cached_features(emb, clips[:2], SR, cache_dir=tmp_path)
    E.embedding_cache_path(emb, clips[:2], SR, cache_dir=tmp_path).rename(path)
    out = E.cached_features(emb, clips, SR, cache_dir=tmp_path)
    assert out["embedding"].shape[0] == 3
    assert "wrong number of rows" in capsys.readouterr().err


def test_unwritable_cache_still_computes(clips: np.ndarray, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    out = E.cached_features(E.get_embedding("spectral-stats"), clips, SR, blocked)
    assert out["embedding"].shape == (3, 138)
    assert os.path.isfile(blocked)
