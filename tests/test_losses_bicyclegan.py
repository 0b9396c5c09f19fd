"""BicycleGAN's losses against hand-computed numbers: KL (a sum), latent regression (L1 on mu),
the multi-scale LSGAN summed over the scales."""

import keras
import numpy as np
import pytest

from i2ilab import losses


def _f(x):
    return float(keras.ops.convert_to_numpy(x))


def test_kl_is_a_sum_over_batch_and_dims():
    mu = np.array([[0.5, -1.0], [0.0, 2.0]], "float32")
    logvar = np.array([[0.0, np.log(2.0)], [-1.0, 0.5]], "float32")
    # per element: -0.5 * (1 + lv - mu^2 - exp(lv))
    by_hand = -0.5 * sum(
        1 + lv - m**2 - np.exp(lv) for m, lv in zip(mu.ravel().tolist(), logvar.ravel().tolist(), strict=True)
    )
    assert _f(losses.kl_loss(mu, logvar)) == pytest.approx(by_hand, rel=1e-6)
    assert by_hand == pytest.approx(
        0.125 + 0.5 * (1 + 2 - 1 - np.log(2)) + 0.5 * (np.exp(-1)) + 0.5 * (4 + np.exp(0.5) - 1.5), rel=1e-6
    )
    # the standard normal costs nothing; doubling the batch doubles the loss (a sum, not a mean)
    assert _f(losses.kl_loss(np.zeros((3, 8)), np.zeros((3, 8)))) == 0.0
    twice = losses.kl_loss(np.concatenate([mu, mu]), np.concatenate([logvar, logvar]))
    assert _f(twice) == pytest.approx(2 * by_hand, rel=1e-6)


def test_latent_regression_is_the_mean_absolute_error():
    z = np.array([[1.0, -1.0, 0.0, 2.0]], "float32")
    mu2 = np.array([[0.5, -1.0, 1.0, 0.0]], "float32")
    assert _f(losses.latent_regression_loss(z, mu2)) == pytest.approx((0.5 + 0 + 1 + 2) / 4)


def test_multiscale_lsgan_sums_the_scales():
    gan = losses.gan_loss("lsgan")
    big = np.full((1, 30, 30, 1), 0.5, "float32")
    small = np.full((1, 14, 14, 1), -1.0, "float32")
    # G: (0.5 - 1)^2 + (-1 - 1)^2; D real: the same, D fake: 0.5^2 + 1
    assert _f(gan.g_loss([big, small])) == pytest.approx(0.25 + 4.0)
    d_real, d_fake = gan.d_loss([big, small], [big, small])
    assert (_f(d_real), _f(d_fake)) == (pytest.approx(4.25), pytest.approx(1.25))
    # at the reference's init both scales give about 1 each: G_GAN ~ 2
    zeros = [np.zeros((1, 30, 30, 1), "float32"), np.zeros((1, 14, 14, 1), "float32")]
    assert _f(gan.g_loss(zeros)) == pytest.approx(2.0)
