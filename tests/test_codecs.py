"""Tests for grainbench.pngio and grainbench.codecs, with Pillow as the independent reader
and writer of PNG files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from grainbench.codecs import CODECS, get_codec
from grainbench.errors import UserError
from grainbench.pngio import read_png, write_png

# ----------------------------------------------------------------------------- pngio


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk, parsed here independently of the module under test."""
    data = path.read_bytes()
    pos, out = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _filter_types(path: Path, stride: int) -> set[int]:
    raw = zlib.decompress(b"".join(body for kind, body in _chunks(path) if kind == b"IDAT"))
    return set(raw[:: stride + 1])


def _smooth_rgb(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    noise = _rng().integers(0, 4, size=(height, width, 3))
    return (np.stack([x * 3, y * 4, (x * y) % 256], axis=-1) + noise).astype(np.uint8)


def test_grey8_ours_to_pillow_and_back(tmp_path: Path) -> None:
    arr = _rng().integers(0, 256, size=(17, 23), dtype=np.uint8)
    write_png(tmp_path / "a.png", arr)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.array(im), arr)
    Image.fromarray(arr).save(tmp_path / "b.png")
    back = read_png(tmp_path / "b.png")
    assert back.dtype == np.uint8 and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_grey16_ours_to_pillow_and_back(tmp_path: Path) -> None:
    arr = _rng().integers(0, 65536, size=(19, 11), dtype=np.uint16)
    arr[0, 0], arr[0, 1] = 0x0102, 0xFF00  # byte order shows up in these
    write_png(tmp_path / "a.png", arr)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "I;16"
        np.testing.assert_array_equal(np.array(im).astype(np.uint16), arr)
    # 16-bit samples are big-endian in the file, whatever the machine
    ihdr = _chunks(tmp_path / "a.png")[0][1]
    assert struct.unpack(">IIBB", ihdr[:10]) == (11, 19, 16, 0)
    Image.fromarray(arr).save(tmp_path / "b.png")
    back = read_png(tmp_path / "b.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, arr)


def test_rgb8_ours_to_pillow_and_back(tmp_path: Path) -> None:
    arr = _smooth_rgb(32, 40)
    write_png(tmp_path / "a.png", arr)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.array(im), arr)
    Image.fromarray(arr).save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_png(tmp_path / "b.png"), arr)


@pytest.mark.parametrize(("channels", "mode"), [(2, "LA"), (4, "RGBA")])
def test_alpha8_both_ways(tmp_path: Path, channels: int, mode: str) -> None:
    arr = _rng().integers(0, 256, size=(9, 13, channels), dtype=np.uint8)
    write_png(tmp_path / "a.png", arr)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == mode
        np.testing.assert_array_equal(np.array(im), arr)
    Image.fromarray(arr, mode=mode).save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_png(tmp_path / "b.png"), arr)


