"""Prune a PyTorch model while it trains, with sparsecore's ArrayPruner.

The lines marked ``# sparsecore`` are all a PyTorch user adds to a training
loop: the engine holds tfmot's schedule and sparsecore's masks, and prunes the
model's own tensors in place (zero-copy NumPy views of their memory).

    pip install torch scikit-learn     # torch is not a dependency of sparsecore
    python examples/torch_prune.py     # a few seconds on a laptop CPU

It trains a 64-128-128-10 MLP on scikit-learn's digits, dense and pruned to
80 % sparsity (the last layer kept dense), and prints both test accuracies.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import sparsecore as sc  # sparsecore

EPOCHS, BATCH = 30, 32
torch.set_num_threads(1)  # a small model: one thread is fastest


def train(prune: bool, seed: int = 0) -> tuple[float, torch.nn.Module, object]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16.0).astype(np.float32), y, test_size=0.3, stratify=y, random_state=0
    )
    x_train, x_test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    y_train, y_test = torch.from_numpy(y_train), torch.from_numpy(y_test)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = EPOCHS * -(-len(x_train) // BATCH)

    engine = None
    if prune:
        schedule = sc.PolynomialDecay(  # sparsecore
            0.0, 0.8, begin_step=steps // 5, end_step=steps * 3 // 5, frequency=20
        )
        engine = sc.prune.ArrayPruner(  # sparsecore
            schedule, policy=sc.prune.KeepDense(first=False, last=True)
        )
    params = dict(model.named_parameters())  # sparsecore: "0.weight", ...

    order = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(x_train), generator=order).split(BATCH):
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if engine is not None:
                engine.step(params)  # sparsecore: after the optimizer step
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return accuracy, model, engine


def main() -> None:
    dense, _, _ = train(prune=False)
    pruned, model, engine = train(prune=True)
    print(f"dense  test accuracy {dense:.4f}")
    print(f"pruned test accuracy {pruned:.4f}")
    print(engine.summary())  # step, target and reached sparsity, per layer
    weights = {n: p.detach().numpy() for n, p in model.state_dict().items()}
    print(sc.sparsity_report(weights, pruned=engine.masks))  # the exact zeros


if __name__ == "__main__":
    main()
