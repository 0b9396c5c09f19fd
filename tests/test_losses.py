"""i2ilab.losses against NumPy formulas, on the current Keras backend."""

import keras
import numpy as np
import pytest

from i2ilab import losses


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _softplus(x):
    return np.logaddexp(0.0, x)


RNG = np.random.default_rng(7)
REAL = RNG.normal(size=(3, 5, 5, 1)).astype("float32") * 3
FAKE = RNG.normal(size=(3, 5, 5, 1)).astype("float32") * 3

NUMPY_TERMS = {
    # mode: (d_real(r), d_fake(f), g(f)) elementwise, then averaged
    "vanilla": (lambda r: _softplus(-r), lambda f: _softplus(f), lambda f: _softplus(-f)),
    "lsgan": (lambda r: (r - 1) ** 2, lambda f: f**2, lambda f: (f - 1) ** 2),
    "hinge": (lambda r: np.maximum(0, 1 - r), lambda f: np.maximum(0, 1 + f), lambda f: -f),
    "wgangp": (lambda r: -r, lambda f: f, lambda f: -f),
}


@pytest.mark.parametrize("mode", losses.GAN_MODES)
def test_gan_terms_match_numpy(mode):
    gan = losses.gan_loss(mode)
    d_real, d_fake = gan.d_loss(REAL, FAKE)
    real_fn, fake_fn, g_fn = NUMPY_TERMS[mode]
    np.testing.assert_allclose(_np(d_real), real_fn(REAL.astype("float64")).mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(d_fake), fake_fn(FAKE.astype("float64")).mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(gan.g_loss(FAKE)), g_fn(FAKE.astype("float64")).mean(), rtol=1e-5)
    assert gan.uses_penalty == (mode == "wgangp")


def test_vanilla_is_binary_cross_entropy_and_stable():
    gan = losses.gan_loss("vanilla")
    r = np.array([[-30.0, 0.0, 2.0, 80.0]], "float32")
    d_real, d_fake = gan.d_loss(r, r)
    p = 1 / (1 + np.exp(-r.astype("float64")))
    with np.errstate(divide="ignore"):
        bce_real = -np.log(p)
    assert np.isfinite(_np(d_real)) and np.isfinite(_np(d_fake))
    np.testing.assert_allclose(_np(d_real), bce_real.mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(d_fake), _softplus(r.astype("float64")).mean(), rtol=1e-5)


@pytest.mark.parametrize("mode", losses.GAN_MODES)
def test_multiscale_sums_per_scale_means(mode):
    gan = losses.gan_loss(mode)
    reals = [REAL, REAL[:, :2, :2], REAL[:, :1, :1] + 0.5]
    fakes = [FAKE, FAKE[:, :2, :2], FAKE[:, :1, :1] - 0.5]
    d_real, d_fake = gan.d_loss(reals, fakes)
    real_fn, fake_fn, g_fn = NUMPY_TERMS[mode]
    np.testing.assert_allclose(_np(d_real), sum(real_fn(r.astype("float64")).mean() for r in reals), rtol=1e-5)
    np.testing.assert_allclose(_np(d_fake), sum(fake_fn(f.astype("float64")).mean() for f in fakes), rtol=1e-5)
    np.testing.assert_allclose(_np(gan.g_loss(fakes)), sum(g_fn(f.astype("float64")).mean() for f in fakes), rtol=1e-5)


def test_gan_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="mode must be one of"):
        losses.gan_loss("bce")
    with pytest.raises(ValueError, match="same number of maps"):
        losses.gan_loss("lsgan").d_loss([REAL, REAL], [FAKE])


def test_reconstruction_losses_match_numpy():
    a = RNG.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    b = RNG.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    l1 = np.abs(a - b).mean()
    np.testing.assert_allclose(_np(losses.l1_loss(a, b)), l1, rtol=1e-6)
    np.testing.assert_allclose(_np(losses.l2_loss(a, b)), ((a - b) ** 2).mean(), rtol=1e-6)
    for fn in (
        losses.cycle_loss,
        losses.identity_loss,
        losses.image_reconstruction_loss,
        losses.content_reconstruction_loss,
    ):
        np.testing.assert_allclose(_np(fn(a, b)), l1, rtol=1e-6)
    s, t = a.reshape(2, -1)[:, :8], b.reshape(2, -1)[:, :8]
    np.testing.assert_allclose(_np(losses.style_reconstruction_loss(s, t)), np.abs(s - t).mean(), rtol=1e-6)


def _quadratic_critic(w):
    """critic(x) = sum over pixels of w * x^2, per sample: gradient 2 w x (known in closed form)."""
    wt = keras.ops.convert_to_tensor(w)

    def critic(x):
        return keras.ops.sum(wt * x * x, axis=(1, 2, 3))

    return critic


def test_gradient_penalty_matches_numpy():
    real = RNG.uniform(-1, 1, (3, 4, 4, 2)).astype("float32")
    fake = RNG.uniform(-1, 1, (3, 4, 4, 2)).astype("float32")
    alpha = np.array([0.1, 0.5, 0.9], "float32").reshape(3, 1, 1, 1)
    w = RNG.uniform(0.1, 1.0, (1, 4, 4, 2)).astype("float32")
    gp = losses.gradient_penalty(_quadratic_critic(w), real, fake, alpha=alpha, weight=10.0)
    x = alpha * real + (1 - alpha) * fake
    grads = (2 * w * x).reshape(3, -1).astype("float64") + 1e-16
    expected = 10.0 * ((np.sqrt((grads**2).sum(1)) - 1.0) ** 2).mean()
    np.testing.assert_allclose(_np(gp), expected, rtol=1e-5)


def test_gradient_penalty_random_alpha_within_bounds_and_multiscale():
    real = np.ones((4, 2, 2, 1), "float32")
    fake = -np.ones((4, 2, 2, 1), "float32")
    w = np.full((1, 2, 2, 1), 0.25, "float32")
    critic = _quadratic_critic(w)
    gp = _np(losses.gradient_penalty(critic, real, fake, seed=3, weight=1.0))
    # |x| <= 1 elementwise, so each gradient 0.5 x has norm <= 1 over 4 pixels: penalty in [0, 1].
    assert 0.0 <= gp <= 1.0
    # A list of maps is summed: two copies of the critic double the gradient.
    alpha = np.full((4, 1, 1, 1), 0.75, "float32")
    one = _np(losses.gradient_penalty(critic, real, fake, alpha=alpha, weight=1.0, target_norm=0.0))
    two = _np(
        losses.gradient_penalty(lambda x: [critic(x), critic(x)], real, fake, alpha=alpha, weight=1.0, target_norm=0.0)
    )
    np.testing.assert_allclose(two, 4 * one, rtol=1e-5)
    np.testing.assert_allclose(one, (0.5 * 0.5 * 2) ** 2, rtol=1e-5)
