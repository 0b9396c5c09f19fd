"""Diversity: pairwise distances on constructed outputs, the LPIPS formula, the weights-file rule."""

import keras
import numpy as np
import pytest

from i2ilab.metrics import (
    diversity,
    diversity_score,
    feature_distance,
    mean_pairwise_distance,
    pixel_l1_distance,
    vgg16_feature_model,
)


def test_pixel_l1_and_mean_pairwise_distance_on_constant_images():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, size=(2, 3, 5, 4, 3))
    np.testing.assert_allclose(pixel_l1_distance(a, b), [np.abs(x - y).mean() for x, y in zip(a, b, strict=False)])
    # Outputs filled with 0, 0.5, -1: pair distances 0.5, 1, 1.5.
    outputs = np.stack([np.full((4, 4, 3), v) for v in (0.0, 0.5, -1.0)])
    assert mean_pairwise_distance(outputs) == pytest.approx(1.0)
    assert mean_pairwise_distance(np.repeat(outputs[:1], 5, axis=0)) == 0.0
    # Many outputs: all 45 pairs, chunked.
    values = rng.uniform(-1, 1, size=10)
    many = np.stack([np.full((2, 2, 3), v) for v in values])
    expected = np.mean([abs(values[i] - values[j]) for i in range(10) for j in range(i + 1, 10)])
    assert mean_pairwise_distance(many, batch_size=7) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2 outputs"):
        mean_pairwise_distance(outputs[:1])


def test_diversity_score_is_zero_for_a_deterministic_translator_and_exact_for_known_samples():
    rng = np.random.default_rng(1)
    inputs = rng.uniform(-1, 1, size=(3, 6, 6, 3))
    assert diversity_score(lambda x: np.tanh(x), inputs, num_samples=4, verbose=0) == 0.0
    offsets = iter([0.0, 0.2, 0.6])

    def sampler(x):  # one "style" per call: a constant shift
        return x + next(offsets)

    # Pair distances 0.2, 0.6, 0.4 for every input.
    assert diversity_score(sampler, inputs, num_samples=3, verbose=0) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="every input once"):
        diversity_score(lambda x: x[:1], inputs, num_samples=2, verbose=0)


def _lpips_direct(features_a, features_b, weights):
    """LPIPS written out per position: sum_l mean_hw sum_c w_lc (unit(f_a) - unit(f_b))_c^2."""
    total = 0.0
    for fa, fb, w in zip(features_a, features_b, weights, strict=False):
        h, wid, _ = fa.shape
        layer = 0.0
        for i in range(h):
            for j in range(wid):
                ua = fa[i, j] / (np.linalg.norm(fa[i, j]) + 1e-10)
                ub = fb[i, j] / (np.linalg.norm(fb[i, j]) + 1e-10)
                layer += (w * (ua - ub) ** 2).sum()
        total += layer / (h * wid)
    return total


def _two_map_model():
    inputs = keras.Input((8, 8, 3))
    first = keras.layers.Conv2D(4, 3, padding="same", name="f1")(inputs)
    second = keras.layers.Conv2D(5, 3, strides=2, padding="same", name="f2")(first)
    return keras.Model(inputs, [first, second])


def test_feature_distance_is_the_lpips_formula():
    model = _two_map_model()
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
    weights = [rng.uniform(0, 1, 4), rng.uniform(0, 1, 5)]
    fa = [keras.ops.convert_to_numpy(f) for f in model(a)]
    fb = [keras.ops.convert_to_numpy(f) for f in model(b)]
    for channel_weights, w in ((weights, weights), (None, [np.ones(4), np.ones(5)])):
        expected = [_lpips_direct([f[k] for f in fa], [f[k] for f in fb], w) for k in range(2)]
        np.testing.assert_allclose(feature_distance(model, channel_weights)(a, b), expected, rtol=1e-5)
    np.testing.assert_allclose(feature_distance(model)(a, a), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="one weight vector per feature map"):
        feature_distance(model, weights[:1])(a, b)


def test_feature_distance_ignores_feature_scale_as_lpips_does():
    identity = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Identity()])
    positive = np.random.default_rng(3).uniform(0.1, 0.4, size=(2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(feature_distance(identity)(positive, 2 * positive), 0.0, atol=1e-10)
    assert (pixel_l1_distance(positive, 2 * positive) > 0.1).all()


def test_missing_vgg_weights_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected_path = tmp_path / "models" / diversity.VGG16_WEIGHTS_FILE
    with pytest.raises(FileNotFoundError) as error:
        vgg16_feature_model()
    assert str(expected_path) in str(error.value)
    assert "keras.applications.VGG16" in str(error.value) and "never downloads" in str(error.value)


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="JAX compiles one initializer per weight shape: about 25 s for VGG16 on 2 CPU cores; the loading "
    "path tested here does not depend on the backend",
)
def test_vgg16_features_come_from_the_given_weights_file_with_vgg_preprocessing(tmp_path):
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg16.weights.h5"
    reference.save_weights(path)
    model = vgg16_feature_model(path)
    images = np.random.default_rng(4).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    features = model(images)
    shapes = [(2, 32, 32, 64), (2, 16, 16, 128), (2, 8, 8, 256), (2, 4, 4, 512), (2, 2, 2, 512)]
    assert [tuple(f.shape) for f in features] == shapes
    # Keras VGG16 input: BGR in 0..255 minus the ImageNet mean.
    caffe = (images[..., ::-1] + 1.0) * 127.5 - np.array([103.939, 116.779, 123.68], np.float32)
    taps = keras.Model(reference.input, reference.get_layer("block3_conv3").output)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(features[2]), keras.ops.convert_to_numpy(taps(caffe)), rtol=1e-4, atol=1e-3
    )
    assert feature_distance(model)(images, images[::-1]).shape == (2,)


def test_multimodal_scores_tell_a_collapsed_a_blurry_and_a_faithful_sampler_apart():
    from i2ilab.data import generate
    from i2ilab.metrics import multimodal_scores

    g = generate("edges2palette", 6, image_size=16, seed=0, split="test")
    truth = g["all_outputs"]  # (6, 4, 16, 16, 3)
    perfect = multimodal_scores(truth, truth)
    assert perfect["coverage"] == 1.0 and perfect["fidelity"] == 0.0 and perfect["relative_diversity"] == 1.0
    half = multimodal_scores(truth[:, [0, 1, 0, 1]], truth)
    assert half["coverage"] == 0.5 and half["fidelity"] == 0.0 and 0 < half["relative_diversity"] < 1
    collapsed = multimodal_scores(np.repeat(truth[:, :1], 5, axis=1), truth)
    assert collapsed["diversity"] == 0.0 and collapsed["coverage"] == 0.25 and collapsed["fidelity"] == 0.0
    blurry = multimodal_scores(np.repeat(truth.mean(axis=1, keepdims=True), 2, axis=1), truth)
    assert blurry["diversity"] == 0.0 and blurry["fidelity"] > 0.1
    by_hand = np.abs(truth[:, :, None] - truth[:, None]).mean(axis=(3, 4, 5)).sum(axis=(1, 2)) / 12
    np.testing.assert_allclose(perfect["true_diversity"], by_hand.mean())
    with pytest.raises(ValueError, match="same N inputs"):
        multimodal_scores(truth[:3], truth)
