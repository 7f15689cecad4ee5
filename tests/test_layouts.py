"""Layouts: every fold and arrangement is an exact permutation, and better folds are more local."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from grainbench.stages import Arrange, Fold, fold_order
from grainbench.stages.layouts import ORDERS

SHAPES = [(1, 1), (2, 2), (8, 8), (4, 16), (16, 4), (1, 8), (32, 32)]


def _positions(h: int, w: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of coefficient k, for every k."""
    pixel_of = np.argsort(fold_order(h, w, order))
    return np.divmod(pixel_of, w)


@pytest.mark.parametrize(("order", "shape"), list(itertools.product(ORDERS, SHAPES)))
def test_fold_is_a_bijection_and_inverts_exactly(order: str, shape: tuple[int, int]) -> None:
    h, w = shape
    idx = fold_order(h, w, order)
    np.testing.assert_array_equal(np.sort(idx), np.arange(h * w))
    stage = Fold(h, w, order)
    x = torch.randn(2, 3, 1, h * w, generator=torch.Generator().manual_seed(0))
    y = stage(x)
    assert y.shape == (2, 3, 1, h, w)
    np.testing.assert_array_equal(y.reshape(2, 3, 1, -1).numpy(), x.numpy()[..., idx])
    assert torch.equal(stage.inverse(y), x)


def test_row_major_and_snake_orders() -> None:
    h, w = 4, 8
    grid = np.arange(h * w).reshape(h, w)
    np.testing.assert_array_equal(fold_order(h, w, "row").reshape(h, w), grid)
    snake = fold_order(h, w, "snake").reshape(h, w)
    for r in range(h):
        expected = grid[r] if r % 2 == 0 else grid[r, ::-1]
        np.testing.assert_array_equal(snake[r], expected)  # rows alternate direction


@pytest.mark.parametrize("order", ["snake", "hilbert"])
@pytest.mark.parametrize("shape", [(8, 8), (32, 32), (4, 16), (1, 8), (8, 1)])
def test_consecutive_coefficients_are_4_neighbours(order: str, shape: tuple[int, int]) -> None:
    rows, cols = _positions(*shape, order)
    steps = np.abs(np.diff(rows)) + np.abs(np.diff(cols))
    np.testing.assert_array_equal(steps, 1)


def test_row_major_breaks_at_every_row_end() -> None:
    rows, cols = _positions(8, 8, "row")
    steps = np.abs(np.diff(rows)) + np.abs(np.diff(cols))
    assert (steps != 1).sum() == 7


def test_hilbert_curve_of_side_2_and_4() -> None:
    # the order-1 curve visits (row, col) (0,0) (1,0) (1,1) (0,1); the order-2 curve is four
    # of them, the first and last turned, joined at their ends (drawn by hand)
    rows, cols = _positions(2, 2, "hilbert")
    assert list(zip(rows, cols, strict=True)) == [(0, 0), (1, 0), (1, 1), (0, 1)]
    rows, cols = _positions(4, 4, "hilbert")
    path = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (0, 3), (1, 3), (1, 2)]
    path += [(2, 2), (2, 3), (3, 3), (3, 2), (3, 1), (2, 1), (2, 0), (3, 0)]
    assert list(zip(cols, rows, strict=True)) == path  # listed as (col, row)


@pytest.mark.parametrize("shape", [(8, 8), (4, 16), (16, 4), (2, 32)])
def test_morton_matches_bit_interleaving(shape: tuple[int, int]) -> None:
    h, w = shape
    rows, cols = _positions(h, w, "morton")
    bx, by = w.bit_length() - 1, h.bit_length() - 1
    for k in range(h * w):
        x = y = 0
        bit = xi = yi = 0
        while xi < bx or yi < by:  # column bit first, while each axis has bits left
            if xi < bx:
                x |= ((k >> bit) & 1) << xi
                xi, bit = xi + 1, bit + 1
            if yi < by:
                y |= ((k >> bit) & 1) << yi
                yi, bit = yi + 1, bit + 1
        assert (rows[k], cols[k]) == (y, x)
    if h == w:  # square: plain alternation, column in the even bits
        k = np.arange(h * w)
        even = sum(((k >> (2 * i)) & 1) << i for i in range(bx))
        odd = sum(((k >> (2 * i + 1)) & 1) << i for i in range(by))
        np.testing.assert_array_equal(cols, even)
        np.testing.assert_array_equal(rows, odd)


@pytest.mark.parametrize(
    ("channels", "planes"), list(itertools.product(Arrange.PLACES, Arrange.PLACES))
)
def test_arrange_is_a_bijection_and_inverts_exactly(channels: str, planes: str) -> None:
    b, ch, p, h, w = 2, 2, 3, 4, 8
    x = torch.arange(b * ch * p * h * w, dtype=torch.float32).reshape(b, ch, p, h, w)
    stage = Arrange(ch, p, channels=channels, planes=planes)
    y = stage(x)
    assert y.numel() == x.numel()
    np.testing.assert_array_equal(np.sort(y.reshape(-1).numpy()), x.reshape(-1).numpy())
    assert torch.equal(stage.inverse(y), x)
    assert y.shape[1] == {
        ("channels", "channels"): ch * p,
        ("channels", "rows"): ch,
        ("channels", "cols"): ch,
        ("rows", "channels"): p,
        ("cols", "channels"): p,
    }.get((channels, planes), 1)


