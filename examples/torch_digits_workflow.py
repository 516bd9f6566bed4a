"""From a PyTorch state_dict to a pruned, fine-tuned, deployed SparseModel.

The README's torch workflow, step by step; each step is a subcommand, and the
``sparsecore`` commands run between them::

    python examples/torch_digits_workflow.py train digits.safetensors
    sparsecore prune digits.safetensors -o pruned.safetensors --sparsity 0.9 \\
        --scope global --save-masks masks.npz
    python examples/torch_digits_workflow.py finetune pruned.safetensors \\
        masks.npz finetuned.safetensors
    sparsecore deploy finetuned.safetensors -o digits_model.npz
    python examples/torch_digits_workflow.py evaluate digits_model.npz

``train`` fits a 64-256-256-10 MLP on the digits (``sc.data.load_digits()``,
1347 training and 450 test images) and saves its ``state_dict`` with
``safetensors.torch.save_file``. ``finetune`` loads the pruned weights into
the same network and trains it again with the masks held fixed by
:class:`sparsecore.prune.ArrayPruner` (the pruned weights stay exactly zero:
two added lines). ``evaluate`` runs the deployed model with NumPy only. Each
step prints the test accuracy. The whole path takes well under a minute on a
laptop CPU. Needs torch, safetensors and scikit-learn (none of them a
dependency of sparsecore; ``pip install torch "sparsecore[safetensors,datasets]"``).
"""

from __future__ import annotations

import argparse

import numpy as np

import sparsecore as sc

HIDDEN = 256


def _data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return sc.data.load_digits()


def _network(seed: int):  # -> torch.nn.Sequential
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 10),
    )  # fmt: skip


def _fit(model, epochs: int, lr: float, seed: int, masks=None) -> None:
    import torch

    (x, y), _ = _data()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    params = dict(model.named_parameters())
    engine = None if masks is None else sc.prune.ArrayPruner(masks=masks)  # sparsecore
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=order).split(32):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if engine is not None:
                engine.step(params)  # sparsecore: pruned weights back to 0


def _accuracy(model) -> float:
    import torch

    _, (x, y) = _data()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float(np.mean(pred == y))


def train(out: str, epochs: int, seed: int) -> float:
    """Train the dense network; save its state_dict; return its test accuracy."""
    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(1)  # a small model: one thread is fastest
    model = _network(seed)
    _fit(model, epochs, 1e-3, seed)
    save_file(model.state_dict(), out)
    acc = _accuracy(model)
    print(f"dense: test accuracy {acc:.4f} ({epochs} epochs); wrote {out}")
    return acc


def finetune(weights: str, masks: str, out: str, epochs: int, seed: int) -> float:
    """Fine-tune pruned weights with fixed masks; save; return the accuracy."""
    import torch
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(1)
    model = _network(seed)
    model.load_state_dict(load_file(weights))
    before = _accuracy(model)
    with np.load(masks, allow_pickle=False) as f:
        fixed = {name: f[name] for name in f.files}
    _fit(model, epochs, 5e-4, seed + 1, masks=fixed)
    acc = _accuracy(model)
    params = dict(model.named_parameters())
    kept = all(
        bool(torch.all(params[n].detach()[~torch.from_numpy(m)] == 0))
        for n, m in fixed.items()
    )
    save_file(model.state_dict(), out)
    print(
        f"pruned, before fine-tuning: test accuracy {before:.4f}; after {epochs} "
        f"epochs of masked fine-tuning: {acc:.4f} (pruned weights still zero: "
        f"{kept}); wrote {out}"
    )
    return acc


def evaluate(model_path: str) -> float:
    """The deployed SparseModel's test accuracy (NumPy only)."""
    sm = sc.SparseModel.load(model_path)
    _, (x, y) = _data()
    acc = float(np.mean(sm.predict(x).argmax(1) == y))
    nnz = sum(layer.nnz for layer in sm.layers)
    print(
        f"SparseModel {model_path}: test accuracy {acc:.4f} "
        f"({nnz:,} nonzero weights, formats {[la.format for la in sm.layers]})"
    )
    return acc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("train")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("finetune")
    p.add_argument("weights")
    p.add_argument("masks")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("evaluate")
    p.add_argument("model")
    args = parser.parse_args(argv)
    if args.step == "train":
        train(args.out, args.epochs, args.seed)
    elif args.step == "finetune":
        finetune(args.weights, args.masks, args.out, args.epochs, args.seed)
    else:
        evaluate(args.model)


if __name__ == "__main__":
    main()
