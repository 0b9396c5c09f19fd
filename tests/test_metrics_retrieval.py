"""counterpart_retrieval and translation_error (i2ilab.metrics) on hand-made cases."""

import numpy as np
import pytest

from i2ilab.metrics import counterpart_retrieval, translation_error


def _truths(n=8, size=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


def test_identity_finds_every_counterpart():
    truths = _truths()
    assert counterpart_retrieval(truths, truths) == 1.0
    assert translation_error(truths, truths) == 0.0
    # Small noise keeps each output nearest its own truth.
    noisy = truths + np.random.default_rng(1).normal(0, 0.01, truths.shape).astype(np.float32)
    assert counterpart_retrieval(noisy, truths) == 1.0


def test_a_permutation_finds_none():
    truths = _truths()
    shifted = np.roll(truths, 1, axis=0)  # output i is truth i - 1: a permutation without fixed point
    assert counterpart_retrieval(shifted, truths) == 0.0
    half = truths.copy()
    half[:4] = shifted[:4]  # outputs 0..3 are their neighbour's truth, 4..7 their own
    assert counterpart_retrieval(half, truths) == pytest.approx(4 / 8)


def test_outputs_that_ignore_the_input_are_at_chance():
    truths = _truths(n=16)
    constant = np.repeat(truths[5:6], 16, axis=0)  # every input gives the same output
    assert counterpart_retrieval(constant, truths) == pytest.approx(1 / 16)
    rng = np.random.default_rng(2)
    random = [counterpart_retrieval(_truths(n=16, seed=s), truths) for s in rng.integers(0, 10**6, 200)]
    assert np.mean(random) == pytest.approx(1 / 16, abs=0.02)


def test_translation_error_is_the_mean_absolute_difference():
    zeros = np.zeros((2, 3, 3, 3), np.float32)
    ones = np.ones_like(zeros)
    assert translation_error(ones, zeros) == pytest.approx(1.0)
    assert translation_error(-ones, ones) == pytest.approx(2.0)
    truths = _truths()
    outputs = _truths(seed=3)
    assert translation_error(outputs, truths) == pytest.approx(float(np.abs(outputs - truths).mean()))


def test_shape_mismatch_is_a_value_error():
    truths = _truths()
    with pytest.raises(ValueError, match="one shape"):
        counterpart_retrieval(truths[:4], truths)
    with pytest.raises(ValueError, match="one shape"):
        translation_error(truths[:, :2], truths)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        counterpart_retrieval(truths[0], truths[0])
