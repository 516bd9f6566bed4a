"""tfmot's own pruning_utils tests, translated to sparsecore.

Source: tensorflow/model-optimization,
tensorflow_model_optimization/python/core/sparsity/keras/pruning_utils_test.py.
tfmot's helpers (``factorized_pool``, ``expand_tensor``, ``weights_rearrange``,
``generate_m_by_n_mask``, ``is_pruned_m_by_n``) are TensorFlow internals behind
the block and N:M masks; the tests check what they compute through
sparsecore's ``magnitude_mask(block_size=...)``, ``nm_mask`` and
``is_pruned_m_by_n``. Adaptations (docs/semantics.md):

- pooling with SAME padding on a shape the block does not divide (the 6x6
  window on 1024 rows): sparsecore pools and expands on one grid aligned at 0,
  tfmot pools on a grid padded before the first block; the oracle is
  sparsecore's grid, and the tfmot grid is checked where the two agree;
- tfmot raises ``InvalidArgumentError`` (a TensorFlow error) where sparsecore
  raises ``ValueError``;
- ``m_by_n_sparsity_mask_prepare`` (reshaping a rank-2 mask back to a rank-4
  kernel) has no counterpart: ``nm_mask`` returns the kernel's shape directly,
  checked against tfmot's rearrange-mask-restore pipeline instead.
"""

import numpy as np
import pytest

from sparsecore.prune import is_pruned_m_by_n, keep_count, magnitude_mask, nm_mask

WINDOWS = [(1, 1), (4, 4), (6, 6), (1, 4), (4, 1), (1, 8), (8, 1)]


def glorot_uniform(shape, seed):
    limit = np.sqrt(6.0 / sum(shape[-2:]))
    return np.random.default_rng(seed).uniform(-limit, limit, shape).astype(np.float32)


def tfmot_rule(scores, sparsity):
    """tfmot's _update_mask: keep |x| >= the k-th largest (float32 k)."""
    k = keep_count(scores.size, sparsity)
    return scores >= np.sort(scores.ravel())[::-1][k - 1]


