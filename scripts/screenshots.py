"""The README's screenshots: a run's report.html and the board's leaderboard.html, opened in
headless Chromium (Debian's /usr/bin/chromium) through Playwright.

    python scripts/screenshots.py RUN_DIR [--entries leaderboards/entries] [--out docs]

writes ``docs/report.png`` (the top of RUN_DIR's report: headline cards and listen) and
``docs/leaderboard.png`` (the board rendered from ``--entries`` into a temporary folder:
the explorer and the trade-off plot), each as a 256-colour PNG.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from grainbench.leaderboard import write_leaderboard

CHROMIUM = "/usr/bin/chromium"


def shoot(browser, url: str, path: Path, size: tuple[int, int]) -> None:
    """The top ``size`` (CSS pixels) of ``url`` as a 256-colour PNG at ``path``."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url, wait_until="load")
    shot = Image.open(io.BytesIO(page.screenshot()))
    shot.convert("RGB").quantize(256).save(path, optimize=True)
    page.close()
    print(f"wrote {path}")


def main() -> None:
    """Parse the arguments, render the board, take both screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder with report.html")
    parser.add_argument("--entries", type=Path, default=Path("leaderboards/entries"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        write_leaderboard(args.entries, Path(tmp))
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            report = (args.run / "report.html").resolve().as_uri()
            shoot(browser, report, args.out / "report.png", (1280, 1150))
            board = (Path(tmp) / "leaderboard.html").as_uri()
            shoot(browser, board, args.out / "leaderboard.png", (1400, 1300))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
