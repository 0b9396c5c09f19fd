"""Network factories; each returns a keras.Model (see shared/REFERENCE.md section 2 for counts)."""

from i2ilab.models.munit import (
    MUNITGenerator,
    adain_decoder,
    content_encoder,
    multiscale_discriminator,
    munit_generator,
    style_encoder,
    style_mlp,
)
from i2ilab.models.patchgan import RECEPTIVE_FIELDS, patch_discriminator, receptive_field
from i2ilab.models.resnet import resnet_generator
from i2ilab.models.unet import encoder_decoder_generator, unet_generator

__all__ = [
    "MUNITGenerator",
    "RECEPTIVE_FIELDS",
    "adain_decoder",
    "content_encoder",
    "encoder_decoder_generator",
    "multiscale_discriminator",
    "munit_generator",
    "patch_discriminator",
    "receptive_field",
    "resnet_generator",
    "style_encoder",
    "style_mlp",
    "unet_generator",
]
