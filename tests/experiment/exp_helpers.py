"""The tiny experiment the tests of sparsecore.experiment share."""

from sparsecore.experiment import ExperimentConfig

# 400 samples -> 320 train, batch 64 -> 5 steps per epoch; 4 epochs = 20 steps;
# the schedule prunes at steps 5, 10, 15 and completes.
TINY = ExperimentConfig.quick(
    n_samples=400,
    n_features=20,
    n_informative=10,
    hidden=(16, 16),
    epochs=4,
    batch_size=64,
    begin_step=5,
    end_step=15,
    frequency=5,
    timing_budget=0.01,
)
