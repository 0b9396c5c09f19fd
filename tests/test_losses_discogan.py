"""Losses of DiscoGAN and DistanceGAN against numbers computed by hand (NumPy loops)."""

import itertools

import keras
import numpy as np
import pytest

from i2ilab import losses


def num(x):
    return float(keras.ops.convert_to_numpy(x))


def test_feature_matching_is_the_squared_difference_of_batch_means():
    rng = np.random.default_rng(0)
    real = [rng.normal(size=(3, 4, 4, 2)).astype("float32"), rng.normal(size=(3, 2, 2, 5)).astype("float32")]
    fake = [rng.normal(size=(2, 4, 4, 2)).astype("float32"), rng.normal(size=(2, 2, 2, 5)).astype("float32")]
    expected = 0.0
    for r, f in zip(real, fake, strict=True):
        diff = r.mean(0) - f.mean(0)
        expected += (diff**2).sum() / diff.size
    assert num(losses.mean_feature_matching_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    # identical batch means give 0, whatever the samples
    assert num(losses.mean_feature_matching_loss([real[0]], [real[0][::-1]])) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="same number"):
        losses.mean_feature_matching_loss(real, fake[:1])


def test_rate_and_rate_weighted_objective():
    assert num(losses.discogan_rate(0)) == pytest.approx(0.01)
    assert num(losses.discogan_rate(9_999)) == pytest.approx(0.01)
    assert num(losses.discogan_rate(10_000)) == 0.5
    # (0.1 * 2 + 0.9 * 3) * (1 - 0.01) + 0.01 * 5 = 2.871 + 0.05
    assert num(losses.rate_weighted_loss(2.0, 3.0, 5.0, 0.01)) == pytest.approx(2.921)


def test_normalized_distance_loss_equals_the_pair_loop():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (4, 3, 3, 2)).astype("float32")
    ab = rng.uniform(0, 1, (4, 3, 3, 2)).astype("float32")
    mu_a, sd_a, mu_b, sd_b = 0.3, 0.05, 0.4, 0.1
    terms = []
    for i, j in itertools.combinations(range(4), 2):
        d_a = np.abs(a[i] - a[j]).mean()
        d_ab = np.abs(ab[i] - ab[j]).mean()
        terms.append(abs((d_a - mu_a) / sd_a - (d_ab - mu_b) / sd_b))
    got = losses.normalized_distance_loss(a, ab, (mu_a, sd_a), (mu_b, sd_b))
    assert num(got) == pytest.approx(np.mean(terms), rel=1e-5)
    raw = [
        abs(np.abs(a[i] - a[j]).mean() - np.abs(ab[i] - ab[j]).mean()) for i, j in itertools.combinations(range(4), 2)
    ]
    assert num(losses.normalized_distance_loss(a, ab, None, None, normalize=False)) == pytest.approx(
        np.mean(raw), rel=1e-5
    )
    d = keras.ops.convert_to_numpy(losses.pairwise_distances(a))
    assert d.shape == (4, 4) and d[1, 2] == pytest.approx(np.abs(a[1] - a[2]).mean(), rel=1e-6)
