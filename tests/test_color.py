"""Lab conversion against skimage.color, on NumPy, tf (tf.data) and keras.ops."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2ilab import color

skcolor = pytest.importorskip("skimage.color")


def _rgb_samples():
    rng = np.random.default_rng(0)
    x = rng.random((2, 8, 8, 3)).astype(np.float32)
    corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T.astype(np.float32)
    x[0, 0, :8] = corners  # black, white and the primaries
    x[1, 0, :4] = [[0.01, 0.02, 0.03], [0.04045, 0.5, 0.9], [0.999, 0.001, 0.5], [0.2, 0.2, 0.2]]
    return x


def _lab_samples():
    rng = np.random.default_rng(1)
    n = 2000
    return np.stack([rng.uniform(0, 100, n), rng.uniform(-110, 110, n), rng.uniform(-110, 110, n)], axis=-1).astype(
        np.float32
    )


@pytest.mark.parametrize("fn", [color.rgb_to_lab_np, color.rgb_to_lab_tf, color.rgb_to_lab])
def test_rgb_to_lab_matches_skimage(fn):
    x = _rgb_samples()
    got = keras.ops.convert_to_numpy(fn(x)) if fn is color.rgb_to_lab else np.asarray(fn(x))
    np.testing.assert_allclose(got, skcolor.rgb2lab(x), atol=1e-3)


@pytest.mark.parametrize("fn", [color.lab_to_rgb_np, color.lab_to_rgb_tf, color.lab_to_rgb])
def test_lab_to_rgb_matches_skimage_including_out_of_gamut(fn):
    lab = _lab_samples()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about negative Z values it clips
        ref = skcolor.lab2rgb(lab)
    got = keras.ops.convert_to_numpy(fn(lab)) if fn is color.lab_to_rgb else np.asarray(fn(lab))
    np.testing.assert_allclose(got, ref, atol=1e-3)


def test_round_trip_and_scaled_helpers():
    x = _rgb_samples()
    np.testing.assert_allclose(color.lab_to_rgb_np(color.rgb_to_lab_np(x)), x, atol=1e-4)
    l_scaled, ab_scaled = color.rgb_to_l_ab(x * 2 - 1)
    l_scaled, ab_scaled = keras.ops.convert_to_numpy(l_scaled), keras.ops.convert_to_numpy(ab_scaled)
    lab = skcolor.rgb2lab(x)
    assert l_scaled.shape == (2, 8, 8, 1) and ab_scaled.shape == (2, 8, 8, 2)
    np.testing.assert_allclose(l_scaled[..., 0], lab[..., 0] / 50 - 1, atol=1e-4)
    np.testing.assert_allclose(ab_scaled, lab[..., 1:] / 110, atol=1e-4)
    back = keras.ops.convert_to_numpy(color.l_ab_to_rgb(l_scaled, ab_scaled))
    np.testing.assert_allclose(back, x * 2 - 1, atol=2e-4)


def test_gradients_are_finite_at_black_and_white():
    x = tf.constant([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.5, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(color.rgb_to_lab_tf(x))
    assert np.isfinite(tape.gradient(y, x).numpy()).all()
