"""Value-range conversion shared by the metrics (private)."""

import numpy as np


def to_unit_rgb(images, where):
    """RGB images (..., 3) as float64 in [0, 1]: integer dtypes are read as 0..255, floats as [-1, 1]."""
    images = np.asarray(images)
    if images.shape[-1:] != (3,):
        raise ValueError(f"{where}: expected RGB images (..., 3), got shape {images.shape}.")
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float64) / 255.0
    return (images.astype(np.float64) + 1.0) / 2.0
