"""The defensive .safetensors reader: the safetensors package as the oracle, and
every hostile header refused with one line."""

import json
import os
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsecore.runtime import SparseFormatError
from sparsecore.runtime.safetensors import DTYPES, MAX_HEADER_BYTES, open_safetensors

st_numpy = pytest.importorskip("safetensors.numpy")

NUMPY_DTYPES = ["bool", "u1", "i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8"]
NUMPY_DTYPES += ["<f2", "<f4", "<f8"]


def read_all(path):
    with open_safetensors(str(path)) as f:
        return {n: f.read(n) for n in f.tensors}, f.metadata, f.dtypes


def raw_file(header, data=b"", *, pad=True):
    """A .safetensors file from a header (dict or text) and its data bytes."""
    text = header if isinstance(header, (str, bytes)) else json.dumps(header)
    text = text.encode() if isinstance(text, str) else text
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def one(dtype="F32", shape=(2, 2), offsets=None, data=None):
    n = int(np.prod(shape)) * DTYPES.get(dtype, np.dtype("f4")).itemsize
    header = {"w": {"dtype": dtype, "shape": list(shape),
                    "data_offsets": offsets or [0, n]}}  # fmt: skip
    return raw_file(header, b"\0" * n if data is None else data)


# ------------------------------------------------------------- the oracle
@given(
    arrays=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda s: s != "__metadata__"),
        hnp.arrays(
            st.sampled_from(NUMPY_DTYPES),
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        ),
        max_size=5,
    ),
    metadata=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_reads_what_safetensors_writes(tmp_path_factory, arrays, metadata):
    path = tmp_path_factory.mktemp("st") / "x.safetensors"
    path.write_bytes(st_numpy.save(arrays, metadata=metadata or None))
    got, meta, dtypes = read_all(path)
    assert sorted(got) == sorted(arrays) and meta == metadata
    for name, a in arrays.items():
        b = got[name]
        assert b.dtype == a.dtype.newbyteorder("<") or b.dtype == a.dtype
        assert b.shape == a.shape
        np.testing.assert_array_equal(b, a)
    # and what the package itself reads from the same file
    ref = st_numpy.load_file(str(path))
    for name in arrays:
        np.testing.assert_array_equal(got[name], ref[name])


def test_bfloat16_is_widened_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    t = {"w": torch.randn(4, 3).to(torch.bfloat16), "h": torch.randn(2).half()}
    save_file(t, str(tmp_path / "t.safetensors"))
    got, _, dtypes = read_all(tmp_path / "t.safetensors")
    assert dtypes == {"w": "BF16", "h": "F16"}
    assert got["w"].dtype == np.float32 and got["h"].dtype == np.float16
    np.testing.assert_array_equal(got["w"], t["w"].float().numpy())
    np.testing.assert_array_equal(got["h"], t["h"].numpy())


def test_empty_tensors_and_no_metadata(tmp_path):
    path = tmp_path / "e.safetensors"
    path.write_bytes(st_numpy.save({"a": np.zeros((0, 3)), "b": np.ones(2)}))
    got, meta, _ = read_all(path)
    assert got["a"].shape == (0, 3) and meta == {}


# ------------------------------------------------------------- hostile files
def _f32(n):
    return b"\0" * (4 * n)


