"""Fuzzing the command line: random and malformed ``--param``, ``--data``, ``--gen-opt``
values and entry ids. Every call ends with exit 0 or 2, never a traceback, and a refused
submit leaves the entries folder exactly as it was.

The ``run`` cases call ``main()`` in this process (hundreds of them in seconds) and stop
where the dataset would be built: everything a user can get wrong on the command line is
checked before that point; a few cases run as real subprocesses too.
"""

from __future__ import annotations

import io
import json
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grainbench import data as datasets
from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.registries import TASKS
from hostile import grainbench, snapshot
from test_leaderboard import make_result, write_run

STOP = "fuzz: stopped before building the dataset"
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def cli(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` with its output captured: (exit code, stderr). Any exception other
    than argparse's SystemExit propagates and fails the test (it would be a traceback)."""
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors: one line, exit 2
            code = exc.code
    return code, err.getvalue()


def assert_clean(code: int, err: str) -> None:
    """Exit 0 or 2, and a refusal is one line without a traceback."""
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        assert err.strip().count("\n") == 0 and err.startswith("grainbench: error:"), err


@pytest.fixture
def stop_before_building(monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(*args, **kwargs):
        raise UserError(STOP)

    monkeypatch.setattr(datasets, "_clips", stop)


SPECIAL = [
    "",
    " ",
    "[]",
    "{}",
    "null",
    "true",
    "NaN",
    "-Infinity",
    "1e400",
    "-0",
    "[1, 2]",
    '"all"',
    "all",
    "2/255",
    "1/0",
    "[[[[]]]]",
    "9" * 5000,
    "[" * 3000,
    '["png8", "png8"]',
    '["noise", 3]',
    "0x10",
    "1_000",
    "\x00",
    "é",
]
VALUES = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=24),
    st.recursive(
        st.none() | st.booleans() | st.integers(-10, 10**6) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=6,
    ).map(json.dumps),
)
TASK_NAMES = ["roundtrip", "perturbation", "locality", "transfer"]
PARAM_NAMES = {t: sorted(TASKS.get(t).default_params()) for t in TASK_NAMES}
PLAUSIBLE = st.one_of(
    st.integers(-2, 70).map(str),
    st.sampled_from(['["float"]', '["png8", "png16"]', '["noise"]', "[40, 50]", '"2/255"']),
    st.sampled_from(["0.01", "0.5", '["2/255"]', "1", "8", '"all"', "20"]),
)


@st.composite
def param_args(draw) -> list[str]:
    """A task list and one to three ``--param`` options: mostly well-formed keys of the
    tasks being run, with plausible values (that the schema may accept) or random ones."""
    tasks = draw(st.lists(st.sampled_from(TASK_NAMES), min_size=1, max_size=2, unique=True))
    out = ["--task", ",".join(tasks)]
    if draw(st.integers(0, 4)) == 0:
        out += [f"--seed={draw(st.integers(-(2**70), 2**70))}"]
    for _ in range(draw(st.integers(1, 3))):
        task = draw(st.sampled_from([*tasks] * 8 + ["nope", ""]))
        names = PARAM_NAMES.get(task, ["n_boot"])
        name = draw(st.sampled_from(names * 8) | st.text(max_size=6))
        value = draw(st.one_of(PLAUSIBLE, PLAUSIBLE, VALUES))
        item = f"{task}.{name}={value}"
        out += ["--param", draw(st.sampled_from([item] * 9 + [draw(st.text(max_size=12))]))]
    return out


def _run_argv(tmp: Path, extra: list[str]) -> list[str]:
    out = tmp / uuid.uuid4().hex
    return ["run", "--rep", "waveform-square", "--no-progress", "--out", str(out), *extra]


@settings(FUZZ, max_examples=160)
@given(extra=param_args())
def test_fuzz_params(tmp_path: Path, stop_before_building, extra: list[str]) -> None:
    assert_clean(*cli(_run_argv(tmp_path, ["--data", "synth-piano?n=8", *extra])))


DATA_NAMES = ["synth-piano", "piano-c3", "piano-88", "folder", "nsynth", "bogus", ""]
DATA_KEYS = ["n", "seed", "n", "seed", "pitch", "", "n&n"]


@st.composite
def data_specs(draw, missing: str) -> str:
    """A dataset spec: a name, maybe a (missing) path, and a query of random options."""
    name = draw(st.sampled_from(DATA_NAMES))
    if name in ("folder", "nsynth") or draw(st.integers(0, 5)) == 0:
        name += ":" + draw(st.sampled_from([missing, "", "~nobody/x", "$NOPE/x"]))
    value = st.one_of(st.integers(-3, 10**15).map(str), st.integers(2, 40).map(str), VALUES)
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(DATA_KEYS) | st.text(max_size=4), value), max_size=3)
    )
    query = "&".join(f"{k}={v}" for k, v in pairs)
    spec = f"{name}?{query}" if pairs else name
    return draw(st.sampled_from([spec] * 9 + [draw(st.text(max_size=16))]))


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_fuzz_data_specs(tmp_path: Path, stop_before_building, data) -> None:
    spec = data.draw(data_specs(str(tmp_path / "no-such-folder")))
    if Path(spec).expanduser().exists() or spec.strip() in ("", ".", "..", "~", "/"):
        spec = f"bogus-{spec}"  # never walk a real folder of this machine
    code, err = cli(_run_argv(tmp_path, ["--data", spec, "--task", "roundtrip"]))
    assert_clean(code, err)


GEN_KEYS = ["psnr", "n_components", "n_mixtures", "covariance", "n_iter", "seed", "kimg", "config"]


@settings(FUZZ, max_examples=60)
@given(
    gen=st.sampled_from(["oracle", "gmm", "stylegan2", "nope"]),
    options=st.lists(
        st.tuples(st.sampled_from(GEN_KEYS) | st.text(max_size=5), VALUES), max_size=3
    ),
)
def test_fuzz_generator_options(
    tmp_path: Path, stop_before_building, gen: str, options: list
) -> None:
    extra = ["--data", "synth-piano?n=8", "--task", "generation", "--gen", gen]
    for key, value in options:
        extra += ["--gen-opt", f"{key}={value}"]
    assert_clean(*cli(_run_argv(tmp_path, extra)))


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("fuzz-board")
    run = write_run(base / "run", make_result("dct-square", 37.0, 1.0))
    entries = base / "site" / "entries"
    assert cli(["submit", str(run), "--entries", str(entries)])[0] == 0
    return run, entries


IDS = st.one_of(
    st.sampled_from([".", "..", "./.", "../entries", "a/b", "/", "~", "-", ".git", "x" * 200]),
    st.text(max_size=20),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True),
)


@settings(FUZZ, max_examples=120)
@given(entry=IDS, force=st.booleans())
def test_fuzz_entry_ids(board: tuple[Path, Path], entry: str, force: bool) -> None:
    run, entries = board
    site = entries.parent
    before = snapshot(site)
    argv = ["submit", str(run), "--entries", str(entries), f"--id={entry}"]
    code, err = cli(argv + (["--force"] if force else []))
    assert_clean(code, err)
    if code == 2:
        assert snapshot(site) == before
    else:  # a new or replaced entry of exactly that id, and nothing else changed
        assert (entries / entry / "result.json").is_file()
        changed = {p.split("/")[1] for p in set(snapshot(site)) ^ set(before) if "/" in p}
        assert changed <= {entry}


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--rep", "waveform-square", "--param", "roundtrip.batch_size=-1e999"],
        ["run", "--rep", "waveform-square", "--data", "piano-c3?n=99999999999999"],
        ["run", "--rep", "waveform-square", "--task", "generation", "--gen", "gmm",
         "--gen-opt", "n_components=[[["],
    ],
)  # fmt: skip
def test_fuzz_cases_in_real_processes(tmp_path: Path, args: list[str]) -> None:
    proc = grainbench(*args, "--no-progress", cwd=tmp_path)
    assert_clean(proc.returncode, proc.stderr)
    assert proc.returncode == 2
    assert not any(tmp_path.iterdir())  # nothing written anywhere
