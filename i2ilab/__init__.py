"""i2ilab: a Keras 3 course toolkit for image-to-image translation.

Layers, networks, losses, data pipelines and GAN trainers for L2 colorization, pix2pix,
CycleGAN and MUNIT, running on the TensorFlow and JAX backends of Keras 3.
Images are NHWC float32 in [-1, 1] everywhere inside the library.
"""

__version__ = "0.1.0"
