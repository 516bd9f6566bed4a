"""sparsecore.experiment.result: ExperimentResult as JSON and as a table."""

import dataclasses
import json
import os

from sparsecore._text import human_bytes
from sparsecore.experiment import ExperimentResult


def test_to_dict_is_json(tiny_result):
    result, _ = tiny_result
    d = result.to_dict()
    again = json.loads(json.dumps(d, allow_nan=False))
    assert again == d
    assert d["config"]["hidden"] == [16, 16]
    assert d["pruned"]["final_val_loss"] == result.pruned.final_val_loss
    assert {f.name for f in dataclasses.fields(ExperimentResult)} == set(d)


def test_save_json(tiny_result, tmp_path):
    result, _ = tiny_result
    path = tmp_path / "r.json"
    result.save_json(path)
    assert json.loads(path.read_text()) == result.to_dict()


def test_table(tiny_result):
    result, _ = tiny_result
    text = result.table()
    for needle in (
        "final val_loss",
        f"{result.dense.final_val_loss:.4g}",
        f"{result.pruned.final_val_loss:.4g}",
        "kernel sparsity",
        "0.7500",
        "file, CSR .npz",
        "inference of the pruned model  dense kernels  SparseModel",
        "'dense kernels' runs the pruned model's weights as dense matrices",
        "schedule: completed at step 15 of 20",
        "dense_0/kernel *",
    ):
        assert needle in text


def test_table_is_the_house_table(tiny_result):
    # Laid out by sparsecore._text.format_table: a rule under the header, the
    # values right-aligned, the sizes through human_bytes.
    result, _ = tiny_result
    lines = result.table().splitlines()
    assert lines[0].split() == ["dense", "pruned"]
    assert set(lines[1]) == {"-"}
    first_table = lines[: lines.index("")]
    assert len(lines[1]) == max(len(line) for line in first_table)
    size = human_bytes(result.file_bytes["pruned_csr"])
    row = next(line for line in lines if line.startswith("file, CSR .npz "))
    assert size in row
    dense_col = lines[0].index("dense") + len("dense")
    assert lines[2][:dense_col].endswith(f"{result.dense.final_val_loss:.4g}")
    # the inference table: one row per timed batch size, speedup = dense / sparse
    start = next(i for i, line in enumerate(lines) if line.startswith("inference of"))
    for batch, t in result.inference.items():
        row = next(x for x in lines[start:] if x.startswith(f"batch {batch} "))
        assert f"x{t['dense_s'] / t['sparse_s']:.2f} faster" in row


def test_save_json_leaves_no_temporary_file(tiny_result, tmp_path):
    result, _ = tiny_result
    result.save_json(tmp_path / "r.json")
    result.save_json(tmp_path / "r.json")  # replaces it
    assert os.listdir(tmp_path) == ["r.json"]
