"""The defensive reader, sparsecore.runtime.npz, against hostile archives.

Oracle for valid files: ``np.load`` (what the file means); for hostile files:
the documented error, naming the file and the member, raised before anything
large is allocated. The archives are built byte by byte (tests/runtime/zipcraft.py)
so that every field is the attacker's choice, whatever :mod:`zipfile` checks.
"""

import os
import resource
import stat
import struct
import threading
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsecore.runtime import SparseFormatError
from sparsecore.runtime.npz import open_npz
from tests.runtime.zipcraft import (
    Entry,
    build,
    deflate,
    npy,
    npy_raw,
    overlapping,
    zip64_end,
)


def _write(tmp_path, blob, name="a.npz"):
    path = tmp_path / name
    path.write_bytes(blob)
    return str(path)


def _read_all(path, **kw):
    with open_npz(path, SparseFormatError, **kw) as a:
        out = {k: a.read_array(k) for k in a.members}
        out.update({k: a.read_bytes(k) for k in a.others})
        return out


def _refused(path, match, **kw):
    with pytest.raises(SparseFormatError, match=match) as info:
        _read_all(path, **kw)
    assert str(info.value).startswith(path + ": ")
    return str(info.value)


# ------------------------------------------------------------- valid files
@given(
    arrays=st.lists(
        hnp.arrays(
            st.sampled_from(["<f4", "<f8", ">f4", "<i4", "|b1", "<u2", "<c8", "<U3"]),
            hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
        ),
        min_size=1,
        max_size=4,
    ),
    fortran=st.booleans(),
    compressed=st.booleans(),
)
def test_reads_what_numpy_writes(tmp_path_factory, arrays, fortran, compressed):
    path = str(tmp_path_factory.mktemp("ok") / "a.npz")
    arrays = {
        f"a{i}": np.asfortranarray(a) if fortran else a for i, a in enumerate(arrays)
    }
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    got = _read_all(path, allow_fortran=True)
    with np.load(path, allow_pickle=False) as ref:
        assert list(got) == ref.files
        for k in ref.files:
            assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape
            np.testing.assert_array_equal(got[k], ref[k])
            assert got[k].flags.f_contiguous == ref[k].flags.f_contiguous


def test_fortran_order_is_opt_in(tmp_path):
    path = _write(tmp_path, build([Entry("w.npy", npy(np.asfortranarray(np.eye(3))))]))
    _refused(path, "w: Fortran-ordered arrays are refused")
    w = _read_all(path, allow_fortran=True)["w"]
    assert w.flags.f_contiguous and np.array_equal(w, np.eye(3))


def test_other_members_are_opt_in_and_byte_exact(tmp_path):
    config = b'{"units": 3}\x00\x00'  # trailing NULs, which a 0-d bytes array loses
    blob = build([Entry("w.npy", npy(np.ones(2))), Entry("config.json", config, 8)])
    path = _write(tmp_path, blob)
    _refused(path, "config.json: is not a .npy member")
    assert _read_all(path, allow_other=True)["config.json"] == config


def test_zip64_end_record_and_local_extras(tmp_path):
    # atomic_savez writes zip64 local extras; a zip64 end record is added here.
    from sparsecore.runtime.atomic import atomic_savez

    atomic_savez(tmp_path / "z.npz", {"a": np.arange(5), "b": np.ones((2, 2))})
    blob = zip64_end((tmp_path / "z.npz").read_bytes())
    assert zipfile.ZipFile(_write(tmp_path, blob, "y.npz")).testzip() is None
    got = _read_all(str(tmp_path / "y.npz"))
    assert np.array_equal(got["a"], np.arange(5)) and got["b"].shape == (2, 2)


def test_empty_archive(tmp_path):
    assert _read_all(_write(tmp_path, build([]))) == {}


