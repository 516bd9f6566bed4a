"""The tutorial's experiment: the same network trained dense and pruned, compared.

This is what ``sparsecore demo`` runs. It reproduces the TensorFlow Model
Optimization pruning tutorial with sparsecore's three stages:

1. **data** -- ``make_regression(10000, 1000, n_informative=500, noise=3,
   random_state=0)``; x divided by its per-column max |x|, y by max |y|;
   ``train_test_split(test_size=0.2, random_state=42)``.
2. **train** -- 1000 -> 1024 (he_normal) -> ReLU -> 1024 -> ReLU -> 1, MSE,
   Adam(1e-3), batch 1024, once dense and once with a :class:`Pruner` on
   ``PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)``, both from
   the same initial weights and the same batches.
3. **deploy** -- the pruned model as a :class:`SparseModel`: file sizes (dense
   ``.npz``, CSR ``.npz``, compressed) and inference time against the dense
   path at batch 1 and 1024.

Every number is overridable through :class:`ExperimentConfig`;
:meth:`ExperimentConfig.quick` is a small version (under a minute on two
cores) that runs the same code path.

One module per concept, re-exported here:

- :mod:`sparsecore.experiment.config` -- the settings, :class:`ExperimentConfig`;
- :mod:`sparsecore.experiment.run` -- the data and train stages and
  :func:`run_experiment`;
- :mod:`sparsecore.experiment.deploy` -- the deploy stage (saved sizes,
  inference timed with the benchmark's :mod:`~sparsecore.bench.timing`);
- :mod:`sparsecore.experiment.result` -- :class:`RunResult`,
  :class:`ExperimentResult`, its JSON and its table.

Examples
--------
>>> from sparsecore.experiment import ExperimentConfig, run_experiment
>>> result = run_experiment(ExperimentConfig.quick(), log=print)  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
>>> result.to_dict()["pruned"]["final_val_loss"]  # doctest: +SKIP
"""

from __future__ import annotations

from sparsecore.experiment.config import ExperimentConfig
from sparsecore.experiment.result import ExperimentResult, RunResult
from sparsecore.experiment.run import build_model, load_data, run_experiment

__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "RunResult",
    "build_model",
    "load_data",
    "run_experiment",
]
