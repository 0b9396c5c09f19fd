"""Data for i2ilab: tf.data loaders, Lab colour conversion, synthetic datasets, downloads.

Loaders return batched tf.data datasets of 2-tuples of float32 NHWC images in [-1, 1]
(colorization: L / 50 - 1 and ab / 110; pix2pixHD: one-hot labels and instance ids). See loaders.py, synthetic.py, download.py; the Lab
conversion is :mod:`i2ilab.color` (its names are re-exported here).
The loaders (and so TensorFlow) are imported on first use, so the synthetic data and download
tools start quickly.
"""

from i2ilab import color
from i2ilab.color import (
    l_ab_to_rgb,
    lab_to_rgb,
    lab_to_rgb_np,
    lab_to_rgb_tf,
    rgb_to_l_ab,
    rgb_to_lab,
    rgb_to_lab_np,
    rgb_to_lab_tf,
)
from i2ilab.data.files import DataError, SplitNotFoundError
from i2ilab.data.synthetic import generate, synthetic_root, write_synthetic

_LOADERS = ("colorization_dataset", "label_instance_dataset", "paired_dataset", "tfds_unpaired", "unpaired_dataset")


def __getattr__(name):
    if name in _LOADERS:
        from i2ilab.data import loaders

        return getattr(loaders, name)
    raise AttributeError(f"module 'i2ilab.data' has no attribute {name!r}")


__all__ = [
    "DataError",
    "color",
    "colorization_dataset",
    "generate",
    "l_ab_to_rgb",
    "label_instance_dataset",
    "lab_to_rgb",
    "lab_to_rgb_np",
    "lab_to_rgb_tf",
    "paired_dataset",
    "rgb_to_l_ab",
    "rgb_to_lab",
    "rgb_to_lab_np",
    "rgb_to_lab_tf",
    "SplitNotFoundError",
    "synthetic_root",
    "tfds_unpaired",
    "unpaired_dataset",
    "write_synthetic",
]
