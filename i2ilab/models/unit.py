"""UNIT networks (Liu, Breuel & Kautz 2017, section 2 and appendix; the authors' re-released code,
mingyuliutw/UNIT ``networks.py``): the VAE generator ``VAEGen`` and the multi-scale D ``MsImageDis``.

The released code is the "MUNIT-style" version of UNIT: per domain one encoder and one decoder,
with **no layers shared** between the two domains' networks (the paper shares the encoders' last
and the decoders' first layers; the code does not). The shared latent space is only encouraged
by the cross-domain decoding, the cycle terms and the "KL" term ``mean(h^2)`` of the trainer
(:class:`i2ilab.training.UNIT`). The encoder is MUNIT's content encoder and the discriminator is
MUNIT's multi-scale D (same layers, same parameter counts).
"""

import keras
from keras import ops

from i2ilab.layers import ConvBlock, ResnetBlock
from i2ilab.models.munit import content_encoder, multiscale_discriminator
from i2ilab.models.munit_blocks import UpsampleConvBlock


def vae_decoder(latent_size=64, latent_dim=256, out_channels=3, n_upsample=2, n_res=4, name="decoder"):
    """UNIT decoder: n_res residual blocks (InstanceNorm, reflect pad), n_upsample x (nearest x2,
    conv 5x5 reflect pad 2, UNIT/MUNIT LayerNorm, ReLU), c7s1-out (reflect pad 3) and tanh.

    Latent (B, h, w, latent_dim) -> image (B, h * 2**n, w * 2**n, out_channels) in [-1, 1].
    5,754,627 parameters with the defaults. Kaiming init, as the configs' ``init: kaiming``.
    """
    latent = keras.Input((latent_size, latent_size, latent_dim), name="latent")
    h = latent
    for i in range(n_res):
        h = ResnetBlock(latent_dim, norm="instance", kernel_initializer="kaiming", name=f"res{i}")(h)
    dim = latent_dim
    for i in range(n_upsample):
        dim //= 2
        h = UpsampleConvBlock(
            dim, 5, pad_mode="reflect", norm="layer", activation="relu", kernel_initializer="kaiming", name=f"up{i}"
        )(h)
    out = ConvBlock(
        out_channels, 7, padding=3, pad_mode="reflect", activation="tanh", kernel_initializer="kaiming", name="head"
    )(h)
    return keras.Model(latent, out, name=name)


@keras.saving.register_keras_serializable(package="i2ilab")
class VAEGen(keras.Model):
    """UNIT generator of one domain: ``encoder`` (image -> latent h) and ``decoder`` (h -> image).

    ``encode(x) -> h`` (B, S/4, S/4, 4 dim) with the defaults: the mean of the latent code. The
    reference's ``encode`` also returns unit Gaussian noise of h's shape; the variance is fixed
    at 1 and nothing about it is learned, so the noise is drawn by the trainer, which decodes
    ``h + noise`` in training. ``decode(h) -> image`` in [-1, 1]; calling the model on x is the
    test-time reconstruction ``decode(encode(x))`` (no noise). 11,140,483 parameters at the
    configs' settings (dim 64, n_downsample 2, n_res 4): encoder 5,385,856, decoder 5,754,627.
    """

    def __init__(self, image_size=256, in_channels=3, dim=64, n_downsample=2, n_res=4, **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.in_channels = in_channels
        self.dim = dim
        self.n_downsample = n_downsample
        self.n_res = n_res
        latent_size = None if image_size is None else image_size // 2**n_downsample
        self.encoder = content_encoder(image_size, in_channels, dim, n_downsample, n_res, name="encoder")
        self.decoder = vae_decoder(latent_size, dim * 2**n_downsample, in_channels, n_downsample, n_res)
        self.built = True

    @property
    def latent_dim(self):
        return self.dim * 2**self.n_downsample

    def encode(self, x, training=None):
        """Image (B, S, S, C) in [-1, 1] -> latent mean h (B, S / 2**n, S / 2**n, latent_dim)."""
        return self.encoder(x, training=training)

    def decode(self, h, training=None):
        """Latent (B, h, w, latent_dim) -> image (B, h * 2**n, w * 2**n, C) in [-1, 1]."""
        return self.decoder(ops.convert_to_tensor(h), training=training)

    def build(self, input_shape=None):
        """Nothing to build: the sub-models are built at construction, for any image_size."""
        self.built = True

    def call(self, x, training=None):
        return self.decode(self.encode(x, training=training), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "in_channels": self.in_channels,
            "dim": self.dim,
            "n_downsample": self.n_downsample,
            "n_res": self.n_res,
        }


def vae_generator(image_size=256, in_channels=3, dim=64, n_downsample=2, n_res=4, name="vae_gen"):
    """UNIT ``VAEGen`` of one domain (11,140,483 parameters at the defaults); see :class:`VAEGen`."""
    return VAEGen(image_size, in_channels, dim, n_downsample, n_res, name=name)


def unit_discriminator(image_size=256, in_channels=3, dim=64, n_layer=4, num_scales=3, name="unit_dis"):
    """UNIT ``MsImageDis``: three PatchGANs on the image average-pooled 0, 1, 2 times (reflect
    pad, 4x4 stride-2 convs, LeakyReLU 0.2, no norm, 1x1 logit conv; N(0, 0.02) init, as the
    trainer re-initialises it). 8,271,171 parameters at the defaults (2,757,057 per scale).
    The same network as :func:`i2ilab.models.munit.multiscale_discriminator`.
    Input (B, S, S, in_channels) -> [(B, S/16, S/16, 1), (B, S/32, S/32, 1), (B, S/64, S/64, 1)].
    """
    return multiscale_discriminator(image_size, in_channels, dim, n_layer, num_scales, name=name)
