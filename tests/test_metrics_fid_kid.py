"""FID and KID against direct NumPy/SciPy computations, known cases, and the weights-file rules."""

import keras
import numpy as np
import pytest

from i2ilab.metrics import (
    extract_features,
    feature_statistics,
    fid,
    fid_from_features,
    fid_kid,
    frechet_distance,
    inception_feature_model,
    kid,
    kid_from_features,
    mmd2_unbiased,
)


def _psd_sqrt(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _frechet_by_eigendecomposition(x, y):
    """Tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), a symmetric PSD matrix."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root1 = _psd_sqrt(s1)
    middle = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root


def test_frechet_distance_matches_an_eigendecomposition_on_random_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)) @ rng.normal(size=(12, 12))
    y = rng.normal(size=(150, 12)) @ rng.normal(size=(12, 12)) + 0.7
    expected = _frechet_by_eigendecomposition(x, y)
    assert expected > 1.0
    assert fid_from_features(x, y) == pytest.approx(expected, rel=1e-7)


def test_fid_known_cases():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6))
    assert abs(fid_from_features(x, x)) < 1e-8
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    assert frechet_distance(mu1, np.eye(5), mu2, np.eye(5)) == pytest.approx(((mu1 - mu2) ** 2).sum(), rel=1e-10)
    # One dimension: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s1, s2.
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0, rel=1e-10)
    mu, sigma = feature_statistics(x)
    np.testing.assert_allclose(sigma, np.cov(x.T), rtol=1e-12)
    with pytest.raises(ValueError, match="shapes do not match"):
        frechet_distance(mu1, np.eye(5), mu2[:4], np.eye(4))


def test_fid_with_singular_covariances_stays_finite_and_close():
    # Fewer samples than dimensions: both covariances are singular.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 32))
    y = rng.normal(size=(10, 32)) + 0.5
    value = fid_from_features(x, y)
    assert np.isfinite(value)
    assert value == pytest.approx(_frechet_by_eigendecomposition(x, y), rel=1e-3)


def test_fid_falls_back_to_an_eps_offset_when_the_square_root_fails(monkeypatch):
    import scipy.linalg

    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) + 1.0
    mu1, s1 = feature_statistics(x)
    mu2, s2 = feature_statistics(y)
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def failing_on_the_plain_product(matrix):
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if np.allclose(matrix, s1 @ s2, rtol=0, atol=0) else real_sqrtm(matrix)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_on_the_plain_product)
    eps = 1e-2
    value = frechet_distance(mu1, s1, mu2, s2, eps=eps)
    assert len(calls) == 2
    root1 = _psd_sqrt(s1 + eps * np.eye(4))
    trace_root = np.sqrt(np.linalg.eigvalsh(root1 @ (s2 + eps * np.eye(4)) @ root1)).sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert value == pytest.approx(expected, rel=1e-9)
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda matrix: np.full_like(matrix, np.inf))
    with pytest.raises(ValueError, match="raise eps"):
        frechet_distance(mu1, s1, mu2, s2)


def _mmd2_by_double_loop(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_a_double_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4))
    y = rng.normal(size=(7, 4)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_by_double_loop(x, y), rel=1e-10)


def test_kid_one_full_subset_is_the_mmd_of_the_sets():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 5))
    y = rng.normal(size=(20, 5)) + 0.2
    mean, stderr = kid_from_features(x, y, num_subsets=1, subset_size=50)
    assert mean == pytest.approx(_mmd2_by_double_loop(x, y), rel=1e-10)
    assert np.isnan(stderr)


def test_kid_is_unbiased_and_its_standard_error_is_honest():
    rng = np.random.default_rng(5)
    d = 8
    # Same distribution: the unbiased estimate averages to 0 over independent small draws,
    # where the biased (V-statistic) version would be clearly positive.
    values = [mmd2_unbiased(rng.normal(size=(10, d)), rng.normal(size=(10, d))) for _ in range(400)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    x, y = rng.normal(size=(400, d)), rng.normal(size=(400, d))
    mean, stderr = kid_from_features(x, y, num_subsets=50, subset_size=100, seed=0)
    assert 0 < stderr < 0.05
    assert abs(mean) < 4 * stderr + 1e-3
    # Shifted distribution: far above zero in standard errors; the value is the population MMD^2,
    # which a single large sample (both sets whole) estimates as well.
    shifted = rng.normal(size=(400, d)) + 0.5
    mean_shift, stderr_shift = kid_from_features(x, shifted, num_subsets=50, subset_size=100, seed=0)
    assert mean_shift > 20 * stderr_shift
    assert mean_shift == pytest.approx(mmd2_unbiased(x, shifted), rel=0.1)


def _pooling_model():
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))


def test_extract_features_from_arrays_and_from_batches():
    rng = np.random.default_rng(6)
    images = rng.uniform(-1, 1, size=(10, 8, 8, 3)).astype(np.float32)
    expected = images.mean(axis=(1, 2))
    np.testing.assert_allclose(extract_features(_pooling_model(), images, batch_size=4, verbose=0), expected, atol=1e-6)
    batches = [images[:4], images[4:]]
    np.testing.assert_allclose(extract_features(_pooling_model(), batches, verbose=0), expected, atol=1e-6)
    # A model returning maps (N, h, w, D) is average-pooled over space.
    identity = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Identity()])
    np.testing.assert_allclose(extract_features(identity, images, verbose=0), expected, atol=1e-6)


def test_fid_and_kid_on_images_use_the_given_feature_model():
    rng = np.random.default_rng(7)
    real = rng.uniform(-1, 1, size=(40, 4, 4, 3)).astype(np.float32)
    brighter = np.clip(real + 0.4, -1, 1)
    model = _pooling_model()
    assert abs(fid(real, real, model, verbose=0)) < 1e-8
    expected = fid_from_features(real.mean(axis=(1, 2)), brighter.mean(axis=(1, 2)))
    assert fid(real, brighter, model, verbose=0) == pytest.approx(expected, rel=1e-5)
    mean, stderr = kid(real, brighter, model, num_subsets=10, subset_size=20, verbose=0)
    assert mean > 5 * stderr > 0


def test_missing_inception_weights_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    expected_path = tmp_path / "keras_home" / "models" / fid_kid.INCEPTION_WEIGHTS_FILE
    assert fid_kid.default_inception_weights_path() == expected_path
    with pytest.raises(FileNotFoundError) as error:
        inception_feature_model()
    message = str(error.value)
    assert str(expected_path) in message and "keras.applications.InceptionV3" in message
    with pytest.raises(FileNotFoundError, match="never downloads"):
        fid(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "elsewhere.h5")):
        inception_feature_model(tmp_path / "elsewhere.h5")


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="JAX compiles one initializer per weight shape: about 90 s for Inception-v3 on 2 CPU cores; "
    "the loading path tested here does not depend on the backend",
)
def test_inception_features_come_from_the_given_weights_file(tmp_path):
    # A randomly initialised Inception-v3 stands in for the ImageNet weights (no download).
    reference = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(75, 75, 3), pooling="avg")
    path = tmp_path / "inception.weights.h5"
    reference.save_weights(path)
    model = inception_feature_model(path, image_size=75)
    images = np.random.default_rng(8).uniform(-1, 1, size=(2, 75, 75, 3)).astype(np.float32)
    features = extract_features(model, images, verbose=0)
    assert features.shape == (2, 2048)
    np.testing.assert_allclose(features, keras.ops.convert_to_numpy(reference(images)), rtol=1e-4, atol=1e-5)
