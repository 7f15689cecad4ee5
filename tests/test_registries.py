"""Registration: grainbench's built-ins and third-party packages (``grainbench.plugins``
entry points) fill the registries; plugin classes load from ``package.module:Class``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from grainbench import registries
from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.plugins import Representation, load_generator, load_representation
from test_plugins import GOOD

SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN = (
    GOOD.replace('name = "my-fold"', 'name = "fake-fold"')
    + '''
import numpy as np

from grainbench.data.core import RawClips, Setting


def fold(sample_rate=None, n_samples=None):
    """A flipped fold, from a third-party package."""
    return Folded()


class TonePlan:
    def defaults(self):
        return Setting(16000, 1024, 1)

    def key_material(self):
        return {}

    def build(self, setting, progress):
        t = np.arange(setting.n_samples) / setting.sample_rate
        pitches = np.arange(48, 68)
        freqs = 440.0 * 2.0 ** ((pitches - 69) / 12)
        clips = 0.5 * np.sin(2 * np.pi * freqs[:, None] * t)
        clips = np.repeat(clips[:, None, :], setting.n_channels, axis=1).astype(np.float32)
        return RawClips(clips, pitches.astype(np.int64), params={"tones": len(pitches)})


class Tones:
    name = "fake-tones"
    summary = "twenty sine tones"
    version = "1"
    cached = False
    takes_path = False

    def plan(self, path, options):
        return TonePlan()


def register(registries):
    registries.representations.register("fake-fold", fold, "a flipped fold")
    registries.datasets.register("fake-tones", Tones(), Tones.summary)
'''
)


@pytest.fixture(autouse=True)
def _forget_the_fake_module() -> None:
    """Each test imports its own ``fakegrain_plugin``."""
    yield
    sys.modules.pop("fakegrain_plugin", None)


def fake_distribution(root: Path, entry_points: str, module: str = PLUGIN) -> Path:
    """A distribution ``fakegrain`` installed in ``root`` (its ``.dist-info`` with
    ``entry_points.txt`` and the module ``fakegrain_plugin``), as pip would lay it out."""
    info = root / "fakegrain-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakegrain\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (root / "fakegrain_plugin.py").write_text(textwrap.dedent(module))
    return root


GOOD_POINTS = """
    [grainbench.plugins]
    fakegrain = fakegrain_plugin:register
    grainbench = grainbench.builtins:register