# ------------------------------------------------------------- the file itself
def test_missing_and_unreadable_propagate(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        _read_all(str(tmp_path / "nope.npz"))
    path = _write(tmp_path, build([]))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", denied)  # root ignores mode bits
    with pytest.raises(PermissionError):
        _read_all(path)


def test_directory_fifo_and_device_refused_without_blocking(tmp_path):
    _refused(str(tmp_path), "is a directory")
    fifo = str(tmp_path / "fifo.npz")
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(_refused(fifo, "FIFO")))
    t.start()
    t.join(10)
    assert done, "reading a FIFO blocked"
    _refused("/dev/null", "character device, not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "no zip signature"),
        (npy(np.ones(3)), "a single .npy array"),
        (npy(np.ones(3)) + build([Entry("a.npy", npy(np.ones(2)))]), "single .npy"),
        (b"junk" + build([Entry("a.npy", npy(np.ones(2)))]), "no zip signature"),
        (build([Entry("a.npy", npy(np.ones(2)))], suffix=b"tail"), "end of central"),
        (b"PK\x03\x04" + b"\0" * 50, "not a readable .npz archive"),
    ],
    ids=["empty", "npy", "npy+zip", "prefix", "suffix", "bare-signature"],
)
def test_not_a_plain_zip(tmp_path, blob, match):
    _refused(_write(tmp_path, blob), match)


# ------------------------------------------------------------- members
@pytest.mark.parametrize(
    ("method", "name"),
    [(9, "deflate64"), (12, "bzip2"), (14, "lzma"), (93, "zstd"), (98, "ppmd"),
     (99, "AES"), (7, "unknown")],
)  # fmt: skip
def test_compression_methods_refused_before_reading(tmp_path, method, name):
    blob = build([Entry("a.npy", npy(np.ones(2)), method=method, raw=b"xx")])
    _refused(_write(tmp_path, blob), rf"a: unreadable \(compression method {method}")


def test_bzip2_bomb_refused_at_once(tmp_path):
    # 1 KB of bzip2 that would inflate to 1 GiB: the method is refused, nothing read.
    import bz2

    big = npy_raw(repr({"descr": "|u1", "fortran_order": False, "shape": (1 << 30,)}))
    raw = bz2.compress(big + b"\0" * (1 << 24))  # (a 16 MiB taste of it)
    blob = build([Entry("w.npy", b"", method=12, raw=raw, usize=1 << 30)])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(_write(tmp_path, blob), "compression method 12, bzip2")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


@pytest.mark.parametrize("flag", [0x1, 0x40, 0x2000])
def test_encrypted_refused(tmp_path, flag):
    blob = build([Entry("a.npy", npy(np.ones(2)), flags=flag)])
    _refused(_write(tmp_path, blob), "a: encrypted members are refused")


