"""The report's parts without a browser: headline sentences and standing (hand-computed),
the grain files to listen to (closed-form gain), the physical image axes (against the
layouts' own frequency and time grids) and the colour scales of the pictures."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from grainbench import frames
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.artifacts import IMAGE_DB_RANGE, image_db
from grainbench.data import load_dataset
from grainbench.leaderboard import scan_entries
from grainbench.plugins import load_representation
from grainbench.report import render_report
from grainbench.report.headline import cards
from grainbench.tasks import listen
from grainbench.tasks.base import MetricValue, RunContext, TaskResult
from grainbench.tasks.image_axes import image_axes
from grainbench.tasks.plots import colour_norm
from test_leaderboard import _board, make_result, write_run

SR, N = 16000, 16384


def _rows(*rows: MetricValue) -> list[dict]:
    return [r.to_json() for r in rows]


def _with_task(task: str, metrics: list[dict], params: dict | None = None) -> dict:
    result = make_result("rep-x", 25.0, 1.5)
    result["tasks"] = {task: {"params": params or {}, "wall_s": 1.0, "metrics": metrics}}
    return result


def test_perturbation_sentence_reads_the_catalogue_headline() -> None:
    energy = {"delta": "2/255", "weight": "energy"}
    metrics = _rows(
        MetricValue("audibility", -14.2, -15.0, -13.1, {**energy, "stat": "median"}),
        MetricValue("audibility", 3.1, 2.0, 4.0, {**energy, "stat": "p95"}),
        MetricValue("audibility", -30.0, -31.0, -29.0, {"delta": "2/255", "stat": "median"}),
    )
    (card,) = cards(_with_task("perturbation", metrics), None)
    assert card.head["key"] == "audibility[delta=2/255,stat=median,weight=energy]"
    assert card.sentence == (
        "A GAN-sized pixel error (2/255, one 8-bit step) is 14 dB below the masking threshold "
        "in the median pixel that carries sound; at least 5 % of such pixels are audible (the "
        "95th percentile is 3.1 dB above it)."
    )
    assert card.standing == [
        "no leaderboard to rank against (set GRAINBENCH_BOARD to a board folder)"
    ]


def test_transfer_locality_and_roundtrip_sentences() -> None:
    noise = {"error": "noise"}
    transfer = _rows(
        MetricValue("grain_level", -32.0, -33.0, -31.0, noise),
        MetricValue("audibility", -6.5, -7.0, -6.0, {**noise, "psnr": 40}),
        MetricValue("grain_slope", -1.0, -1.1, -0.9, noise),
    )
    (card,) = cards(_with_task("transfer", transfer), None)
    assert card.sentence == (
        "White image noise at 40 dB PSNR (a good generator's error) comes back as a sound "
        "error 32 dB below the sound itself, 6.5 dB below the masking threshold in its worst "
        "frame; every 10 dB cleaner image lowers it by 10 dB."
    )
    cond = {"direction": "down", "weight": "energy"}
    locality = _rows(
        MetricValue("neighbour_distance", 0.42, 0.4, 0.44, cond),
        MetricValue("local_fraction", 0.87, 0.85, 0.9, cond),
    )
    params = {"time_scale_s": 0.01, "freq_scale_erb": 1.0}
    (card,) = cards(_with_task("locality", locality, params), None)
    assert card.head["key"] == "neighbour_distance[direction=down,weight=energy]"
    assert card.sentence == (
        "Vertically neighbouring pixels that carry sound make sounds a median distance of 0.42 "
        "apart (1 = 10 ms or 1 ERB); 87 % of such pairs are local (distance ≤ 1)."
    )
    roundtrip = _rows(
        MetricValue("snr", 41.23, 41.0, 41.5, {"codec": "png8"}),
        MetricValue("snr", 88.0, 87.0, 89.0, {"codec": "png16"}),
    )
    (card,) = cards(_with_task("roundtrip", roundtrip), None)
    assert card.sentence == (
        "Stored as an 8-bit PNG (what StyleGAN's dataset tool stores), a clip comes back at "
        "41.2 dB SNR (88.0 dB as a 16-bit PNG)."
    )


def test_a_headline_other_than_the_sentences_metric_gets_the_catalogue_sentence() -> None:
    metrics = _rows(MetricValue("clipped_fraction", 0.25, 0.2, 0.3, {"row": "generator"}))
    (card,) = cards(_with_task("generation", metrics), None)
    assert card.head["key"] == "clipped_fraction[row=generator]"
    assert card.sentence.endswith("(clipped_fraction[row=generator]): 0.25.")
    assert "Fréchet" not in card.sentence


def test_standing_ranks_on_the_same_data_and_judges_against_dct_square(tmp_path: Path) -> None:
    specs = [("rep-a", 10.0, 3.0, {}), ("rep-b", 30.0, 2.0, {}), ("dct-square", 20.0, 1.0, {})]
    specs.append(("rep-far", 99.0, 0.1, {"fingerprint": "cd" * 32}))  # other data: not counted
    board = frames.board_frame(scan_entries(_board(tmp_path, specs))[0])
    (card,) = cards(make_result("rep-x", 25.0, 1.5), board)
    assert card.head["key"] == "snr[codec=png8]"
    assert card.standing[0].startswith("rank 2 of 4 among the board's roundtrip entries")
    # 25 ± 1 against 20 ± 1: d = +5, σ_d = √2/1.96 → [5 − 1.414, 5 + 1.414]
    assert card.standing[1].endswith("+5 dB [+3.59, +6.41], significantly better")


def test_report_opens_on_the_headline_then_listen_and_folds_provenance(tmp_path: Path) -> None:
    result = make_result("rep-x", 25.0, 1.5)
    run = write_run(tmp_path / "run", result)
    body = result["tasks"]["roundtrip"]
    body["data"]["listen"] = [
        {
            "label": "clip 0: test",
            "clean": "roundtrip/clip0_original.wav",
            "grain": "roundtrip/gone.wav",
            "grain_gain_db": 6.0,
        }
    ]
    page = render_report(run, result)
    order = [page.index(f'<section id="{s}"') for s in ("headline", "listen", "look")]
    order.append(page.index('<section id="provenance"><h2>Provenance and parameters</h2><details>'))
    assert order == sorted(order)
    assert (
        'src="roundtrip/clip0_original.wav"' in page and "missing file: roundtrip/gone.wav" in page
    )
    assert "(amplified +6.0 dB)" in page


def _ctx(tmp_path: Path) -> RunContext:
    rep = SimpleNamespace(sample_rate=SR)
    return RunContext(rep, None, 0, tmp_path, tmp_path / "t", torch.device("cpu"), lambda i, **_: i)


def test_grain_alone_is_the_difference_brought_to_minus_20_dbfs(tmp_path: Path) -> None:
    t = np.arange(4000) / SR
    clean = 0.5 * np.sin(2 * np.pi * 440 * t)[None]
    grainy = clean + 1e-3 * np.sin(2 * np.pi * 3000 * t)[None]
    result = TaskResult()
    listen.grain_rows(
        _ctx(tmp_path), result, 0, ("t/clean.wav", clean), {"x": ("c", "t/x.wav", grainy)}
    )
    (row,) = listen.listen_rows({"data": result.data})
    audio, rate = sf.read(tmp_path / row["grain"], always_2d=True)
    rms = math.sqrt(np.mean(audio**2))
    assert rate == SR and 20 * math.log10(rms) == pytest.approx(-20.0, abs=0.01)
    # the 1e-3 sine has RMS 1e-3/√2: gain 0.1·√2/1e-3
    assert row["grain_gain_db"] == pytest.approx(
        20 * math.log10(0.1 * math.sqrt(2) / 1e-3), abs=1e-6
    )
    assert (row["clean"], row["grainy"]) == ("t/clean.wav", "t/x.wav")


def test_grain_gain_stops_short_of_clipping() -> None:
    spike = np.zeros(1000)
    spike[0] = 0.01  # RMS 0.01/√1000: −20 dBFS would need a peak of 3.16
    assert listen.grain_gain(spike) == pytest.approx(listen.GRAIN_PEAK / 0.01)
    assert listen.grain_gain(np.zeros(10)) == 1.0


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


def _axes(name: str, data):
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train))
    with torch.no_grad():
        image = rep.encode(torch.from_numpy(data.test[:1]))
        decoded = rep.decode(image)
    return image_axes(PixelErrors(rep), ErrorAnalyser(SR, N), image, decoded, 2 / 255)


def test_folded_dct_has_frequency_along_its_rows_only(data) -> None:
    axes = _axes("dct-square", data)
    assert axes.rows.quantity == "frequency" and axes.cols is None
    # row r, columns 32 and 64 (the two lines): DCT bins 128·r + 48 on average, f = k·sr/2N
    ref = (np.arange(128) * 128 + 48) * SR / (2 * N)
    assert np.max(np.abs(axes.rows.values[8:] / ref[8:] - 1)) < 0.05


def test_mdct_has_time_along_its_columns_and_a_curve_has_no_axes(data) -> None:
    axes = _axes("mdct", data)
    assert axes.rows.quantity == "frequency" and axes.cols.quantity == "time"
    centres = (np.arange(128) + 0.5) * N / 128 / SR  # hop N/128 samples
    assert np.max(np.abs(axes.cols.values - centres)) < 0.01
    hilbert = _axes("dct-hilbert", data)
    assert hilbert.rows is None and hilbert.cols is None


def test_colour_scales_are_db_linear_or_log_over_the_central_range() -> None:
    db = np.linspace(-60.0, 0.0, 101)
    norm, note = colour_norm(db, "dB")
    assert note == "" and (norm.vmin, norm.vmax) == pytest.approx((-59.4, -0.6))
    spread = np.geomspace(1e-3, 1.0, 101)
    norm, note = colour_norm(spread, "s")
    assert note == ", log scale" and norm.vmin == pytest.approx(np.percentile(spread, 1))
    image = np.array([[[0.0, 1e-6, 0.1, 1.0]]])
    levels, lo, hi = image_db(image)
    assert levels[0, 0, 0] == -np.inf and levels[0, 0, 3] == 0.0
    assert hi == 0.0 and lo == -IMAGE_DB_RANGE  # the 1st percentile (−118 dB) is too far down
