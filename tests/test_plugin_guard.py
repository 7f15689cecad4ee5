"""Plugin calls: SystemExit and a plugin's own KeyboardInterrupt are reported (exit 2), a
real Ctrl-C still stops the run (exit 130), --plugin-timeout stops a call that hangs, and a
degenerate decoder (zeros, a constant, the same audio for every image) is exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grainbench import guard
from grainbench.cli import main
from grainbench.errors import UserError
from hostile import TINY, env, plugin


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("grainbench: error:"), err
    return err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def fit(self, audio):\n    raise SystemExit(0)\n", "fit raised SystemExit"),
        ("def fit(self, audio):\n    raise KeyboardInterrupt\n", "fit raised KeyboardInterrupt"),
        ("def fit(self, audio):\n    import sys; sys.exit(3)\n", "fit raised SystemExit: 3"),
    ],
)
def test_a_plugin_that_exits_or_interrupts_is_reported(
    tmp_path: Path, capsys, body: str, expected: str
) -> None:
    spec = plugin(tmp_path, body)
    assert main(["run", "--rep", spec, *TINY, "--out", str(tmp_path / "run")]) == 2
    assert expected in _one_line_error(capsys)


def test_a_plugin_that_exits_at_import_is_reported(tmp_path: Path, capsys) -> None:
    path = tmp_path / "quits.py"
    path.write_text("raise SystemExit(0)\n")
    assert main(["run", "--rep", f"{path}:X", *TINY, "--out", str(tmp_path / "run")]) == 2
    assert "import raised SystemExit" in _one_line_error(capsys)


_SLEEPY_FIT = """
def fit(self, audio):
    import time
    from pathlib import Path
    (Path(__file__).parent / "fitting").touch()
    time.sleep(120)
"""


def test_plugin_timeout_stops_a_hanging_call(tmp_path: Path, capsys) -> None:
    spec = plugin(tmp_path, _SLEEPY_FIT)
    args = ["run", "--rep", spec, *TINY, "--out", str(tmp_path / "run")]
    assert main([*args, "--plugin-timeout", "0.5"]) == 2
    err = _one_line_error(capsys)
    assert "fit did not return within 0.5 s (--plugin-timeout)" in err
    assert main([*args, "--plugin-timeout", "-1"]) == 2
    assert "positive" in _one_line_error(capsys)


def test_a_real_ctrl_c_still_stops_the_run(tmp_path: Path) -> None:
    spec = plugin(tmp_path, _SLEEPY_FIT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "grainbench", "run", "--rep", spec, *TINY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 240
    while not (tmp_path / "fitting").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_guard_outside_a_run_treats_every_interrupt_as_the_users() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        guard.call("plugin x", interrupt)
    with guard.plugin_calls(), pytest.raises(UserError, match="plugin x raised KeyboardInterrupt"):
        guard.call("plugin x", interrupt)
    with pytest.raises(UserError, match="plugin x raised SystemExit: 4"):
        guard.call("plugin x", sys.exit, 4)


@pytest.mark.parametrize(
    ("decode", "message"),
    [
        ("return torch.zeros(image.shape[0], 1, 16384)", "constant signal (0)"),
        ("return torch.full((image.shape[0], 1, 16384), 0.25)", "constant signal (0.25)"),
        (
            "return torch.sin(torch.arange(16384.0)).expand(image.shape[0], 1, 16384).contiguous()",
            "ignores its input",
        ),
    ],
)
def test_a_degenerate_decoder_is_exit_2_naming_it(
    tmp_path: Path, capsys, decode: str, message: str
) -> None:
    body = f"def decode(self, image):\n    import torch\n    {decode}\n"
    spec = plugin(tmp_path, body)
    assert main(["run", "--rep", spec, *TINY, "--out", str(tmp_path / "run")]) == 2
    err = _one_line_error(capsys)
    assert "representation my-fold: decode returns" in err and message in err


@pytest.mark.parametrize(
    ("method", "exc", "expected"),
    [
        ("fit", "SystemExit(0)", "fit raised SystemExit"),
        ("fit", "KeyboardInterrupt", "fit raised KeyboardInterrupt"),
    ],
)
def test_a_generator_that_exits_is_reported(
    tmp_path: Path, capsys, method: str, exc: str, expected: str
) -> None:
    gen = tmp_path / "gen.py"
    gen.write_text(
        "class G:\n"
        "    def __init__(self, image_shape):\n        self.shape = image_shape\n"
        f"    def fit(self, images, labels=None):\n        raise {exc}\n"
        "    def sample(self, n, labels=None, seed=0):\n        raise SystemExit(0)\n"
    )
    args = ["run", "--rep", "waveform-square", "--data", "synth-piano?n=80", "--no-progress"]
    args += ["--task", "generation", "--gen", f"{gen}:G", "--out", str(tmp_path / "run")]
    assert main(args) == 2
    assert f"generator {gen}:G: {expected}" in _one_line_error(capsys)
