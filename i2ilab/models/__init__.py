"""Network factories; each returns a keras.Model (see shared/REFERENCE.md section 2 for counts).

:mod:`i2ilab.models.registry` maps network type names (``unet_256``, ``resnet_9blocks``,
``munit_dis``, ...) to these factories: ``build_model(name, image_size, ...)``.
"""

from i2ilab.models.bicyclegan import bicycle_discriminator, bicycle_encoder, bicycle_unet_generator, noise_encoder
from i2ilab.models.cut import (
    PatchSampleF,
    cut_discriminator,
    cut_generator,
    nce_feature_model,
    patch_sample_f,
)
from i2ilab.models.discogan import discogan_discriminator, discogan_generator
from i2ilab.models.distancegan import AffineInstanceNorm, distancegan_discriminator, distancegan_generator
from i2ilab.models.dualgan import dualgan_discriminator, dualgan_generator
from i2ilab.models.munit import (
    MUNITGenerator,
    adain_decoder,
    content_encoder,
    multiscale_discriminator,
    munit_generator,
    style_encoder,
    style_mlp,
)
from i2ilab.models.ost import ost_decoder, ost_encoder, ost_shared
from i2ilab.models.patchgan import RECEPTIVE_FIELDS, patch_discriminator, receptive_field
from i2ilab.models.pix2pixhd import (
    InstanceAveragePool,
    feature_encoder,
    global_generator,
    hd_discriminator,
    instance_edge_map,
    load_global_weights,
    local_enhancer,
)
from i2ilab.models.registry import MODEL_TYPES, build_model
from i2ilab.models.resnet import resnet_generator
from i2ilab.models.unet import encoder_decoder_generator, unet_generator
from i2ilab.models.unit import VAEGen, unit_discriminator, vae_generator

__all__ = [
    "AffineInstanceNorm",
    "discogan_discriminator",
    "discogan_generator",
    "distancegan_discriminator",
    "distancegan_generator",
    "dualgan_discriminator",
    "dualgan_generator",
    "ost_decoder",
    "ost_encoder",
    "ost_shared",
    "MODEL_TYPES",
    "MUNITGenerator",
    "RECEPTIVE_FIELDS",
    "adain_decoder",
    "bicycle_discriminator",
    "bicycle_encoder",
    "noise_encoder",
    "bicycle_unet_generator",
    "build_model",
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
    # the unpaired family: UNIT, CUT
    "PatchSampleF",
    "VAEGen",
    "cut_discriminator",
    "cut_generator",
    "nce_feature_model",
    "patch_sample_f",
    "unit_discriminator",
    "vae_generator",
]
# pix2pixHD
__all__ += [
    "InstanceAveragePool",
    "feature_encoder",
    "global_generator",
    "hd_discriminator",
    "instance_edge_map",
    "load_global_weights",
    "local_enhancer",
]
