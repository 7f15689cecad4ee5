"""report.html: content checks, and a real run opened in headless Chromium through Playwright.

The browser test needs Debian's ``/usr/bin/chromium`` (``apt-get install chromium``) and the
``playwright`` Python package; without either it is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from grainbench.leaderboard import submit, write_leaderboard
from grainbench.registry import TASKS
from grainbench.report import render_report, write_report
from grainbench.runner import RunSpec, run_benchmark

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Small values for whichever of these parameters a registered task has.
SMALL = {
    "n_examples": 1,
    "n_boot": 100,
    "batch_size": 8,
    "n_clips": 2,
    "n_base": 2,
    "n_pixels": 32,
    "n_gabor": 16,
    "n_wavs": 2,
    "n_grid": 4,
    "fd_boot": 20,
    "kid_boot": 100,
    "ndb_subsets": 10,
}
# The generation task's own small settings (the oracle generator needs no training).
SMALL_GENERATION = {"embeddings": ["spectral-stats"], "pitch_model": "crepe-tiny?hop=800"}
DATA = "synth-piano?n=80"  # 8 test clips and 24 held-out training clips: two sides of 16


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real run of every registered task (generation with the oracle generator)."""
    tasks = [e.name for e in TASKS.entries()]
    params = {}
    for name in tasks:
        defaults = TASKS.get(name).default_params()
        params[name] = {k: v for k, v in SMALL.items() if k in defaults}
    params["generation"].update(SMALL_GENERATION)
    out = tmp_path_factory.mktemp("report") / "run"
    run_benchmark(
        RunSpec(
            rep="dct-square",
            data=DATA,
            tasks=tasks,
            params=params,
            out=out,
            progress=False,
            gen="oracle",
        )
    )
    return out


def _artifacts(run: Path, kind: str) -> list[str]:
    import json

    result = json.loads((run / "result.json").read_text())
    return [
        a["path"]
        for body in result["tasks"].values()
        for a in body["artifacts"]
        if a["kind"] == kind
    ]


def test_every_run_writes_a_self_contained_report(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    pngs, wavs = _artifacts(run_dir, "png"), _artifacts(run_dir, "wav")
    assert pngs and wavs
    images = re.findall(r'<img src="([^"]+)"', page)
    audios = re.findall(r'<audio controls preload="metadata" src="([^"]+)"', page)
    assert sorted(unquote(s) for s in audios) == sorted(wavs)
    assert set(unquote(s) for s in images) == set(pngs)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for text in (
        "dataset fingerprint",
        "suite",
        "machine",
        "clip 0: original",
        "clip 0: png8 round trip",
        "generated clip 0",
        "generated images",
    ):
        assert text in page, text


def test_a_missing_artefact_is_named_not_linked(tmp_path: Path) -> None:
    result = {
        "representation": {"name": "x"},
        "dataset": {"spec": "d"},
        "tasks": {
            "t": {
                "params": {},
                "wall_s": 1.0,
                "metrics": [],
                "artifacts": [{"path": "t/gone.png", "kind": "png", "caption": "a grain curve"}],
            }
        },
    }
    page = render_report(tmp_path, result)
    assert "missing file: t/gone.png" in page and "<img" not in page
    assert write_report(tmp_path, result) == tmp_path / "report.html"


def _open(page, url: str) -> list[str]:
    """Load ``url`` and return console errors and page errors."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(url, wait_until="load")
    return errors


AUDIO_STATE = """
async () => Promise.all(Array.from(document.querySelectorAll('audio')).map(a => new Promise(done => {
  const report = () => done({src: a.getAttribute('src'), ready: a.readyState,
                             duration: a.duration, error: a.error ? a.error.code : null});
  if (a.readyState >= 1) { report(); return; }
  a.addEventListener('loadedmetadata', report, {once: true});
  a.addEventListener('error', report, {once: true});
  setTimeout(report, 15000);
})))
"""

IMAGE_STATE = """
async () => Promise.all(Array.from(document.images).map(async img => {
  try { await img.decode(); } catch (e) {}
  return {src: img.getAttribute('src'), width: img.naturalWidth};
}))
"""


@pytest.mark.browser
def test_report_and_board_load_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright Python package is missing (pip install playwright)")
    from playwright.sync_api import sync_playwright

    entry = submit(run_dir, tmp_path / "entries")
    write_leaderboard(tmp_path / "entries", tmp_path / "board")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors = _open(page, (run_dir / "report.html").as_uri())
            images = page.evaluate(IMAGE_STATE)
            audios = page.evaluate(AUDIO_STATE)
            assert errors == []
            assert {unquote(img["src"]) for img in images} == set(_artifacts(run_dir, "png"))
            assert all(img["width"] > 0 for img in images), images
            assert len(audios) == len(_artifacts(run_dir, "wav"))
            clip_s = 16384 / 16000
            for audio in audios:
                assert audio["error"] is None and audio["ready"] >= 1, audio
                assert audio["duration"] == pytest.approx(clip_s, abs=0.01), audio
            for url in (entry / "report.html", tmp_path / "board" / "leaderboard.html"):
                page = browser.new_page()
                errors = _open(page, url.as_uri())
                images = page.evaluate(IMAGE_STATE)
                assert errors == [] and images, url
                assert all(img["width"] > 0 for img in images), images
        finally:
            browser.close()
