"""PSNR and SSIM (keras.ops) against scikit-image."""

import keras
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from i2ilab.metrics import psnr, ssim


def _pairs(seed, shape=(3, 24, 20, 3)):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=shape).astype(np.float32)
    # Noisy copies, so SSIM lies well between 0 and 1.
    noisy = np.clip(images + rng.normal(0, 0.2, size=shape), -1, 1).astype(np.float32)
    return images, noisy


def test_psnr_matches_skimage():
    images, noisy = _pairs(0)
    expected = [peak_signal_noise_ratio(a, b, data_range=2.0) for a, b in zip(images, noisy, strict=False)]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(psnr(noisy, images)), expected, rtol=1e-5)
    assert np.isinf(keras.ops.convert_to_numpy(psnr(images, images))).all()


def test_ssim_matches_skimage_gaussian_ssim():
    images, noisy = _pairs(1)
    expected = [
        structural_similarity(
            a, b, data_range=2.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for a, b in zip(images, noisy, strict=False)
    ]
    values = keras.ops.convert_to_numpy(ssim(noisy, images))
    assert 0.2 < min(expected) and max(expected) < 0.95
    np.testing.assert_allclose(values, expected, atol=2e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ssim(images, images)), 1.0, atol=1e-5)


def _ssim_by_window_loop(a, b, size, sigma, max_val=2.0):
    """Gaussian-weighted SSIM at every valid window position, one channel (H, W)."""
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    values = []
    for i in range(a.shape[0] - size + 1):
        for j in range(a.shape[1] - size + 1):
            x, y = a[i : i + size, j : j + size], b[i : i + size, j : j + size]
            mx, my = (w * x).sum(), (w * y).sum()
            vx, vy, cxy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return np.mean(values)


def test_ssim_with_a_small_window_matches_a_window_loop_and_rejects_small_images():
    with pytest.raises(ValueError, match="filter_size"):
        ssim(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)))
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, size=(2, 8, 9, 2)).astype(np.float32)
    b = (0.5 * a + rng.normal(0, 0.1, a.shape)).astype(np.float32)
    value = keras.ops.convert_to_numpy(ssim(a, b, filter_size=5))
    expected = [
        np.mean([_ssim_by_window_loop(x[..., c], y[..., c], 5, 1.5) for c in range(2)])
        for x, y in zip(a, b, strict=False)
    ]
    np.testing.assert_allclose(value, expected, atol=2e-5)
