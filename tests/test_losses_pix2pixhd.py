"""pix2pixHD losses against hand-computed numbers: the multi-scale LSGAN terms, feature matching
with weights 10 * 4/(n_layers+1) / num_D, and the VGG19 perceptual loss. The VGG tests use
random weights (weights=None): ImageNet weights would be a download."""

import keras
import numpy as np
import pytest

from i2ilab import backend as shim
from i2ilab import losses


def npy(x):
    return float(keras.ops.convert_to_numpy(x))


def d_outputs(rng, n_layers=3, num_d=2, scale=1.0):
    """Lists over scales of n_layers + 1 feature maps and a logit map, random values."""
    return [
        [(scale * rng.standard_normal((2, 4 - s, 5 - s, 3))).astype("float32") for _ in range(n_layers + 2)]
        for s in range(num_d)
    ]


@pytest.mark.parametrize("n_layers, num_d", [(3, 2), (3, 3), (2, 2)])
def test_feature_matching_weights(n_layers, num_d):
    rng = np.random.default_rng(n_layers + num_d)
    fake, real = d_outputs(rng, n_layers, num_d), d_outputs(rng, n_layers, num_d)
    expected = 0.0
    for i in range(num_d):
        for j in range(n_layers + 1):  # the logits (index n_layers + 1) are not matched
            expected += 10.0 * (4.0 / (n_layers + 1)) / num_d * np.abs(fake[i][j] - real[i][j]).mean()
    assert npy(losses.feature_matching_loss(fake, real)) == pytest.approx(expected, rel=1e-5)
    # 512p: 4/(3+1) = 1 and 1/num_D = 0.5, so each matched map has weight 5
    if (n_layers, num_d) == (3, 2):
        plain = sum(
            np.abs(f - r).mean()
            for fs, rs in zip(fake, real, strict=True)
            for f, r in zip(fs[:-1], rs[:-1], strict=True)
        )
        assert npy(losses.feature_matching_loss(fake, real)) == pytest.approx(5.0 * plain, rel=1e-5)
    # the logits do not enter
    moved = [scale[:-1] + [scale[-1] + 100.0] for scale in fake]
    assert npy(losses.feature_matching_loss(moved, real)) == pytest.approx(expected, rel=1e-5)


def test_feature_matching_holds_the_real_features_constant():
    rng = np.random.default_rng(0)
    fake, real = d_outputs(rng, 1, 1), d_outputs(rng, 1, 1)
    f0, r0 = keras.ops.convert_to_tensor(fake[0][0]), keras.ops.convert_to_tensor(real[0][0])

    def objective(f, r):
        return losses.feature_matching_loss([[f, fake[0][1], fake[0][2]]], [[r, real[0][1], real[0][2]]]), ()

    _, _, _, (g_fake, g_real) = shim.value_and_grad(objective, [], (f0, r0))
    assert np.abs(keras.ops.convert_to_numpy(g_real)).max() == 0
    # d/df of 10 * (4/2) * mean|f - r| = 20 * sign(f - r) / n
    expected = 20.0 * np.sign(fake[0][0] - real[0][0]) / fake[0][0].size
    np.testing.assert_allclose(keras.ops.convert_to_numpy(g_fake), expected, rtol=1e-5)


def test_multiscale_lsgan_sums_over_scales():
    rng = np.random.default_rng(1)
    real, fake = d_outputs(rng), d_outputs(rng)
    gan = losses.gan_loss("lsgan")
    d_real, d_fake = gan.d_loss(losses.final_logits(real), losses.final_logits(fake))
    assert npy(d_real) == pytest.approx(sum(((s[-1] - 1) ** 2).mean() for s in real), rel=1e-5)
    assert npy(d_fake) == pytest.approx(sum((s[-1] ** 2).mean() for s in fake), rel=1e-5)
    g = gan.g_loss(losses.final_logits(fake))
    assert npy(g) == pytest.approx(sum(((s[-1] - 1) ** 2).mean() for s in fake), rel=1e-5)


@pytest.fixture(scope="module")
def vgg():
    return losses.vgg19_features(weights=None)  # random weights: no download in the tests


def test_vgg_features_are_relu1_1_to_relu5_1(vgg):
    # torchvision vgg19.features[0:30] (up to relu5_1) holds 12,944,960 parameters
    assert vgg.count_params() == 12_944_960
    assert not vgg.trainable_weights
    x = np.zeros((1, 32, 32, 3), "float32")
    shapes = [tuple(f.shape) for f in vgg(x)]
    assert shapes == [(1, 32, 32, 64), (1, 16, 16, 128), (1, 8, 8, 256), (1, 4, 4, 512), (1, 2, 2, 512)]


def test_vgg_loss_hand_computed_with_random_weights(vgg):
    rng = np.random.default_rng(2)
    fake = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    real = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    ff = [keras.ops.convert_to_numpy(f) for f in vgg(fake)]
    fr = [keras.ops.convert_to_numpy(f) for f in vgg(real)]
    expected = 10.0 * sum(
        w * np.abs(a - b).mean() for w, a, b in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1], ff, fr, strict=True)
    )
    assert expected > 0
    assert npy(losses.vgg_perceptual_loss(vgg, fake, real)) == pytest.approx(expected, rel=1e-5)
    assert npy(losses.vgg_perceptual_loss(vgg, real, real)) == 0.0
    # fed the [-1, 1] images as they are: scaling them changes the loss
    assert npy(losses.vgg_perceptual_loss(vgg, fake * 0.5, real * 0.5)) != pytest.approx(expected, rel=1e-3)