def test_corrupt_deflate_stream(tmp_path):
    data = npy(np.arange(1000.0))
    raw = bytearray(deflate(data))
    raw[len(raw) // 2] ^= 0xFF
    blob = build([Entry("a.npy", data, method=8, raw=bytes(raw))])
    _refused(_write(tmp_path, blob), "a: (corrupt|invalid|truncated)")


def test_crc_mismatch(tmp_path):
    blob = build([Entry("a.npy", npy(np.arange(4.0)), crc=0)])
    _refused(_write(tmp_path, blob), "a: corrupt: CRC-32")


def test_deflate_stream_longer_than_declared(tmp_path):
    data = npy(np.arange(64.0))
    blob = build([Entry("a.npy", data, method=8, usize=len(data) - 8)])
    _refused(_write(tmp_path, blob), "a: (member holds|holds more|truncated|corrupt)")


def test_trailing_bytes_after_deflate_stream(tmp_path):
    data = npy(np.arange(8.0))
    blob = build([Entry("a.npy", data, method=8, raw=deflate(data) + b"junk")])
    _refused(_write(tmp_path, blob), "a: corrupt deflate data")


def test_local_header_disagrees(tmp_path):
    data = npy(np.ones(2))
    cases = [
        Entry("a.npy", data, local_name="b.npy"),
        Entry("a.npy", data, local_method=8),
    ]
    for e in cases:
        _refused(_write(tmp_path, build([e])), "a: the local header disagrees")


def test_duplicate_names_refused(tmp_path):
    e = Entry("a.npy", npy(np.ones(2)))
    blob = build([e, Entry("a.npy", npy(np.ones(3)))])
    _refused(_write(tmp_path, blob), "a: duplicate member")


@pytest.mark.parametrize("name", ["", "dir/", "a\0b.npy"])
def test_non_file_names_refused(tmp_path, name):
    _refused(_write(tmp_path, build([Entry(name, b"")])), "not a file member")


# ------------------------------------------------------------- zip bombs
def test_overlapping_entries_refused(tmp_path):
    # 200 entries sharing a 64 KiB tail: 200 x 64 KiB declared from 72 KB.
    kernel = npy(np.zeros(1 << 16, np.uint8))
    blob = overlapping([f"m{i}.npy" for i in range(200)], kernel)
    total = sum(e.file_size for e in zipfile.ZipFile(_write(tmp_path, blob)).infolist())
    assert total > 100 * len(blob)
    _refused(
        _write(tmp_path, blob),
        r"m1: its local entry at offset \d+ overlaps the previous",
    )


def test_out_of_order_entries_refused(tmp_path):
    a, b = Entry("a.npy", npy(np.ones(2))), Entry("b.npy", npy(np.ones(3)))
    blob = build([a, b])
    off_b = blob.index(b"PK\x03\x04", 4)
    path = _write(tmp_path, build([a, b], directory=[(b, off_b), (a, 0)]))
    _refused(
        path,
        "a: its local entry at offset 0 overlaps the previous entry or is out of order",
    )


def test_entry_pointed_at_twice_refused(tmp_path):
    a = Entry("a.npy", npy(np.ones(2)))
    blob = build([a], directory=[(a, 0), (Entry("b.npy", a.data), 0)])
    _refused(_write(tmp_path, blob), "b: its local entry at offset 0 overlaps")


def test_data_running_into_the_directory_refused(tmp_path):
    e = Entry("a.npy", npy(np.ones(2)))
    blob = build([Entry("a.npy", e.data, csize=len(e.data) + 40)])
    _refused(_write(tmp_path, blob), "a: (its data|the local header disagrees)")


def test_declared_sizes_bounded_by_the_file(tmp_path):
    data = npy(np.ones(2))
    for kw, match in [
        ({"csize": 0xFFFFFFF0}, "declares 4294967280 compressed bytes"),
        ({"usize": 0xFFFFFFF0}, "more than its \\d+ stored bytes can hold"),
    ]:
        blob = build([Entry("a.npy", data, **kw)])
        _refused(_write(tmp_path, blob), match)
    # deflated: at most 1032 times the stored bytes
    raw = deflate(data)
    blob = build([Entry("a.npy", data, method=8, usize=1033 * len(raw) + 64)])
    _refused(_write(tmp_path, blob), "more than its")


def test_central_directory_fields(tmp_path):
    good = build([Entry("a.npy", npy(np.ones(2)))])
    eocd = good.rindex(b"PK\x05\x06")
    for off, value, match in [
        (8, 3, "multi-disk|entries cannot fit|does not end"),  # entries on this disk
        (10, 1000, "multi-disk|cannot fit"),
        (12, 1, "does not end where"),  # directory size
        (16, 0, "does not end where"),  # directory offset
        (4, 1, "multi-disk"),
    ]:
        bad = bytearray(good)
        bad[eocd + off : eocd + off + (4 if off >= 12 else 2)] = value.to_bytes(
            4 if off >= 12 else 2, "little"
        )
        _refused(_write(tmp_path, bytes(bad)), match)


# ------------------------------------------------------------- .npy headers
def _npy_member(tmp_path, header, payload=b"", version=(1, 0)):
    return _write(tmp_path, build([Entry("w.npy", npy_raw(header, payload, version))]))


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "+" * 4500 + "1,)}",
         "invalid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "-" * 9000 + "1,)}",
         "invalid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "~" * 9000 + "1,)}",
         "invalid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 4000 + ",)}",
         "invalid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}",
         "shape must hold ints"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}", "invalid"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': ((1,),)}", "invalid"),
        ("{'descr': '<f4', 'fortran_order': 1, 'shape': (1,)}", "unexpected value"),
        ("{'descr': '<f4', 'shape': (1,)}", "keys must be"),
        ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}",
         "duplicate key"),
        ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "invalid"),
        ("{'descr': '(2,)<f4', 'fortran_order': False, 'shape': ()}", "unsupported"),
        ("{'descr': '|V8', 'fortran_order': False, 'shape': ()}", "unsupported dtype"),
        ("{'descr': '<U0', 'fortran_order': False, 'shape': (9,)}", "zero-size dtype"),
        ("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", "object arrays"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1," * 40 + ")}",
         "more than 32 dimensions"),
        ("__import__('os').system('echo pwned')", "invalid .npy header"),
        ("[" * 60_000, "invalid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra", "unexpected"),
    ],
    ids=["plus", "minus", "tilde", "digits", "bool-dim", "float-dim", "nested",
         "order-int", "missing-key", "duplicate", "structured", "subarray", "void",
         "zero-itemsize", "object", "ndim", "code", "deep", "trailing"],
)  # fmt: skip
def test_hostile_npy_headers(tmp_path, header, match):
    _refused(_npy_member(tmp_path, header, b"\0" * 8), "w: .*" + match)


