"""report.html and leaderboard.html: content checks, and both opened in headless Chromium
through Playwright: no console errors, every picture rendered (not blank) with alt text,
every sound loaded and playing, the headline sentences as in result.json, the board's
sorting, filtering and scatter. Screenshots go to ``$GRAINBENCH_SCREENSHOTS`` (default: a
``screenshots`` folder in pytest's temporary folder, kept for the last runs).

The browser tests need Debian's ``/usr/bin/chromium`` (``apt-get install chromium``) and the
``playwright`` Python package; without either they are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from grainbench.leaderboard import headline_key, submit, write_leaderboard
from grainbench.registries import TASKS
from grainbench.report import render_report, write_report
from grainbench.report.headline import cards
from grainbench.results import load_result
from grainbench.runner import RunSpec, run_benchmark
from grainbench.tables import format_value

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
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
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
    """A tiny real run of every registered task that the oracle generator serves (all but
    ``reconstruction``, which needs a generator that rebuilds clips: DDSP)."""
    tasks = [e.name for e in TASKS.entries() if e.name != "reconstruction"]
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
    assert set(unquote(s) for s in audios) == set(wavs)  # a clean clip plays in several rows
    assert set(unquote(s) for s in images) == set(pngs) | {"report/grain_curves.png"}
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


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright (skipped, with the reason, without it)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright Python package is missing (pip install playwright)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots are kept."""
    folder = os.environ.get("GRAINBENCH_SCREENSHOTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _open(browser, url: str):
    """A page with ``url`` loaded, and the list its console and page errors go to."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(url, wait_until="load")
    return page, errors


def _check_images(page) -> int:
    """Every picture has alt text and renders with more than one colour; returns how many."""
    from PIL import Image

    images = page.locator("img")
    for i in range(images.count()):
        img = images.nth(i)
        assert (img.get_attribute("alt") or "").strip(), img.get_attribute("src")
        assert img.evaluate("async e => { await e.decode(); return e.naturalWidth; }") > 0
        shot = Image.open(io.BytesIO(img.screenshot())).convert("RGB")
        lo_hi = shot.getextrema()
        assert any(lo < hi for lo, hi in lo_hi), f"blank picture {img.get_attribute('src')}"
    return images.count()


PLAY_ALL = """
async () => Promise.all(Array.from(document.querySelectorAll('audio')).map(async a => {
  const when = (event, ok) => new Promise(done => {
    if (ok()) { done(); return; }
    const t = setTimeout(done, 15000);
    a.addEventListener(event, () => { clearTimeout(t); done(); }, {once: true});
    a.addEventListener('error', () => { clearTimeout(t); done(); }, {once: true});
  });
  a.preload = 'auto';
  a.load();
  await when('canplay', () => a.readyState >= 2);
  const ready = a.readyState;
  let played = false;
  if (!a.error) {
    a.muted = true;
    try { await a.play(); } catch (e) {}
    await when('timeupdate', () => a.currentTime > 0);
    await new Promise(done => setTimeout(done, 200));
    played = a.currentTime > 0;
    a.pause();
  }
  return {src: a.getAttribute('src'), ready, played, duration: a.duration,
          error: a.error ? a.error.code : null};
}))
"""


@pytest.mark.browser
def test_report_in_headless_chromium(run_dir: Path, browser, shots: Path) -> None:
    result = load_result(run_dir)
    page, errors = _open(browser, (run_dir / "report.html").as_uri())
    page.screenshot(path=str(shots / "report.png"), full_page=True)
    assert _check_images(page) == len(set(_artifacts(run_dir, "png"))) + 1  # + grain curves
    audios = page.evaluate(PLAY_ALL)
    assert {unquote(a["src"]) for a in audios} == set(_artifacts(run_dir, "wav"))
    for audio in audios:
        assert audio["error"] is None and audio["ready"] >= 2 and audio["played"], audio
        assert audio["duration"] == pytest.approx(16384 / 16000, abs=0.01), audio
    assert errors == []
    # the headline cards, first on the page, say what result.json says
    assert page.locator("section").first.get_attribute("id") == "headline"
    expected = {c.task: c for c in cards(result, None)}
    shown = page.locator(".card")
    assert shown.count() == len(result["tasks"])
    for i in range(shown.count()):
        card = shown.nth(i)
        task = card.get_attribute("data-task")
        metrics = result["tasks"][task]["metrics"]
        head = next(m for m in metrics if m["key"] == headline_key(task, metrics))
        assert card.locator(".sentence").inner_text() == expected[task].sentence
        assert card.locator(".metric strong").inner_text() == format_value(head["value"])
        if task == "perturbation":  # "… is 14 dB below the masking threshold …"
            said = re.search(r"is ([\d.]+) dB (below|above) the masking", expected[task].sentence)
            assert said and float(said[1]) == pytest.approx(abs(head["value"]), abs=0.5)
            assert said[2] == ("below" if head["value"] < 0 else "above")


def _visible(page, column: int) -> list[str]:
    """The ``data-v`` of ``column`` in the board's visible rows, top to bottom."""
    return page.eval_on_selector_all(
        "#board tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{column}].dataset.v)"
    )


@pytest.mark.browser
def test_board_sorts_filters_and_plots(run_dir: Path, browser, shots: Path, tmp_path) -> None:
    from test_leaderboard import make_result, write_run

    entries = tmp_path / "entries"
    submit(run_dir, entries)
    snr = {"rep-a": 10.0, "fft-b": 30.0, "fft-c": 20.0}
    for i, (rep, value) in enumerate(snr.items()):
        result = make_result(rep, value, 1.0 + i)
        for row in result["tasks"]["roundtrip"]["metrics"]:
            if row["name"] == "lsd":  # the in-band LSD: the task's key metric
                row["condition"]["band"] = "signal"
                row["key"] = "lsd[band=signal,codec=png8]"
        submit(write_run(tmp_path / f"run{i}", result), entries)
    write_leaderboard(entries, tmp_path / "board")
    page, errors = _open(browser, (tmp_path / "board" / "leaderboard.html").as_uri())
    assert _check_images(page) > 0
    assert errors == []
    assert len(_visible(page, 0)) == 4
    heads = page.locator("#board thead th")
    column = next(
        i for i in range(heads.count()) if heads.nth(i).get_attribute("data-task") == "roundtrip"
    )
    heads.nth(column).locator("button").click()
    values = [float(v) for v in _visible(page, column)]
    assert values == sorted(values) and len(values) == 4
    heads.nth(column).locator("button").click()
    assert [float(v) for v in _visible(page, column)] == sorted(values, reverse=True)
    assert heads.nth(column).get_attribute("aria-sort") == "descending"
    page.select_option("#f-family", "fft")
    fams = page.eval_on_selector_all(
        "#board tbody tr:not([hidden])", "r => r.map(x => x.dataset.family)"
    )
    assert fams == ["fft", "fft"]
    assert page.inner_text("#f-count") == "2 of 4 entries"
    page.select_option("#x-metric", "roundtrip:snr[codec=png8]")
    page.select_option("#y-metric", "roundtrip:lsd[band=signal,codec=png8]")
    plotted = page.eval_on_selector_all(
        "#scatter g[data-entry]", "g => g.map(x => x.dataset.entry)"
    )
    assert sorted(plotted) == sorted(e for e in _visible(page, 0))
    page.select_option("#f-family", "")
    page.fill("#f-text", "rep-a")
    assert len(_visible(page, 0)) == 1 and page.inner_text("#f-count") == "1 of 4 entries"
    page.fill("#f-text", "")
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)
    assert errors == []