@pytest.mark.parametrize("shape", [(7, 5, 1), (7, 5, 2), (7, 5, 3), (7, 5, 4)])
def test_uint16_colour_roundtrip(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    arr = _rng().integers(0, 65536, size=shape, dtype=np.uint16)
    write_png(tmp_path / "a.png", arr)
    back = read_png(tmp_path / "a.png")
    np.testing.assert_array_equal(back.reshape(shape), arr)
    assert back.shape == (shape[:2] if shape[2] == 1 else shape)
    if shape[2] == 3:
        # Pillow reads 16-bit RGB as 8-bit, keeping the high (first, big-endian) byte
        with Image.open(tmp_path / "a.png") as im:
            np.testing.assert_array_equal(np.array(im), (arr >> 8).astype(np.uint8))


def test_pillow_file_with_filters(tmp_path: Path) -> None:
    arr = _smooth_rgb(64, 80)
    Image.fromarray(arr).save(tmp_path / "p.png")
    used = _filter_types(tmp_path / "p.png", 80 * 3)
    assert len(used) >= 2 and used & {3, 4}  # Pillow filters adaptively (Sub, Paeth here)
    np.testing.assert_array_equal(read_png(tmp_path / "p.png"), arr)


def _reference_filter(raw: bytes, prior: bytes, bpp: int, kind: int) -> bytes:
    """Textbook PNG filter of one row (the encode direction), byte by byte."""
    out = bytearray()
    for i, x in enumerate(raw):
        a = raw[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if kind == 0:
            pred = 0
        elif kind == 1:
            pred = a
        elif kind == 2:
            pred = b
        elif kind == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out.append((x - pred) % 256)
    return bytes(out)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize(("dtype", "channels"), [(np.uint8, 3), (np.uint16, 2), (np.uint8, 1)])
def test_all_five_filters(tmp_path: Path, dtype: type, channels: int) -> None:
    """A file using every filter type, made by a textbook encoder and checked by Pillow."""
    height, width = 15, 6
    arr = _rng().integers(0, np.iinfo(dtype).max + 1, size=(height, width, channels), dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    bpp = channels * itemsize
    rows = arr.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    stride = width * bpp
    prior = bytes(stride)
    body = bytearray()
    for y in range(height):
        raw = rows[y * stride : (y + 1) * stride]
        body.append(y % 5)
        body += _reference_filter(raw, prior, bpp, y % 5)
        prior = raw
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", width, height, 8 * itemsize, colour_type, 0, 0, 0)
    path = tmp_path / "f.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(bytes(body)))
        + _png_chunk(b"IEND", b"")
    )
    if dtype == np.uint8:  # Pillow as the judge that the file is right
        with Image.open(path) as im:
            np.testing.assert_array_equal(np.array(im).reshape(arr.shape), arr)
    np.testing.assert_array_equal(read_png(path).reshape(arr.shape), arr)


def test_smooth_and_noisy_rows_round_trip(tmp_path: Path) -> None:
    arr = np.concatenate([_smooth_rgb(20, 30), _rng().integers(0, 256, (20, 30, 3))]).astype(
        np.uint8
    )
    write_png(tmp_path / "a.png", arr)
    np.testing.assert_array_equal(read_png(tmp_path / "a.png"), arr)


def test_corrupt_files_raise(tmp_path: Path) -> None:
    arr = _rng().integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    write_png(path, arr)
    good = path.read_bytes()

    flipped = bytearray(good)
    flipped[45] ^= 0x01  # inside the IDAT data (IHDR chunk ends at byte 33)
    path.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="CRC mismatch"):
        read_png(path)

    path.write_bytes(good[: len(good) - 20])
    with pytest.raises(ValueError, match="truncated"):
        read_png(path)

    path.write_bytes(b"GIF89a" + good[6:])
    with pytest.raises(ValueError, match="not a PNG"):
        read_png(path)


def test_atomic_overwrite_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    write_png(path, np.zeros((4, 4), dtype=np.uint8))
    write_png(path, np.full((3, 5), 7, dtype=np.uint16))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    np.testing.assert_array_equal(read_png(path), np.full((3, 5), 7, dtype=np.uint16))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), dtype=np.float32),
        np.zeros((4, 4, 5), dtype=np.uint8),
        np.zeros((0, 4), dtype=np.uint8),
        np.zeros(4, dtype=np.uint8),
    ],
)
def test_write_rejects_bad_arrays(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        write_png(tmp_path / "x.png", bad)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- codecs


def _images(shape: tuple[int, int, int, int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1).to(dtype)


def test_codec_names_and_unknown() -> None:
    assert CODECS == ("float", "png16", "png8")
    assert [get_codec(n).bits for n in CODECS] == [None, 16, 8]
    with pytest.raises(UserError, match="unknown codec"):
        get_codec("jpeg")


@pytest.mark.parametrize(("name", "levels"), [("png8", 255), ("png16", 65535)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_png_error_bound_inside_range(
    tmp_path: Path, name: str, levels: int, dtype: torch.dtype
) -> None:
    images = _images((3, 3, 16, 20), dtype)
    images[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, 0.0, 1 / levels], dtype=dtype)
    out, clipped = get_codec(name).roundtrip(images, tmp_path)
    assert out.dtype == dtype and out.shape == images.shape
    slack = 1e-6 if dtype == torch.float32 else 1e-12
    err = (out.double() - images.double()).abs().max().item()
    assert err <= 1 / levels + slack
    assert err > 0.5 / levels  # it really quantised
    assert clipped.tolist() == [0, 0, 0]
    assert out[0, 0, 0, 0] == -1 and out[0, 0, 0, 1] == 1


def test_png8_matches_stylegan2_ada_loader() -> None:
    images = _images((2, 3, 8, 8))
    out, _ = get_codec("png8").quantise(images)
    codes = torch.round((images.double() + 1) / 2 * 255)
    torch.testing.assert_close(out, (codes / 127.5 - 1).float(), rtol=0, atol=0)


def test_clipped_counts(tmp_path: Path) -> None:
    images = torch.zeros(3, 2, 4, 4)
    images[0, 0, 0, :3] = torch.tensor([1.5, -1.0001, 1.0])  # two out, 1.0 is in range
    images[1, 1, 2, :] = torch.tensor([float("nan"), float("inf"), -float("inf"), -1.0])
    for name in ("png8", "png16"):
        out, clipped = get_codec(name).roundtrip(images, tmp_path)
        assert clipped.dtype == torch.int64
        assert clipped.tolist() == [2, 3, 0]
        assert out[0, 0, 0, :3].tolist() == [1.0, -1.0, 1.0]
        assert out[1, 1, 2, 1:].tolist() == [1.0, -1.0, -1.0]
        assert abs(out[1, 1, 2, 0].item()) <= 1 / 255 + 1e-6  # NaN is stored as 0
    out, clipped = get_codec("float").roundtrip(images)
    assert clipped.tolist() == [0, 0, 0]
    assert torch.equal(out.nan_to_num(), images.nan_to_num())


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("name", ["png8", "png16"])
def test_quantise_equals_file_path(tmp_path: Path, name: str, channels: int) -> None:
    images = _images((2, channels, 12, 10)) * 1.1  # some values clip
    codec = get_codec(name)
    fast, fast_clipped = codec.quantise(images)
    slow, slow_clipped = codec.roundtrip(images, tmp_path)
    assert torch.equal(fast, slow)
    assert torch.equal(fast_clipped, slow_clipped)
    assert fast_clipped.sum() > 0


@pytest.mark.parametrize(
    ("channels", "mode", "size"),
    [
        (1, "L", (10, 12)),
        (2, "LA", (10, 12)),
        (3, "RGB", (10, 12)),
        (4, "RGBA", (10, 12)),
        (6, "L", (10, 72)),
    ],
)
def test_files_exist_and_pillow_opens_them(
    tmp_path: Path, channels: int, mode: str, size: tuple[int, int]
) -> None:
    images = _images((2, channels, 12, 10))
    get_codec("png8").roundtrip(images, tmp_path / "png8")
    files = sorted((tmp_path / "png8").iterdir())
    assert [f.name for f in files] == ["png8_000000.png", "png8_000001.png"]
    codes = torch.round((images.double() + 1) / 2 * 255).to(torch.uint8).numpy()
    for index, path in enumerate(files):
        with Image.open(path) as im:
            im.load()
            assert im.mode == mode and im.size == size  # Pillow's size is (W, H)
            pixels = np.array(im)
        if channels > 4:  # channel tiles stacked vertically, channel 0 on top
            expected = codes[index].reshape(channels * 12, 10)
        else:
            expected = codes[index].transpose(1, 2, 0).squeeze(-1 if channels == 1 else ())
        np.testing.assert_array_equal(pixels, expected)
    get_codec("png16").roundtrip(images, tmp_path / "png16")
    for path in sorted((tmp_path / "png16").iterdir()):
        with Image.open(path) as im:
            im.load()
            assert im.size == size


def test_float_codec_is_identity_and_temp_dir_default() -> None:
    images = _images((2, 3, 8, 8), torch.float64) * 2
    out, clipped = get_codec("float").roundtrip(images)
    assert torch.equal(out, images) and out is not images
    assert clipped.tolist() == [0, 0]
    out8, clipped8 = get_codec("png8").roundtrip(images)  # no workdir: a temporary folder
    assert out8.dtype == torch.float64 and clipped8.sum() > 0


def test_codec_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        get_codec("png8").roundtrip(torch.zeros(3, 4, 4))
