"""Colour metrics against direct formulas and scikit-image."""

import numpy as np
import pytest
from skimage import color as skcolor

from i2ilab.metrics import colorfulness, mean_chroma, saturation, saturation_histogram, srgb_to_lab


def _colorfulness_direct(image_uint8):
    r, g, b = (image_uint8[..., c].astype(np.float64).ravel() for c in range(3))
    rg, yb = r - g, (r + g) / 2 - b
    return np.sqrt(np.var(rg) + np.var(yb)) + 0.3 * np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2)


def test_colorfulness_matches_the_direct_formula_in_both_value_conventions():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 9, 11, 3)).astype(np.uint8)
    images[1] = images[1] // 4 + 100  # a duller one
    expected = [_colorfulness_direct(image) for image in images]
    np.testing.assert_allclose(colorfulness(images), expected, rtol=1e-12)
    np.testing.assert_allclose(colorfulness(images / 127.5 - 1.0), expected, rtol=1e-9)
    assert colorfulness(images)[1] < colorfulness(images)[0]


def test_colorfulness_known_values():
    grey = np.full((1, 4, 4, 3), 0.3)
    assert colorfulness(grey)[0] == pytest.approx(0.0, abs=1e-9)
    # Half pure red, half pure green: rg = +-255 (mean 0, std 255), yb = 127.5 everywhere.
    red_green = np.zeros((1, 2, 2, 3), np.uint8)
    red_green[0, 0, :, 0] = 255
    red_green[0, 1, :, 1] = 255
    assert colorfulness(red_green)[0] == pytest.approx(255 + 0.3 * 127.5)


def test_saturation_matches_skimage_hsv_and_histogram_counts():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 8, 8, 3)).astype(np.uint8)
    images[0, 0, 0] = 0  # black pixel: saturation 0
    expected = np.stack([skcolor.rgb2hsv(image)[..., 1] for image in images])
    np.testing.assert_allclose(saturation(images), expected, atol=1e-12)
    fractions, edges = saturation_histogram(images, bins=4)
    np.testing.assert_allclose(edges, [0, 0.25, 0.5, 0.75, 1.0])
    manual = np.histogram(expected, bins=4, range=(0, 1))[0] / expected.size
    np.testing.assert_allclose(fractions, manual)
    grey_fractions, _ = saturation_histogram(np.zeros((2, 4, 4, 3)), bins=5)
    np.testing.assert_allclose(grey_fractions, [1, 0, 0, 0, 0])


def test_lab_and_chroma_match_skimage():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(2, 6, 7, 3)).astype(np.uint8)
    expected_lab = np.stack([skcolor.rgb2lab(image) for image in images])
    # skimage rounds the CIE constants (0.008856, 7.787) and the D65 white; ours differ by < 5e-3.
    np.testing.assert_allclose(srgb_to_lab(images), expected_lab, atol=5e-3)
    chroma = np.sqrt(expected_lab[..., 1] ** 2 + expected_lab[..., 2] ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(mean_chroma(images), chroma, atol=5e-3)
    greys = np.concatenate([np.full((1, 3, 3, 3), -0.2), np.full((1, 3, 3, 3), 0.7)])
    np.testing.assert_allclose(mean_chroma(greys), 0, atol=1e-9)
    with pytest.raises(ValueError, match="RGB"):
        srgb_to_lab(np.zeros((2, 4, 4, 1)))
