"""Fuzzing the command line's readers: mutated weight archives through the CLI.

``sparsecore inspect`` and ``sparsecore prune`` read any ``.npz`` a user has
(exported weights: Fortran-ordered and big-endian arrays, a ``config.json``
member, deflated or not), plus saved SparseModels and checkpoints. Each
mutated file (the mutations of tests/fuzz/mutations.py) goes through:

- :func:`sparsecore.cli._common.read_archive`, which must return the
  archive or raise ``CLIError`` naming the file, nothing else; what it
  returns must equal what ``np.load`` / ``zipfile`` read from the same file
  when they can read it (a differential oracle: the defensive reader never
  misreads);
- ``main(["inspect", path])`` and, for readable archives,
  ``main(["prune", path, "-o", out, ...])``, which must exit 0, or 1 with one
  ``sparsecore: error:`` line and no internal error; a pruned output must
  read back with the same array names and shapes and every other member
  byte for byte.

Each case has a 10 s alarm. ``SPARSECORE_FUZZ_EXAMPLES`` scales it as
test_fuzz_files.py.
"""

import contextlib
import functools
import io
import os
import signal
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.cli import main
from sparsecore.cli._common import CLIError, read_archive
from sparsecore.runtime import SparseModel, atomic_savez
from tests.fuzz.mutations import NON_NPZ, raw, structural

EXAMPLES = max(20, int(os.environ.get("SPARSECORE_FUZZ_EXAMPLES", "600")) * 2 // 3)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIMEOUT_S = 10


@functools.lru_cache(maxsize=1)
def bases():
    """Plain and exported weights, a SparseModel and a checkpoint, as bytes."""
    rng = np.random.default_rng(0)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        plain = {
            "dense/kernel": rng.standard_normal((12, 8)).astype(np.float32),
            "dense/bias": rng.standard_normal(8).astype(np.float32),
            "out/kernel": rng.standard_normal((8, 3)),
            "ids": rng.integers(0, 9, size=(3, 4)),
            "step": np.int64(7),
            "name": np.array("model"),
            "flags": rng.random(5) < 0.5,
        }
        # (atomic_savez and a fixed date: the same bytes in every run)
        atomic_savez(os.path.join(d, "plain.npz"), plain)
        exported = os.path.join(d, "exported.npz")
        date = (1980, 1, 1, 0, 0, 0)
        with zipfile.ZipFile(exported, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, a in {
                "fc.weight": np.asfortranarray(rng.standard_normal((8, 12))),
                "fc.bias": rng.standard_normal(8).astype(">f4"),
            }.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(name + ".npy", date), buf.getvalue())
            config = b'{"in": 12, "out": 8}\n\x00'
            zf.writestr(zipfile.ZipInfo("config.json", date), config)
        layers = [
            (rng.standard_normal((6, 4)), None, "relu"),
            (np.ones((4, 2)), None, None),
        ]
        SparseModel.from_layers(layers, format="csr").save(os.path.join(d, "sm.npz"))
        model = sc.Sequential(
            [sc.Dense(3), sc.ReLU(), sc.Dense(1)], input_dim=4, seed=0
        )
        model.compile("mse", "adam")
        model.save(os.path.join(d, "ckpt.npz"))
        for name in ("plain.npz", "exported.npz", "sm.npz", "ckpt.npz"):
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
    return out


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a CLI read took more than {TIMEOUT_S} s")


def _run(*args):
    """main(args) in this process: (exit code, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def _assert_clean_exit(code, err, path):
    assert code in (0, 1), (code, err)
    if code == 1:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sparsecore: error: "), err
        assert "internal error" not in err and ".tmp" not in err, err


def _reference(path):
    """What numpy/zipfile read from `path` (None where they cannot)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {}
            for k in f.files:
                try:
                    arrays[k] = f[k]
                except Exception:  # noqa: BLE001 - whatever numpy makes of it
                    arrays[k] = None
    except Exception:  # noqa: BLE001
        return None
    return arrays


def check(blob, counts, prune):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "w.npz")
    with open(path, "wb") as f:
        f.write(blob)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        try:
            archive = read_archive(path)
        except CLIError as e:
            assert path in str(e), e
            outcome = "refused"
        else:
            outcome = "read"
            ref = _reference(path)
            for name, a in archive.arrays.items():
                b = None if ref is None else ref.get(name)
                if b is not None and b.dtype == a.dtype:
                    assert b.shape == a.shape, name
                    np.testing.assert_array_equal(a, b, err_msg=name)
            with zipfile.ZipFile(path) as zf:
                for name, data in archive.files.items():
                    assert zf.read(name) == data
        code, err = _run("inspect", path)
        _assert_clean_exit(code, err, path)
        if outcome == "read" and prune:
            out = os.path.join(d, "p.npz")
            code, err = _run("prune", path, "-o", out, "--sparsity", "0.5")
            _assert_clean_exit(code, err, path)
            if code == 0:
                back = read_archive(out)
                assert list(back.arrays) == list(archive.arrays)
                for name, a in archive.arrays.items():
                    assert back.arrays[name].shape == a.shape
                assert back.files == archive.files
                outcome = "pruned"
            assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        for n in os.listdir(d):
            os.remove(os.path.join(d, n))
        os.rmdir(d)
    counts[("cli", outcome)] += 1
    return outcome


@FUZZ
@given(data=st.data())
def test_fuzz_cli_readers(fuzz_counts, data):
    name = data.draw(st.sampled_from(sorted(bases())), label="base")
    original = blob = bases()[name]
    for _ in range(data.draw(st.integers(0, 2), label="structural")):
        blob = structural(data, blob)
    for _ in range(data.draw(st.integers(int(blob == original), 2), label="raw")):
        blob = raw(data, blob)
    check(blob, fuzz_counts, prune=data.draw(st.booleans(), label="prune"))


@settings(FUZZ, max_examples=max(10, EXAMPLES // 8))
@given(blob=NON_NPZ)
def test_fuzz_cli_non_npz_data(fuzz_counts, blob):
    assert check(blob, fuzz_counts, prune=True) == "refused"


@pytest.mark.parametrize("name", sorted(bases()))
def test_cli_reads_every_base_and_prunes_the_weights(fuzz_counts, name):
    # a SparseModel or a checkpoint is read and inspected; prune refuses it
    expected = "read" if name in ("sm.npz", "ckpt.npz") else "pruned"
    assert check(bases()[name], fuzz_counts, prune=True) == expected
