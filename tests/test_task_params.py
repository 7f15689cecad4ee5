"""Task parameters: every task declares the type and range of each parameter; a value
outside its declaration is exit 2 and one line, before anything is built."""

from __future__ import annotations

import pytest

from grainbench import runner
from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.registries import TASKS
from grainbench.tasks.params import Choice, Int, ListOf, Ratio, Real, Text, validate_params


def test_every_task_declares_every_parameter_and_its_defaults_pass() -> None:
    for entry in TASKS.entries():
        task = entry.obj
        schema = getattr(task, "param_schema", None)
        assert schema is not None, f"{entry.name} has no param_schema"
        assert set(schema) == set(task.default_params()), entry.name
        assert validate_params(entry.name, task, {}) == task.default_params()


def test_checkers_against_hand_picked_cases() -> None:
    assert Int(1).ok(1) and not Int(1).ok(0) and not Int(1).ok(True) and not Int(1).ok(2.0)
    assert not Int(1).ok(2**31) and not Int(1).ok("3") and not Int(1).ok(None)
    assert Int(4, none=True).ok(None) and Int(1, words=("all",)).ok("all")
    assert Real(0, low_open=True).ok(0.5) and not Real(0, low_open=True).ok(0)
    assert Real(0, 1).ok(1) and not Real(0, 1).ok(1.5) and not Real().ok(float("nan"))
    assert not Real().ok(float("inf")) and not Real().ok(False)
    assert Ratio().ok("2/255") and Ratio().ok(0.05) and Ratio().ok(" 1e-3 ")
    for bad in ("0", "-1/3", "1/0", "abc", "nan", "inf", "1e999999999", True, None, [1]):
        assert not Ratio().ok(bad), bad
    assert Choice("a", "b").ok("a") and not Choice("a", "b").ok("c")
    assert ListOf(Choice("x")).ok(["x"]) and not ListOf(Choice("x")).ok([])
    assert not ListOf(Choice("x")).ok("x") and ListOf(Text(), comma_string=True).ok("a, b")
    assert not Text().ok(" ") and not Text().ok(3)


@pytest.fixture
def no_build(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was built")

    monkeypatch.setattr(runner, "load_dataset", refuse)


BAD = [
    ("roundtrip", "batch_size=0", "an integer ≥ 1"),
    ("roundtrip", "batch_size=abc", "an integer ≥ 1"),
    ("roundtrip", "batch_size=2.5", "an integer ≥ 1"),
    ("roundtrip", "n_boot=0", "from 1 to 1000000"),
    ("roundtrip", "n_boot=-3", "from 1 to 1000000"),
    ("roundtrip", "codecs=png8", "JSON list"),
    ("roundtrip", 'codecs=["jpeg"]', '"png8"'),
    ("roundtrip", "n_examples=1e400", "integer"),
    ("perturbation", "deltas=[]", "at least 1"),
    ("perturbation", 'deltas=["1/0"]', "fraction"),
    ("perturbation", "n_pixels=some", '"all"'),
    ("perturbation", "n_clips=true", "integer"),
    ("locality", "delta=-0.1", "positive"),
    ("locality", "time_scale_s=0", "> 0"),
    ("locality", "freq_scale_erb=NaN", "> 0"),
    ("transfer", 'kinds=["wobble"]', '"noise"'),
    ("transfer", "psnr=[1e9]", "≤ 200"),
    ("generation", "ndb_alpha=2", "≤ 1"),
    ("generation", "n_samples=3", "≥ 4"),
    ("generation", "embeddings=[]", "at least 1"),
]


@pytest.mark.parametrize(("task", "param", "message"), BAD)
def test_bad_values_are_one_line_and_exit_2_before_building(
    tmp_path, no_build, capsys, task: str, param: str, message: str
) -> None:
    args = ["run", "--rep", "waveform-square", "--data", "synth-piano?n=8", "--task", task]
    args += ["--param", f"{task}.{param}", "--out", str(tmp_path / "run")]
    if task == "generation":
        args += ["--gen", "oracle"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    name = param.split("=")[0]
    assert f"--param {task}.{name}=" in err and message in err, err
    assert not (tmp_path / "run").exists()


def test_validate_params_names_unknown_parameters() -> None:
    with pytest.raises(UserError, match="has no parameter"):
        validate_params("roundtrip", TASKS.get("roundtrip"), {"batchsize": 3})
    with pytest.raises(UserError, match="n_boot"):
        validate_params("roundtrip", TASKS.get("roundtrip"), {"n_boot": 0})
    good = validate_params("perturbation", TASKS.get("perturbation"), {"n_pixels": "all"})
    assert good["n_pixels"] == "all" and good["deltas"] == ["2/255", "0.05"]
