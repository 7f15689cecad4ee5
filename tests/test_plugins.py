"""Representations written from SPEC section 2 alone load from a file; broken ones end
with exit code 2 and one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.plugins import load_generator, load_representation

GOOD = """
import torch

class Folded:
    name = "my-fold"
    sample_rate = 16000
    n_samples = 16384
    n_channels = 1

    def encode(self, audio):
        return audio.reshape(audio.shape[0], 1, 128, 128).flip(-1)

    def decode(self, image):
        return image.flip(-1).reshape(image.shape[0], 1, 16384)
"""

BROKEN = {
    "raises": GOOD.replace(
        "return audio.reshape", "raise RuntimeError('boom')\n        return audio.reshape"
    ),
    "nan": GOOD.replace("return image.flip(-1)", "return float('nan') * image.flip(-1)"),
    "wrong_shape": GOOD.replace(
        "reshape(image.shape[0], 1, 16384)", "reshape(image.shape[0], 16384)"
    ),
    "wrong_dtype": GOOD.replace(".flip(-1)\n\n", ".flip(-1).double()\n\n", 1),
    "missing_attr": GOOD.replace("    n_channels = 1\n", ""),
    "missing_method": GOOD.replace("def decode", "def _decode"),
    "bad_import": "import no_such_module_anywhere\n" + GOOD,
    "ctor_raises": GOOD.replace(
        'name = "my-fold"', 'name = "x"\n    def __init__(self):\n        1 / 0'
    ),
}


def write(tmp_path: Path, text: str, name: str = "rep.py") -> Path:
    """Write a plugin file."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_plugin_loads_and_reports_its_shape(tmp_path: Path) -> None:
    rep = load_representation(f"{write(tmp_path, GOOD)}:Folded")
    assert rep.name == "my-fold"
    assert rep.image_shape == (1, 128, 128)
    x = torch.rand(3, 1, 16384) * 2 - 1
    assert torch.equal(rep.decode(rep.encode(x)), x)
    assert len(rep.source_hash) == 64


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_a_user_error(tmp_path: Path, case: str) -> None:
    path = write(tmp_path, BROKEN[case])
    with pytest.raises(UserError):
        load_representation(f"{path}:Folded")


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_cli_exit_code_2_and_one_line(tmp_path: Path, case: str, capsys) -> None:
    path = write(tmp_path, BROKEN[case])
    code = main(
        ["run", "--rep", f"{path}:Folded", "--data", "synth-piano", "--out", str(tmp_path / "run")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("grainbench: error:")


def test_missing_file_and_class(tmp_path: Path, capsys) -> None:
    assert main(["run", "--rep", f"{tmp_path}/nope.py:X", "--data", "synth-piano"]) == 2
    path = write(tmp_path, GOOD)
    assert main(["run", "--rep", f"{path}:NoSuchClass", "--data", "synth-piano"]) == 2
    assert main(["run", "--rep", "no-such-rep", "--data", "synth-piano"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 3 and "unknown representation" in errs[2]


def test_no_traceback_end_to_end(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN["nan"])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grainbench",
            "run",
            "--rep",
            f"{path}:Folded",
            "--data",
            "synth-piano",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "NaN" in proc.stderr


def test_generator_without_sample_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path, "class G:\n    def fit(self, images, labels=None):\n        pass\n", "gen.py"
    )
    with pytest.raises(UserError, match="sample"):
        load_generator(f"{path}:G", (1, 8, 8))


def test_the_readme_example_plugin_round_trips_exactly() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "my_rep.py"
    rep = load_representation(f"{example}:MyRep", sample_rate=44100, n_samples=65536)
    assert rep.image_shape == (1, 256, 256)
    audio = torch.linspace(-1, 1, 2 * 65536).reshape(2, 1, 65536)
    image = rep.encode(audio)
    assert torch.equal(image[0, 0, :, 0], audio[0, 0, :256])  # a column is 256 samples
    assert torch.equal(rep.decode(image), audio)
