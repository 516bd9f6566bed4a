"""The README's torch workflow, end to end on a short run: train in PyTorch,
``sparsecore prune --save-masks``, masked fine-tune, ``sparsecore deploy``,
evaluate the SparseModel (examples/torch_digits_workflow.py)."""

import importlib.util
import os

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("sklearn")

EXAMPLE = os.path.join(
    os.path.dirname(__file__), "..", "..", "examples", "torch_digits_workflow.py"
)


def _example():
    spec = importlib.util.spec_from_file_location("torch_digits_workflow", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_state_dict_to_deployed_sparse_model(tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    from sparsecore.cli import main
    from sparsecore.runtime import SparseModel

    wf = _example()
    p = {n: str(tmp_path / n) for n in ("d.safetensors", "p.safetensors", "m.npz",
                                        "f.safetensors", "model.npz")}  # fmt: skip
    dense = wf.train(p["d.safetensors"], epochs=3, seed=0)
    assert dense > 0.8
    assert main(["prune", p["d.safetensors"], "-o", p["p.safetensors"],
                 "--sparsity", "0.9", "--scope", "global",
                 "--save-masks", p["m.npz"]]) == 0  # fmt: skip
    tuned = wf.finetune(p["p.safetensors"], p["m.npz"], p["f.safetensors"], 2, 0)
    assert main(["deploy", p["f.safetensors"], "-o", p["model.npz"]]) == 0
    deployed = wf.evaluate(p["model.npz"])
    out = capsys.readouterr().out
    assert "pruned weights still zero: True" in out
    # the deployed model computes what the fine-tuned torch network computes
    assert deployed == tuned
    state = load_file(p["f.safetensors"])
    net = wf._network(0)
    net.load_state_dict(state)
    _, (x, _) = wf._data()
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    sm = SparseModel.load(p["model.npz"])
    np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-4, atol=1e-4)
    # and it is 90 % sparse, as pruned
    with np.load(p["m.npz"]) as masks:
        kept = sum(int(masks[n].sum()) for n in masks.files)
        total = sum(masks[n].size for n in masks.files)
    assert kept == round(0.1 * total)
    assert sum(int(np.count_nonzero(state[n].numpy())) for n in masks.files) <= kept
