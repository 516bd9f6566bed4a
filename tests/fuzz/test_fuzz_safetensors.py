"""Fuzzing the .safetensors reader and the commands that read it.

Valid files (written by the ``safetensors`` package: several dtypes, an empty
tensor, metadata) are mutated: header JSON edits (dtypes swapped or unknown,
shapes and offsets nudged, negative, huge or of the wrong type, keys dropped,
added and duplicated, metadata retyped, deep nesting, non-JSON), the header
length rewritten, and bytes truncated, flipped, inserted and deleted. Each
case must:

- read through :func:`sparsecore.runtime.safetensors.open_safetensors` or
  raise :class:`SparseFormatError` naming the file in one line, nothing else;
  what it reads must equal what ``safetensors.numpy.load`` reads from the
  same bytes when that accepts them (a differential oracle), and the package
  must accept everything the reader accepts that it supports;
- give exit code 0, or 1 with one ``sparsecore: error:`` line, through
  ``sparsecore inspect`` and ``sparsecore prune``.

Counted in the fuzz summary as ``safetensors read/refused``. Each case has a
10 s alarm; ``SPARSECORE_FUZZ_EXAMPLES`` scales it as the other fuzz tests.
"""

import contextlib
import functools
import io
import json
import os
import signal
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsecore.cli import main
from sparsecore.runtime import SparseFormatError
from sparsecore.runtime.safetensors import open_safetensors

st_numpy = pytest.importorskip("safetensors.numpy")

