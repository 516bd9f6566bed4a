"""Tests for the the safe writer, sparsecore.runtime.atomic."""

import os

import numpy as np
import pytest

from sparsecore.runtime.atomic import atomic_savez, atomic_write


def _leftovers(folder):
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_atomic_savez_round_trip(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {
        "dense_0/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
        "meta": np.array("{}"),
        "n": np.int64(3),
    }
    atomic_savez(path, arrays)
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(arrays)
        for k, v in arrays.items():
            np.testing.assert_array_equal(f[k], v)
            assert f[k].dtype == np.asarray(v).dtype
    assert _leftovers(tmp_path) == []


def test_atomic_savez_compressed_is_smaller(tmp_path):
    z = {"w": np.zeros(100_000, np.float32)}
    atomic_savez(tmp_path / "u.npz", z)
    atomic_savez(tmp_path / "c.npz", z, compressed=True)
    size = os.path.getsize
    assert size(tmp_path / "c.npz") < size(tmp_path / "u.npz") / 10


def test_atomic_savez_replaces_existing_and_keeps_name(tmp_path):
    path = tmp_path / "model"  # no extension appended
    atomic_savez(path, {"a": np.ones(2)})
    atomic_savez(path, {"b": np.zeros(3)})
    with np.load(path, allow_pickle=False) as f:
        assert f.files == ["b"]
    assert os.listdir(tmp_path) == ["model"]


def test_atomic_savez_failure_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.npz"
    atomic_savez(path, {"a": np.ones(2)})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="object dtype"):
        atomic_savez(path, {"a": np.ones(2), "bad": np.array([None, 1], dtype=object)})
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_atomic_write_exception_in_block_cleans_up(tmp_path):
    path = tmp_path / "x.bin"
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path) as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_atomic_write_honours_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "f").st_mode & 0o777) == 0o644


@pytest.mark.parametrize("bad", ["", "/abs", 3])
def test_atomic_savez_rejects_bad_names(tmp_path, bad):
    with pytest.raises(ValueError, match="array names"):
        atomic_savez(tmp_path / "a.npz", {bad: np.ones(1)})
    assert os.listdir(tmp_path) == []


def test_atomic_savez_rejects_non_mapping(tmp_path):
    with pytest.raises(TypeError, match="arrays must be"):
        atomic_savez(tmp_path / "a.npz", [np.ones(1)])


def test_atomic_savez_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_savez(tmp_path / "nope" / "a.npz", {"a": np.ones(1)})