def test_npy_versions(tmp_path):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"
    for version in [(2, 0), (3, 0)]:
        got = _read_all(_npy_member(tmp_path, h, b"\0" * 8, version))["w"]
        assert got.shape == (2,)
    _refused(_npy_member(tmp_path, h, b"\0" * 8, (4, 0)), "unsupported .npy version")
    long_header = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 20) + b" " * 64
    _refused(_write(tmp_path, build([Entry("w.npy", long_header)])), "header too long")


def test_declared_shape_beyond_the_data_allocates_nothing(tmp_path):
    # A 200-byte file declaring 2**33 float32 (32 GiB): refused by its size.
    h = repr({"descr": "<f4", "fortran_order": False, "shape": (2**33,)})
    path = _npy_member(tmp_path, h, b"\0" * 16)
    assert os.path.getsize(path) < 400
    _refused(path, r"w: member holds 16 data bytes; its shape \(8589934592,\)")


def test_bool_bytes_must_be_0_or_1(tmp_path):
    h = repr({"descr": "|b1", "fortran_order": False, "shape": (3,)})
    _refused(_npy_member(tmp_path, h, b"\x00\x01\x02"), "w: must hold only 0")


def test_exact_read_checks_dtype_shape_order(tmp_path):
    path = _write(tmp_path, build([Entry("w.npy", npy(np.ones((2, 3), "<f4")))]))
    with open_npz(path, SparseFormatError) as a:
        assert a.peek("w") == ((2, 3), np.dtype("<f4"))
        with pytest.raises(SparseFormatError, match="w: dtype must be float64"):
            a.read("w", np.dtype("<f8"), (2, 3))
        with pytest.raises(SparseFormatError, match=r"w: shape must be \(3, 2\)"):
            a.read("w", np.dtype("<f4"), (3, 2))
        with pytest.raises(SparseFormatError, match="x: missing member"):
            a.read("x", np.dtype("<f4"), (3, 2))
        assert a.read("w", np.dtype("<f4"), (2, 3)).sum() == 6


def test_json_member(tmp_path):
    deep = np.array("[" * 100_000 + "]" * 100_000)
    huge_int = np.array("1" + "0" * 5000)
    for value, match in [(deep, "invalid JSON"), (huge_int, "invalid JSON")]:
        path = _write(tmp_path, build([Entry("h.npy", npy(value))]))
        with open_npz(path, SparseFormatError) as a:
            with pytest.raises(SparseFormatError, match=f"h: {match}"):
                a.read_json("h", 1 << 20)
    path = _write(tmp_path, build([Entry("h.npy", npy(np.array('{"a": [1, 2]}')))]))
    with open_npz(path, SparseFormatError) as a:
        assert a.read_json("h", 100) == {"a": [1, 2]}
        with pytest.raises(SparseFormatError, match="h: too"):
            a.read_json("h", 2)


def test_hostile_member_names_stay_on_one_line(tmp_path):
    name = "a\nb\x1b[31m" + "x" * 5000  # newline, terminal escape, very long
    blob = build([Entry(name, b"")])
    msg = _refused(_write(tmp_path, blob), "is not a .npy member")
    assert "\n" not in msg and "\x1b" not in msg and len(msg) < 400 + len(tmp_path.name)