EXAMPLES = max(20, int(os.environ.get("SPARSECORE_FUZZ_EXAMPLES", "600")) // 3)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIMEOUT_S = 10
DTYPE_NAMES = ["F32", "F64", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F8_E4M3",
               "C64", "f32", "", "X" * 300]  # fmt: skip
INTERESTING = [-1, 0, 1, 2, 3, 7, 8, 2**31, 2**62, 2**63, 2**64, -(2**63), 10**30]


@functools.lru_cache(maxsize=1)
def bases():
    rng = np.random.default_rng(0)
    weights = {
        "0.weight": rng.standard_normal((6, 5)).astype(np.float32),
        "0.bias": rng.standard_normal(6).astype(np.float32),
        "2.weight": rng.standard_normal((3, 6)).astype(np.float64),
        "2.bias": np.zeros(3, np.float16),
        "steps": np.array([7], np.int64),
        "flags": rng.random(4) < 0.5,
        "empty": np.zeros((0, 2), np.float32),
    }
    return {
        "weights": st_numpy.save(weights, metadata={"format": "pt", "note": "x"}),
        "plain": st_numpy.save({"w": rng.standard_normal((4, 4)).astype("f4")}),
    }


def split(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def join(header, data, text=None):
    raw_header = (text if text is not None else json.dumps(header)).encode(
        "utf-8", "surrogatepass"
    )
    return struct.pack("<Q", len(raw_header)) + raw_header + data


def _value(data):
    return data.draw(
        st.one_of(
            st.sampled_from(INTERESTING),
            st.integers(-10, 200),
            st.sampled_from([None, True, "3", 1.5, [], {}, [1, 2, 3]]),
        ),
        label="value",
    )


def edit_header(data, blob):
    header, payload = split(blob)
    if not isinstance(header, dict):
        return blob
    names = [n for n in header if n != "__metadata__"]
    if not isinstance(header, dict) or not names:
        return blob
    name = data.draw(st.sampled_from(names), label="tensor")
    entry = header[name]
    if not isinstance(entry, dict):
        entry = header[name] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    kind = data.draw(
        st.sampled_from(
            ["dtype", "shape", "shape_item", "offset", "drop_key", "add_key",
             "drop_tensor", "dup_tensor", "rename", "metadata", "nest", "text",
             "entry_type"]
        ),
        label="edit",
    )  # fmt: skip
    text = None
    if kind == "dtype":
        entry["dtype"] = data.draw(st.sampled_from(DTYPE_NAMES), label="dtype")
    elif kind == "shape":
        entry["shape"] = data.draw(
            st.lists(st.sampled_from(INTERESTING + [4, 5, 6]), max_size=4),
            label="shape",
        )
    elif kind == "shape_item" and entry["shape"]:
        i = data.draw(st.integers(0, len(entry["shape"]) - 1), label="dim")
        entry["shape"] = list(entry["shape"])
        entry["shape"][i] = _value(data)
    elif kind == "offset":
        entry["data_offsets"][data.draw(st.integers(0, 1), label="which")] = _value(
            data
        )
    elif kind == "drop_key":
        del entry[data.draw(st.sampled_from(sorted(entry)), label="key")]
    elif kind == "add_key":
        entry[data.draw(st.sampled_from(["x", "dtype2", "offsets"]))] = 1
    elif kind == "drop_tensor":
        del header[name]
    elif kind == "dup_tensor":
        body = json.dumps(header)[1:-1]
        text = "{" + body + ", " + json.dumps(name) + ": " + json.dumps(entry) + "}"
    elif kind == "rename":
        header[data.draw(st.sampled_from(["", "__metadata__", "a\nb", "\x1b[2J"]))] = (
            header.pop(name)
        )
    elif kind == "metadata":
        header["__metadata__"] = _value(data)
    elif kind == "nest":
        text = "{" + '"a":[' * data.draw(st.integers(1, 50_000), label="depth")
    elif kind == "text":
        text = data.draw(st.sampled_from(["", "{", "[]", "null", '{"a": NaN}', "{}x"]))
    elif kind == "entry_type":
        header[name] = _value(data)
    return join(header, payload, text)


def edit_bytes(data, blob):
    kind = data.draw(
        st.sampled_from(["truncate", "flip", "insert", "delete", "length"]),
        label="bytes",
    )
    if kind == "truncate":
        return blob[: data.draw(st.integers(0, len(blob) - 1), label="cut")]
    pos = data.draw(st.integers(0, len(blob) - 1), label="pos")
    if kind == "flip":
        return blob[:pos] + bytes([blob[pos] ^ 0xFF]) + blob[pos + 1 :]
    if kind == "insert":
        return blob[:pos] + b"\x00" * data.draw(st.integers(1, 9)) + blob[pos:]
    if kind == "delete":
        return blob[:pos] + blob[pos + data.draw(st.integers(1, 9)) :]
    n = data.draw(st.sampled_from([0, 1, 2**32, 2**63, 2**64 - 1]), label="length")
    return struct.pack("<Q", n) + blob[8:]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a safetensors read took more than {TIMEOUT_S} s")


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def _reference(blob):
    """What the safetensors package reads (None where it refuses)."""
    try:
        return st_numpy.load(blob)
    except Exception:  # noqa: BLE001 - whatever it makes of it
        return None


def check(blob, counts):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "w.safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        try:
            with open_safetensors(path) as st_file:
                arrays = {n: st_file.read(n) for n in st_file.tensors}
                dtypes = st_file.dtypes
        except SparseFormatError as e:
            msg = str(e)
            assert msg.startswith(path) and "\n" not in msg, msg
            outcome = "refused"
        else:
            outcome = "read"
            ref = _reference(blob)
            if not any(t == "BF16" for t in dtypes.values()):
                # numpy's safetensors reads every other dtype we read
                assert ref is not None, "the package refuses what we read"
            if ref is not None:
                assert sorted(ref) == sorted(arrays)
                for name, a in ref.items():
                    np.testing.assert_array_equal(arrays[name], a, err_msg=name)
        for args in (["inspect", path],
                     ["prune", path, "-o", os.path.join(d, "p.npz"), "--sparsity",
                      "0.5"]):  # fmt: skip
            code, err = _run(*args)
            assert code in (0, 1), (code, err)
            if code == 1:
                lines = err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("sparsecore: error: ")
                assert "internal error" not in err, err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        for n in os.listdir(d):
            os.remove(os.path.join(d, n))
        os.rmdir(d)
    counts[("safetensors", outcome)] += 1
    return outcome


@FUZZ
@given(data=st.data())
def test_fuzz_safetensors(fuzz_counts, data):
    blob = bases()[data.draw(st.sampled_from(sorted(bases())), label="base")]
    for _ in range(data.draw(st.integers(0, 2), label="header edits")):
        try:
            blob = edit_header(data, blob)
        except (ValueError, KeyError, TypeError, IndexError, struct.error):
            break  # no longer a parseable header: edit its bytes instead
    for _ in range(data.draw(st.integers(0, 2), label="byte edits")):
        if blob:
            blob = edit_bytes(data, blob)
    check(blob, fuzz_counts)


@pytest.mark.parametrize("name", sorted(bases()))
def test_valid_bases_read(fuzz_counts, name):
    assert check(bases()[name], fuzz_counts) == "read"
