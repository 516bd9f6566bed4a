"""What the hardening checks of issue 10 cost, measured side by side.

1. ``SparseModel.predict`` at batch 1 on the 90 %-sparse tutorial model
   (1000 -> 1024 -> 1024 -> 1, CSR): the input checks it has now (shape,
   dtype, finiteness in the model's dtype, as ``Sequential.predict``)
   against the checks it had before (shape and dtype kind only).
2. One epoch of the tutorial network (8000 x 1000 float32, batch 1024, 8
   steps, Adam 1e-3): ``fit`` with its update check (every weight and step
   bounded before anything is applied), the same ``fit`` with the update
   check off, and the train step of main before the issue (a sum-based
   gradient check, no update check).
3. The finiteness checks of one training step timed against that step:
   the share of the step they take, robust to a busy machine.

Both run interleaved (:func:`sparsecore.bench.timing.time_interleaved`:
every round runs every variant once, in a shuffled order), report medians
and ratios, and print the environment.

Run::

    python benchmarks/checks_overhead.py          # 400 + 25 + 60 interleaved rounds
    python benchmarks/checks_overhead.py --quick  # a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import math
from typing import Any

import numpy as np

import sparsecore as sc
from sparsecore._checks import finite_norm, validate_int
from sparsecore._environment import environment
from sparsecore._text import format_table
from sparsecore.bench.networks import make_input, pruned_tutorial_layers
from sparsecore.bench.timing import time_interleaved
from sparsecore.runtime import SparseModel

_QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def previous_predict(self: SparseModel, x: Any, batch_size: int | None = None) -> Any:
    """``SparseModel.predict`` as it was before issue 10 (its checks, its loop)."""
    x = np.asarray(x)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != self.input_dim:
        raise ValueError(f"x must have shape (n_samples, {self.input_dim})")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must be numeric; got dtype {x.dtype}")
    chunk = 1024 if batch_size is None else validate_int("batch_size", batch_size, 1)
    out = np.empty((x.shape[0], self.output_dim), self.dtype)
    for s in range(0, x.shape[0], chunk):
        xc = x[s : s + chunk]
        y = self._forward_t(xc)
        out[s : s + xc.shape[0]] = y.T if y.ndim == 2 else y
    return out[0] if single else out


class UncheckedAdam(sc.Adam):
    """Adam whose update is never checked (``check_finite`` ignored)."""

    def apply(self, weights: Any, grads: Any, *, check_finite: bool = False) -> bool:
        return super().apply(weights, grads, check_finite=False)


class MainStep(sc.Sequential):
    """The train step of main before issue 10 (60f46c6)."""

    def _train_step(
        self, xb: Any, yb: Any, cbs: Any, check_finite: bool, *_: Any
    ) -> Any:
        loss_fn, optimizer = self._require_compiled()
        with np.errstate(**_QUIET) if check_finite else contextlib.nullcontext():
            pred = self.forward(xb)
            batch_loss = loss_fn.value(yb, pred)
            if check_finite and not math.isfinite(batch_loss):
                raise FloatingPointError("loss")
            self.backward(loss_fn.gradient(yb, pred), need_grad_in=False)
            grads = self.gradients()
            if check_finite and not all(math.isfinite(g.sum()) for g in grads.values()):
                raise FloatingPointError("gradient")
        cbs.on_before_optimizer_step()
        optimizer.apply(self.weights(), grads)
        cbs.on_after_optimizer_step()
        return batch_loss


def predict_ratio(repeats: int) -> list[list[str]]:
    sm = SparseModel.from_layers(pruned_tutorial_layers(0.9), format="csr")
    x = make_input(1, 1000)
    assert np.array_equal(previous_predict(sm, x), sm.predict(x))
    t = time_interleaved(
        {"before": lambda: previous_predict(sm, x), "now": lambda: sm.predict(x)},
        repeats=repeats,
        min_time=0.005,
    )
    before, now = t.median["before"], t.median["now"]
    return [
        [f"predict, batch 1, 90 % sparse CSR ({sm.backend})",
         "checks before issue 10 (reference)", f"{before * 1e6:.2f} us", "1.0000"],
        ["", "checks now", f"{now * 1e6:.2f} us", f"{now / before:.4f}"],
    ]  # fmt: skip


def tutorial_model(cls: type, optimizer: Any) -> Any:
    model = cls(
        [sc.Dense(1024, kernel_initializer="he_normal"), sc.ReLU(),
         sc.Dense(1024), sc.ReLU(), sc.Dense(1)],
        input_dim=1000,
        seed=0,
    )  # fmt: skip
    model.compile("mse", optimizer)
    return model


def training_ratio(repeats: int) -> list[list[str]]:
    x, y = sc.data.make_regression(
        10000, 1000, n_informative=500, noise=3, random_state=0
    )
    x = (x / np.abs(x).max(axis=0)).astype(np.float32)[:8000]
    y = (y / np.abs(y).max()).astype(np.float32)[:8000]
    models = {
        "update check off (reference)": tutorial_model(
            sc.Sequential, UncheckedAdam(1e-3)
        ),
        "checked update (now)": tutorial_model(sc.Sequential, sc.Adam(1e-3)),
        "main's step, before issue 10": tutorial_model(MainStep, UncheckedAdam(1e-3)),
    }
    fns = {
        name: (lambda m=m: m.fit(x, y, epochs=1, batch_size=1024, verbose=0, seed=0))
        for name, m in models.items()
    }
    t = time_interleaved(fns, repeats=repeats)
    ref = t.median["update check off (reference)"]
    rows = []
    for i, (name, median) in enumerate(t.median.items()):
        label = "fit, tutorial epoch (8 steps, batch 1024)" if i == 0 else ""
        rows.append([label, name, f"{median:.4f} s", f"{median / ref:.4f}"])
    return rows


def check_share(repeats: int) -> list[list[str]]:
    """The checks of one step against the step itself (one batch of 1024).

    Per step ``fit`` checks every gradient, every weight and every update
    step (one dot product each, :func:`sparsecore._checks.finite_norm`); the
    update steps have the weights' sizes, so the checks of a step cost three
    passes over arrays of the weights' sizes. Short samples of both, timed
    side by side, are less sensitive to a busy machine than whole epochs.
    """
    x, y = sc.data.make_regression(1024, 1000, n_informative=500, random_state=0)
    x, y = x.astype(np.float32), (y / np.abs(y).max()).astype(np.float32)
    model = tutorial_model(sc.Sequential, sc.Adam(1e-3))
    model.fit(x, y, epochs=1, batch_size=1024, verbose=0, seed=0)
    arrays = list(model.weights().values())

    def checks() -> bool:
        return all(finite_norm(a) for _ in range(3) for a in arrays)

    t = time_interleaved(
        {
            "one step": lambda: model.fit(x, y, epochs=1, batch_size=1024, verbose=0),
            "its checks": checks,
        },
        repeats=repeats,
        min_time=0.05,
    )
    step, cost = t.median["one step"], t.median["its checks"]
    return [
        ["fit, one step (batch 1024)", "the step, checks included (reference)",
         f"{step * 1e3:.2f} ms", "1.0000"],
        ["", "its finiteness checks alone", f"{cost * 1e3:.3f} ms",
         f"{cost / step:.4f}"],
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few rounds: a smoke test")
    args = p.parse_args()
    rows = [["measurement", "variant", "median", "x reference"]]
    rows += predict_ratio(20 if args.quick else 400)
    rows += training_ratio(2 if args.quick else 25)
    rows += check_share(3 if args.quick else 60)
    print(format_table(rows, "lllr"))
    env = environment()
    print(", ".join(f"{k}: {v}" for k, v in env.items()))


if __name__ == "__main__":
    main()