HOSTILE = {
    "empty file": (b"", "too short for the 8-byte header length"),
    "7 bytes": (b"\x01" * 7, "too short"),
    "huge header length": (
        struct.pack("<Q", 2**63) + b"{}",
        "the header length 9223372036854775808 exceeds the 2 bytes after it",
    ),
    "header length over the cap": (
        struct.pack("<Q", MAX_HEADER_BYTES + 8) + b"{" + b" " * (MAX_HEADER_BYTES + 8),
        f"exceeds the {MAX_HEADER_BYTES}-byte limit",
    ),
    "not JSON": (raw_file("{not json"), "invalid JSON header"),
    "not an object": (raw_file("[1, 2]"), "must start with '{'"),
    "not UTF-8": (raw_file(b'{"\xff": 1}'), "not UTF-8"),
    "deeply nested": (raw_file("{" + '"a":[' * 100_000), "invalid JSON header"),
    "NaN in header": (raw_file('{"w": NaN}'), "NaN is not a number JSON allows"),
    "duplicate names": (
        raw_file(
            '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
            '"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
            _f32(2),
        ),
        "w: appears twice in the header",
    ),
    "unknown dtype": (one("F8_E4M3", (4,), [0, 4]), "w: unsupported dtype 'F8_E4M3'"),
    "dtype not a string": (
        raw_file({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}}, _f32(1)),
        "unsupported dtype",
    ),
    "negative shape": (one(shape=(-1, 2), offsets=[0, 8], data=_f32(2)), "w: shape"),
    "float shape": (
        raw_file({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}),
        "w: shape must be a list of at most 32 ints",
    ),
    "bool shape": (
        raw_file({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}),
        "w: shape must be",
    ),
    "huge shape": (
        one(shape=(2**62, 2**62), offsets=[0, 16], data=_f32(4)),
        f"dtype F32 need {4 * 2**124}",
    ),
    "too many dims": (one(shape=(1,) * 33, offsets=[0, 4], data=_f32(1)), "at most 32"),
    "offsets out of range": (
        one(shape=(2,), offsets=[0, 8000], data=_f32(2)),
        "w: data_offsets [0, 8000] are outside the 8 data bytes",
    ),
    "negative offset": (one(shape=(2,), offsets=[-8, 0]), "outside"),
    "offsets reversed": (one(shape=(2,), offsets=[8, 0], data=_f32(2)), "outside"),
    "offsets not ints": (
        raw_file({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}),
        "data_offsets must be [begin, end] ints",
    ),
    "size mismatch": (
        one(shape=(3,), offsets=[0, 8], data=_f32(2)),
        "hold 8 bytes; its shape (3,) and dtype F32 need 12",
    ),
    "overlapping tensors": (
        raw_file(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            _f32(3),
        ),
        "b: data_offsets [4, 12] overlap the previous tensor",
    ),  # fmt: skip
    "shared bytes": (
        raw_file(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            },
            _f32(2),
        ),
        "overlap",
    ),  # fmt: skip
    "gap": (
        raw_file(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, _f32(2)
        ),
        "a: data_offsets [4, 8] leave a gap",
    ),
    "truncated data": (one(shape=(4,), data=_f32(2)), "outside the 8 data bytes"),
    "extra data": (
        one(shape=(1,), offsets=[0, 4], data=_f32(3)),
        "the tensors cover 4 bytes, but 12 data bytes follow",
    ),
    "missing key": (
        raw_file({"w": {"dtype": "F32", "shape": [1]}}, _f32(1)),
        "w: must be an object with keys",
    ),
    "extra key": (
        raw_file(
            {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}},
            _f32(1),
        ),
        "must be an object with keys",
    ),
    "entry not an object": (raw_file({"w": [1, 2]}), "w: must be an object"),
    "metadata not strings": (
        raw_file({"__metadata__": {"a": 1}}),
        "__metadata__: must be an object of strings to strings",
    ),
    "empty name": (
        raw_file({"": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, _f32(1)),
        "a tensor needs a non-empty name",
    ),
    "bool bytes": (one("BOOL", (2,), [0, 2], b"\x01\x07"), "only 0 (False) and 1"),
    "hostile name": (
        raw_file({"a\nsparsecore: error: x\x1b[2J": {"dtype": "Q"}}),
        r"a\nsparsecore: error: x\x1b[2J: must be an object",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_raise_one_line(tmp_path, case):
    blob, match = HOSTILE[case]
    path = tmp_path / "x.safetensors"
    path.write_bytes(blob)
    with pytest.raises(SparseFormatError) as info:
        read_all(path)
    msg = str(info.value)
    assert match in msg, msg
    assert msg.startswith(str(path)) and "\n" not in msg and len(msg) < 600


def test_huge_declared_tensor_allocates_nothing(tmp_path):
    # 2**40 floats declared in a 100-byte file: refused from the header alone.
    path = tmp_path / "big.safetensors"
    path.write_bytes(one(shape=(2**40,), offsets=[0, 2**42], data=_f32(1)))
    with pytest.raises(SparseFormatError, match="outside the 4 data bytes"):
        read_all(path)


def test_special_files_and_missing(tmp_path):
    with pytest.raises(SparseFormatError, match="is a directory"):
        read_all(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(SparseFormatError, match="FIFO"):
        read_all(tmp_path / "fifo")
    with pytest.raises(FileNotFoundError):
        read_all(tmp_path / "none.safetensors")


@given(cut=st.integers(0, 400))
def test_every_truncation_is_refused(tmp_path_factory, cut):
    blob = st_numpy.save({"a": np.arange(12.0).reshape(3, 4), "b": np.ones(5, "f4")})
    path = tmp_path_factory.mktemp("cut") / "t.safetensors"
    path.write_bytes(blob[: min(cut, len(blob) - 1)])
    with pytest.raises(SparseFormatError):
        read_all(path)
