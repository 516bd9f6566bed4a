"""Tests for the the safe writer, sparsecore.runtime.atomic."""

import os
import signal
import stat
import subprocess
import sys
import time
import zipfile

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


# ------------------------------------------------------------- issue 10
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o755])
def test_replacing_keeps_the_target_mode(tmp_path, mode):
    path = tmp_path / "a.npz"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    old = os.umask(0o022)
    try:
        atomic_savez(path, {"a": np.ones(2)})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_content_is_never_more_readable_while_written(tmp_path):
    path = tmp_path / "secret.npz"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    with atomic_write(path) as f:
        (tmp,) = _leftovers(tmp_path)
        assert stat.S_IMODE(os.stat(tmp_path / tmp).st_mode) == 0o600
        f.write(b"new")


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_devices_are_refused_and_stay_devices(device):
    # root may replace /dev/full with a plain file: the writer must refuse.
    with pytest.raises(OSError, match="character device, not a regular file") as info:
        atomic_savez(device, {"a": np.ones(2)})
    assert info.value.filename == device
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert not [n for n in os.listdir("/dev") if n.startswith(".") and ".tmp" in n]


def test_fifo_and_directory_refused(tmp_path):
    fifo = tmp_path / "out.npz"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO") as info:
        atomic_savez(fifo, {"a": np.ones(2)})  # must not block on the FIFO either
    assert info.value.filename == str(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(IsADirectoryError, match="is a directory") as info:
        atomic_savez(tmp_path, {"a": np.ones(2)})
    assert info.value.filename == str(tmp_path)
    assert _leftovers(tmp_path) == []


def test_writes_through_a_symlink_and_keeps_it(tmp_path):
    target = tmp_path / "real" / "model.npz"
    target.parent.mkdir()
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    atomic_savez(link, {"a": np.arange(3)})
    assert link.is_symlink() and os.readlink(link) == str(target)
    with np.load(target, allow_pickle=False) as f:
        assert f["a"].tolist() == [0, 1, 2]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert _leftovers(tmp_path) == [] and _leftovers(target.parent) == []
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "real" / "new.npz")
    atomic_savez(dangling, {"a": np.ones(1)})
    assert dangling.is_symlink() and (tmp_path / "real" / "new.npz").is_file()


def test_errors_name_the_callers_path_never_the_temp(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="path must be a non-empty path"):
        atomic_savez("", {"a": np.ones(1)})
    missing = tmp_path / "nope" / "a.npz"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        atomic_savez(missing, {"a": np.ones(1)})
    assert info.value.filename == str(missing)
    # Permission denied on the folder (root ignores mode bits: simulate it).
    real_open = os.open

    def denied(name, *args, **kwargs):
        if str(name).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    path = tmp_path / "ro.npz"
    with pytest.raises(PermissionError) as info:
        atomic_savez(path, {"a": np.ones(1)})
    assert info.value.filename == str(path) and ".tmp" not in str(info.value)


def test_replace_failure_names_the_callers_path(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError(18, "Invalid cross-device link", src, dst)

    monkeypatch.setattr(os, "replace", fail)
    path = tmp_path / "a.npz"
    with pytest.raises(OSError, match="cross-device") as info:
        atomic_savez(path, {"a": np.ones(1)})
    assert info.value.filename == str(path) and ".tmp" not in str(info.value)
    assert _leftovers(tmp_path) == []


def test_interrupt_right_after_the_temp_is_created_leaves_nothing(
    tmp_path, monkeypatch
):
    # Ctrl-C between os.open returning and the try block: the old window.
    real_open = os.open

    def open_then_interrupt(name, *args, **kwargs):
        fd = real_open(name, *args, **kwargs)
        if str(name).endswith(".tmp"):
            os.close(fd)  # (the real window would leak this descriptor too)
            raise KeyboardInterrupt
        return fd

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_savez(tmp_path / "a.npz", {"a": np.ones(1)})
    assert os.listdir(tmp_path) == []


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_the_same_target_are_removed(tmp_path):
    dead = _dead_pid()
    stale = [f".a.npz.{dead}-0123456789ab.tmp", ".a.npz.0123456789ab.tmp"]
    live = f".a.npz.{os.getppid()}-0123456789ab.tmp"  # a running process
    other = [".b.npz.0123456789ab.tmp", ".a.npz.x.0123456789ab.tmp", "a.npz.tmp"]
    for name in [*stale, live, *other]:
        (tmp_path / name).write_bytes(b"x" * 100)
    old = time.time() - 2 * 24 * 3600  # the legacy name has no pid: age decides
    os.utime(tmp_path / stale[1], (old, old))
    atomic_savez(tmp_path / "a.npz", {"a": np.ones(1)})
    left = set(os.listdir(tmp_path))
    assert not left & set(stale)
    assert {live, *other, "a.npz"} <= left


_SLOW_WRITER = """
import os, sys, time
from sparsecore.runtime.atomic import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_sigterm_during_a_save_removes_the_temp_and_terminates(tmp_path):
    path = tmp_path / "a.npz"
    path.write_bytes(b"old")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "writing"
    assert len(_leftovers(tmp_path)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM  # still terminated by the signal
    proc.stdout.close()
    assert _leftovers(tmp_path) == []
    assert path.read_bytes() == b"old"


def test_a_programs_own_sigterm_handler_is_kept(tmp_path):
    code = (
        "import signal, sys\n"
        "from sparsecore.runtime.atomic import atomic_write\n"
        "mine = lambda *a: None\n"
        "signal.signal(signal.SIGTERM, mine)\n"
        "with atomic_write(sys.argv[1]) as f:\n"
        "    assert signal.getsignal(signal.SIGTERM) is mine\n"
        "assert signal.getsignal(signal.SIGTERM) is mine\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "ok"


def test_atomic_savez_copies_other_members_byte_for_byte(tmp_path):
    blob = b'{"a": 1}\x00\x00\xff'
    atomic_savez(tmp_path / "a.npz", {"w": np.ones(2)}, files={"config.json": blob})
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert zf.read("config.json") == blob
        assert zf.namelist() == ["w.npy", "config.json"]
    for bad in ["", "x.npy", "/abs", "dir/"]:
        with pytest.raises(ValueError, match="file member names"):
            atomic_savez(tmp_path / "b.npz", {}, files={bad: b""})
    with pytest.raises(TypeError, match="must be bytes"):
        atomic_savez(tmp_path / "b.npz", {}, files={"a.txt": "text"})


def test_the_same_arrays_give_the_same_bytes(tmp_path):
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array("x")}
    for compressed in (False, True):
        atomic_savez(tmp_path / "1.npz", arrays, compressed=compressed)
        time.sleep(1.1)  # zip dates have a 2 s resolution: cross a tick
        atomic_savez(tmp_path / "2.npz", arrays, compressed=compressed)
        assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