"""


def _python(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with ``root`` (a fake site directory) on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(SRC)])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)


def test_a_packages_entry_point_registers_beside_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path, GOOD_POINTS)))
    fresh = registries.fresh()
    assert "fake-fold" in fresh.representations and "fake-tones" in fresh.datasets
    assert "dct-square" in fresh.representations and "synth-piano" in fresh.datasets
    assert {e.name for e in fresh.tasks.entries()} == {e.name for e in registries.TASKS.entries()}
    rep = Representation(fresh.representations.get("fake-fold")(), "fake-fold", "x")
    assert rep.image_shape == (1, 128, 128)


def test_without_the_package_its_entries_are_absent() -> None:
    fresh = registries.fresh()
    assert "fake-fold" not in fresh.representations
    assert "dct-square" in fresh.representations


def test_the_cli_lists_and_loads_a_packages_dataset(tmp_path: Path) -> None:
    root = fake_distribution(tmp_path / "site", GOOD_POINTS)
    code = (
        "from grainbench.cli import main; from grainbench.data import load_dataset; "
        "assert main(['list']) == 0; ds = load_dataset('fake-tones', seed=3); "
        "print(ds.name, len(ds.train), len(ds.test), ds.n_samples)"
    )
    proc = _python(root, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "fake-fold" in proc.stdout and "twenty sine tones" in proc.stdout
    assert proc.stdout.split()[-4:] == ["fake-tones", "18", "2", "1024"]


@pytest.mark.parametrize(
    ("points", "module", "reason"),
    [
        ("[grainbench.plugins]\nx = no_such_module_zz:register\n", PLUGIN, "No module named"),
        ("[grainbench.plugins]\nx = fakegrain_plugin:missing\n", PLUGIN, "missing"),
        (
            "[grainbench.plugins]\nx = fakegrain_plugin:register\n",
            PLUGIN.replace('register("fake-fold"', 'register("dct-square"'),
            "registered twice",
        ),
        (
            "[grainbench.plugins]\nx = fakegrain_plugin:register\n",
            PLUGIN + "\nraise RuntimeError('broken package')\n",
            "broken package",
        ),
    ],
)
def test_a_broken_package_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, points: str, module: str, reason: str
) -> None:
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path, points, module)))
    with pytest.raises(UserError, match=reason):
        registries.fresh().representations.entries()


def test_a_broken_package_is_exit_2_and_one_line(tmp_path: Path) -> None:
    points = "[grainbench.plugins]\nx = fakegrain_plugin:register\n"
    root = fake_distribution(tmp_path, points, PLUGIN + "\nraise RuntimeError('broken')\n")
    proc = _python(root, "-m", "grainbench", "list")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "fakegrain_plugin:register: load raised RuntimeError: broken" in proc.stderr


def test_grainbenchs_own_entry_point_is_declared() -> None:
    pyproject = (SRC.parent / "pyproject.toml").read_text()
    assert '[project.entry-points."grainbench.plugins"]' in pyproject
    assert 'grainbench = "grainbench.builtins:register"' in pyproject


@pytest.fixture()
def module_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package ``mygrain`` on ``sys.path`` with a representation and a generator."""
    pkg = tmp_path / "mygrain"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    gen = "\n\nclass Gen:\n    def fit(self, images, labels=None):\n        pass\n"
    gen += "\n    def sample(self, n, seed=0):\n        return None\n"
    (pkg / "reps.py").write_text(textwrap.dedent(PLUGIN) + gen)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg / "reps.py"
    for name in [m for m in sys.modules if m == "mygrain" or m.startswith("mygrain.")]:
        del sys.modules[name]


def test_a_module_spec_loads_a_representation_and_a_generator(module_plugin: Path) -> None:
    rep = load_representation("mygrain.reps:Folded")
    assert rep.name == "fake-fold" and rep.spec == "mygrain.reps:Folded"
    assert rep.source_hash == hashlib.sha256(module_plugin.read_bytes()).hexdigest()
    x = torch.rand(2, 1, 16384) * 2 - 1
    assert torch.equal(rep.decode(rep.encode(x)), x)
    gen = load_generator("mygrain.reps:Gen", (1, 8, 8))
    assert type(gen.plugin).__name__ == "Gen" and gen.spec == "mygrain.reps:Gen"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("mygrain.reps:NoSuchClass", "has no 'NoSuchClass'"),
        ("mygrain.nope:Folded", "No module named 'mygrain.nope'"),
        ("no_such_package_zz.mod:X", "No module named"),
        ("mygrain reps:Folded", "expected package.module:ClassName"),
        ("mygrain.reps:", "expected package.module:ClassName"),
    ],
)
def test_a_bad_module_spec_is_exit_2_and_one_line(
    module_plugin: Path, capsys: pytest.CaptureFixture[str], spec: str, reason: str
) -> None:
    with pytest.raises(UserError, match=reason):
        load_representation(spec)
    code = main(["run", "--rep", spec, "--data", "synth-piano", "--out", str(module_plugin.parent)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and reason in err, err


def test_dataset_specs_resolve_through_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from grainbench import data

    fresh = registries.fresh()
    source = fresh.datasets.get("synth-piano")
    fresh.datasets.register("twin-piano", source, "the synthetic piano again")
    monkeypatch.setattr(data, "DATASETS", fresh.datasets)
    assert data.parse_spec("twin-piano?n=4")[0] is source
    with pytest.raises(UserError, match="twin-piano"):
        data.parse_spec("no-such-set")
    setting = {"sample_rate": 16000, "n_samples": 4096, "progress": False}
    twin = data.load_dataset("twin-piano?n=4", **setting)
    assert np.array_equal(twin.train, data.load_dataset("synth-piano?n=4", **setting).train)