def pool(a, window, how):
    """Direct pooling on the grid aligned at 0 (partial blocks at the end)."""
    (h, w), (bh, bw) = a.shape, window
    out = np.zeros((-(-h // bh), -(-w // bw)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            tile = a[i * bh : (i + 1) * bh, j * bw : (j + 1) * bw]
            out[i, j] = tile.max() if how == "max" else tile.mean()
    return out


# tfmot: PruningUtilsParameterizedTest.testFactorizedAvgPool and
# testFactorizedMaxPool (factorized pooling == direct pooling), and
# testExpandTensor (expansion == Kronecker product with ones), through the
# block mask they build.
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("how", ["avg", "max"])
def test_block_mask_is_direct_pooling_then_kronecker_expansion(window, how):
    shape = (1024 // 8, 2048 // 8)  # the tests' [1024, 2048], scaled down
    w = glorot_uniform(shape, seed=sum(window))
    mask = magnitude_mask(w, 0.5, block_size=window, block_pooling=how)
    pooled = pool(np.abs(w).astype(np.float64), window, how)
    keep = tfmot_rule(pooled, 0.5)  # glorot draws: no ties in the pooled scores
    expanded = np.kron(keep, np.ones(window, dtype=bool)).astype(bool)
    assert np.array_equal(mask, expanded[: shape[0], : shape[1]])
    if shape[0] % window[0] == 0 and shape[1] % window[1] == 0:
        # where the block divides the shape, tfmot's SAME padding is no padding
        # and its grid is this one: the masks are tfmot's exactly
        blocks = np.abs(w).reshape(shape[0] // window[0], window[0],
                                   shape[1] // window[1], window[1])  # fmt: skip
        tf_pooled = (
            blocks.max(axis=(1, 3)) if how == "max" else blocks.mean(axis=(1, 3))
        )
        assert np.array_equal(keep, tfmot_rule(tf_pooled, 0.5))


M_BY_N_MASK_CASES = {
    "wt_2x1_mbyn_2x4": ([[1.24], [1.11]], (2, 4), [[1], [1]]),
    "wt_2x3_mbyn_2x4": (
        [[-0.49, -0.66, 0.42], [0.31, 0.63, -1.63]],
        (2, 4),
        [[1, 1, 0], [0, 1, 1]],
    ),
    "wt_2x3_mbyn_1x2": (
        [[-0.49, -0.66, 0.42], [0.31, 0.63, -1.63]],
        (1, 2),
        [[0, 1, 1], [0, 1, 1]],
    ),
    "wt_2x4_mbyn_2x4": (
        [[0.25, -1.33, 0.43, -0.11], [0.47, 0.92, -0.13, -2.23]],
        (2, 4),
        [[0, 1, 1, 0], [0, 1, 0, 1]],
    ),
    "wt_2x5_mbyn_3x5": (
        [[1.71, -0.27, -0.3, -0.61, -0.19], [-0.4, 1.12, 0.46, -1.12, 0.17]],
        (3, 5),
        [[1, 0, 0, 1, 0], [0, 1, 0, 1, 0]],
    ),
}


# tfmot: GenerateMbyNMaskTest.testGenerateMbyNMask (all five named cases)
@pytest.mark.parametrize("case", sorted(M_BY_N_MASK_CASES))
def test_generate_m_by_n_mask(case):
    weights, (m, n), expected = M_BY_N_MASK_CASES[case]
    # generate_m_by_n_mask takes prepared [C_OUT, C_IN] weights: groups run
    # along the last axis.
    mask = nm_mask(np.asarray(weights), m, n, axis=-1)
    assert mask.astype(int).tolist() == expected


# tfmot: GenerateMbyNMaskTest.testGenerateMbyNMaskRaise
@pytest.mark.parametrize("m_by_n", [(4, 4), (5, 4)])
def test_generate_m_by_n_mask_raise(m_by_n):
    weights = glorot_uniform((2, 5), seed=0)
    with pytest.raises(ValueError):
        nm_mask(weights, *m_by_n, axis=-1)


IS_PRUNED_CASES = [
    ([[1, 2, 0, 0]], "C_OUT", True, (2, 4)),
    ([[1, 2, 0, 0]], "C_OUT", False, (1, 2)),
    ([[1, 0, 2, 0]], "C_OUT", True, (1, 2)),
    ([[1, 2, 3, 4]], "C_OUT", False, (2, 4)),
    ([[0, 0, 0, 0]], "C_OUT", True, (2, 4)),
    ([[1, 2, 0, 4], [0, 0, 1, 2]], "C_OUT", False, (2, 4)),
    ([[1, 2, 0, 0], [0, 0, 0, 1], [0, 2, 1, 0]], "C_OUT", True, (2, 4)),
    ([[1, 2, 0, 0], [1, 0, 0, 1], [0, 2, 1, 0]], "C_IN", True, (2, 4)),
    ([[1, 2, 3, 4, 5, 6]], "C_OUT", False, (2, 4)),
    ([[1, 2, 0, 0, 5, 6]], "C_OUT", True, (2, 4)),
    ([[1, 2, 0, 0, 5, 6, 7]], "C_OUT", False, (2, 4)),
    ([[1, 2, 0, 0, 5, 6, 0]], "C_OUT", True, (2, 4)),
]


# tfmot: IsPrunedMbyNTest.testIsPruned2by4 (all twelve cases)
@pytest.mark.parametrize(
    ("weight", "last_channel", "expected", "m_by_n"), IS_PRUNED_CASES
)
def test_is_pruned_2by4(weight, last_channel, expected, m_by_n):
    weight = np.asarray(weight)
    if last_channel == "C_OUT":
        weight = weight.T
    assert is_pruned_m_by_n(weight, m_by_n, last_channel) is expected


def tfmot_conv_m_by_n(w, m, n):
    """weights_rearrange -> generate_m_by_n_mask -> m_by_n_sparsity_mask_prepare,
    op for op in NumPy, for a Conv2D kernel [H, W, C_IN, C_OUT]."""
    prepared = np.transpose(w, (3, 0, 1, 2)).reshape(-1, w.shape[2])
    a = np.abs(prepared)
    pad = -(-a.shape[1] // n) * n - a.shape[1]
    blocks = np.pad(a, [(0, 0), (0, pad)]).reshape(-1, n)
    top = np.argsort(-blocks, axis=1, kind="stable")[:, : n - m]
    mask = np.zeros(blocks.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    mask = mask.reshape(a.shape[0], -1)[:, : a.shape[1]]
    return np.transpose(mask.reshape(w.shape[3], *w.shape[:3]), (1, 2, 3, 0))


# tfmot: WeightsRearrangeTest.testWeightsRearrange ([4, 3] -> [3, 4],
# [5, 5, 3, 4] -> [100, 3]) and MbyNSparsityMaskPrepareTest, through the mask
# they build: a Dense kernel groups along axis 0, a Conv2D kernel along axis 2.
@pytest.mark.parametrize("shape", [(4, 3), (5, 5, 3, 4), (2, 2, 4, 1), (3, 3, 7, 5)])
def test_weights_rearrange_and_mask_prepare_round_trip(shape):
    w = glorot_uniform(shape, seed=len(shape))
    axis = len(shape) - 2
    mask = nm_mask(w, 2, 4, axis=axis)
    if len(shape) == 4:
        assert np.array_equal(mask, tfmot_conv_m_by_n(w, 2, 4))
    else:
        assert np.array_equal(mask.T, nm_mask(w.T, 2, 4, axis=-1))
    assert mask.shape == w.shape
    assert is_pruned_m_by_n(w * mask, (2, 4), "C_OUT")


# tfmot: WeightsRearrangeTest.testWeightsRearrangeRaise ([2], [2, 2, 2])
@pytest.mark.parametrize("shape", [(2,), (2, 2, 2)])
def test_weights_rearrange_raise(shape):
    with pytest.raises(ValueError):
        is_pruned_m_by_n(glorot_uniform(shape, seed=0), (2, 4), "C_OUT")