def test_arrange_places_planes_and_channels_where_asked() -> None:
    x = torch.randn(1, 2, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    stacked = Arrange(2, 2, channels="channels", planes="rows")(x)
    assert stacked.shape == (1, 2, 8, 4)
    assert torch.equal(stacked[0, 1, 4:], x[0, 1, 1])  # channel 1, plane 1: bottom half
    rgb_like = Arrange(2, 2, channels="channels", planes="channels")(x)
    assert torch.equal(rgb_like[0, 3], x[0, 1, 1])  # audio channel outermost
    side = Arrange(2, 2, channels="cols", planes="rows")(x)
    assert side.shape == (1, 1, 8, 8) and torch.equal(side[0, 0, 4:, 4:], x[0, 1, 1])


# --- locality of the DCT's folds ---------------------------------------------------------------


def _neighbour_bin_gaps(order: str, side: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """|Δk| between the DCT bins of right-neighbour and down-neighbour pixels."""
    bins = fold_order(side, side, order).reshape(side, side)  # pixel → DCT bin
    return np.abs(np.diff(bins, axis=1)).ravel(), np.abs(np.diff(bins, axis=0)).ravel()


def test_hilbert_and_morton_make_vertical_neighbours_adjacent_bins() -> None:
    side = 128
    row_right, row_down = _neighbour_bin_gaps("row", side)
    assert np.median(row_right) == 1 and (row_down == side).all()  # every row is w bins on
    row_typical = np.exp(np.log(np.concatenate([row_right, row_down])).mean())  # 11.3
    for order, factor in (("hilbert", 3.0), ("morton", 2.5)):
        right, down = _neighbour_bin_gaps(order, side)
        assert np.median(down) <= 2 and np.median(right) <= 2  # isotropic: both ways local
        # the typical (geometric-mean) bin gap of a 4-neighbour pair shrinks several-fold
        assert np.exp(np.log(np.concatenate([right, down])).mean()) < row_typical / factor
    hil_right, hil_down = _neighbour_bin_gaps("hilbert", side)
    assert hil_down.mean() < row_down.mean() / 2


def test_snake_brings_half_the_vertical_neighbours_closer() -> None:
    side = 128
    _, row_down = _neighbour_bin_gaps("row", side)
    _, snake_down = _neighbour_bin_gaps("snake", side)
    assert row_down.min() == side and snake_down.min() == 1
    assert (snake_down < side).mean() == 0.5  # none for row-major
    # the mean is unchanged (the gaps are 2w−1, 2w−3, …, 1): snake fixes the row ends only
    assert snake_down.mean() == pytest.approx(row_down.mean())


@pytest.mark.slow
def test_locality_task_ranks_the_folds(tmp_path) -> None:
    """SPEC 4.3's numbers for the same DCT under three folds (synth-piano, 16 kHz)."""
    from grainbench.data import load_dataset
    from grainbench.plugins import load_representation
    from grainbench.registries import TASKS
    from grainbench.tasks.base import RunContext

    data = load_dataset("synth-piano?n=20", sample_rate=16000, n_samples=16384, progress=False)
    task = TASKS.get("locality")
    params = {**task.default_params(), "n_pixels": 256, "n_gabor": 16, "n_boot": 100}
    rows = {}
    for name in ("dct-square", "dct-snake", "dct-hilbert"):
        rep = load_representation(name, 16000, 16384)
        rep.fit(torch.from_numpy(data.train))
        out = tmp_path / name
        out.mkdir()
        ctx = RunContext(rep, data, 0, tmp_path, out, torch.device("cpu"), lambda it, **_: it)
        result = task.run(ctx, params)
        rows[name] = {
            (m.name, m.condition.get("direction"), m.condition.get("weight")): m.value
            for m in result.metrics
        }
    down = {name: r[("neighbour_distance", "down", "none")] for name, r in rows.items()}
    corr = {name: r[("neighbour_correlation", "down", None)] for name, r in rows.items()}
    # Hilbert: vertical neighbours are (mostly) adjacent bins, not 128 bins apart
    assert down["dct-hilbert"] < down["dct-square"] / 10
    assert corr["dct-hilbert"] > corr["dct-square"] + 0.3
    # snake: the median vertical gap stays ~w bins; only the data correlation improves
    assert down["dct-snake"] == pytest.approx(down["dct-square"], rel=0.2)
    assert corr["dct-snake"] > corr["dct-square"]


@pytest.mark.parametrize(("h", "w"), [(16, 4), (4, 16), (8, 8), (32, 2)])
def test_hilbert_consecutive_indices_are_neighbours_on_any_aspect(h: int, w: int) -> None:
    """Tiles join without jumps, for wide and tall grids alike."""
    idx = fold_order(h, w, "hilbert")
    pos = np.empty(h * w, dtype=np.int64)
    pos[idx] = np.arange(h * w)
    rows, cols = np.divmod(pos, w)
    steps = np.abs(np.diff(rows)) + np.abs(np.diff(cols))
    assert (steps == 1).all()
