"""Colour metrics for the colorization lab: how vivid are the predicted colours?

L2-trained colorizers predict the mean of the plausible colours and come out greyish (Zhang et
al. 2016, section 1); these numbers show it. Images: RGB (B, H, W, 3), float in [-1, 1] (library
convention) or integer 0..255. NumPy throughout (evaluation only, not for training steps).
"""

import numpy as np

from i2ilab.color import rgb_to_lab_np
from i2ilab.metrics._convert import to_unit_rgb

__all__ = ["colorfulness", "saturation", "saturation_histogram", "srgb_to_lab", "mean_chroma"]


def colorfulness(images):
    """Hasler & Suesstrunk (2003) colourfulness per image: (B, H, W, 3) -> (B,) float64.

    On RGB in 0..255: rg = R - G, yb = (R + G) / 2 - B, M = sqrt(std(rg)^2 + std(yb)^2)
    + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), statistics over the image's pixels. On the paper's scale
    0 is grey, about 33 "moderately", 59 "quite" and 82 "highly colourful".
    """
    rgb = 255.0 * to_unit_rgb(images, "colorfulness")
    if rgb.ndim != 4:
        raise ValueError(f"colorfulness: expected images (B, H, W, 3), got shape {rgb.shape}.")
    rgb = rgb.reshape(rgb.shape[0], -1, 3)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = np.sqrt(rg.std(axis=1) ** 2 + yb.std(axis=1) ** 2)
    centre = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
    return spread + 0.3 * centre


def saturation(images):
    """HSV saturation (max - min) / max per pixel, 0 where max is 0: (..., 3) -> (...) in [0, 1]."""
    rgb = to_unit_rgb(images, "saturation")
    high = rgb.max(axis=-1)
    low = rgb.min(axis=-1)
    return np.where(high > 0, (high - low) / np.where(high > 0, high, 1.0), 0.0)


def saturation_histogram(images, bins=10):
    """Fraction of pixels per HSV-saturation bin over [0, 1]: returns (fractions (bins,), edges (bins + 1,)).

    The fractions sum to 1 over all pixels of all images; a greyish colorizer piles up in the low bins.
    """
    counts, edges = np.histogram(saturation(images), bins=bins, range=(0.0, 1.0))
    return counts / counts.sum(), edges


def srgb_to_lab(images):
    """sRGB -> CIELab (D65): (..., 3) -> (..., 3) float64, L in [0, 100], a, b about [-110, 110].

    Greys get a = b = 0 exactly (:func:`i2ilab.color.rgb_to_lab_np` with ``exact_grey``).
    """
    return rgb_to_lab_np(to_unit_rgb(images, "srgb_to_lab"), exact_grey=True)


def mean_chroma(images):
    """Mean Lab chroma sqrt(a^2 + b^2) per image: (B, H, W, 3) -> (B,) float64 (0 for grey)."""
    lab = srgb_to_lab(images)
    if lab.ndim != 4:
        raise ValueError(f"mean_chroma: expected images (B, H, W, 3), got shape {lab.shape}.")
    return np.sqrt(lab[..., 1] ** 2 + lab[..., 2] ** 2).mean(axis=(1, 2))
