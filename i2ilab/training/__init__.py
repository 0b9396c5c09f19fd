"""GAN training engine of i2ilab: trainers that are keras.Models and train with ``fit``.

Each trainer (one module per system: ``Colorizer``, ``Pix2Pix``, ``CycleGAN``, ``MUNIT``, ``BicycleGAN``,
``Pix2PixHD``, ``UNIT``, ``CUT`` with FastCUT as ``cut_mode="FastCUT"``, ``DiscoGAN``, ``DistanceGAN``,
``DualGAN``, ``OneShot``) writes its train step once in
stateful Keras style; the backend shim :mod:`i2ilab.backend` (also reachable as
``i2ilab.training.backend``, its former home) runs it on TensorFlow, JAX and PyTorch.
See :mod:`i2ilab.training.base` for the interface the callbacks and the CLI rely on, and
:func:`distribute` for data-parallel training on several devices.
"""

import sys

from i2ilab import backend
from i2ilab.backend import DataParallelScope, distribute
from i2ilab.training.base import GANTrainer, OptimizerGroup, default_adam
from i2ilab.training.bicyclegan import BicycleGAN
from i2ilab.training.colorizer import Colorizer
from i2ilab.training.cut import CUT
from i2ilab.training.cyclegan import CycleGAN
from i2ilab.training.discogan import DiscoGAN
from i2ilab.training.distancegan import DistanceGAN
from i2ilab.training.dualgan import DualGAN
from i2ilab.training.munit import MUNIT
from i2ilab.training.ost import OneShot
from i2ilab.training.pix2pix import Pix2Pix
from i2ilab.training.pix2pixhd import Pix2PixHD
from i2ilab.training.pool import ImagePool
from i2ilab.training.unit import UNIT

# ``from i2ilab.training import backend`` and ``import i2ilab.training.backend`` keep working.
sys.modules[__name__ + ".backend"] = backend

__all__ = [
    "GANTrainer",
    "OptimizerGroup",
    "default_adam",
    "Colorizer",
    "Pix2Pix",
    "CycleGAN",
    "MUNIT",
    "BicycleGAN",
    "ImagePool",
    "Pix2PixHD",
    "UNIT",
    "CUT",
    "DiscoGAN",
    "DistanceGAN",
    "DualGAN",
    "OneShot",
    "distribute",
    "DataParallelScope",
]
