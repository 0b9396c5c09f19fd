"""The network registry: a network type name -> the factory and the arguments the name fixes.

The idea of the reference code's ``define_G`` / ``define_D``: one table from a name to a network,
used by the task recipes (:mod:`i2ilab.recipes`), the converter of PyTorch checkpoints and the
benchmarks. Names follow the references' flags (junyanz ``--netG unet_256`` / ``resnet_9blocks``,
``--netD basic`` / ``pixel``; MUNIT ``gen`` / ``dis``). A new network family is registered here
(its factory in :data:`FACTORIES`, its architecture arguments in :data:`FAMILY_ARGS`).
"""

from i2ilab.models.discogan import discogan_discriminator, discogan_generator
from i2ilab.models.distancegan import distancegan_discriminator, distancegan_generator
from i2ilab.models.dualgan import dualgan_discriminator, dualgan_generator
from i2ilab.models.munit import multiscale_discriminator, munit_generator
from i2ilab.models.ost import ost_decoder, ost_encoder, ost_shared
from i2ilab.models.patchgan import patch_discriminator
from i2ilab.models.resnet import resnet_generator
from i2ilab.models.unet import unet_generator

#: Family -> its factory ``f(image_size, ..., name=...) -> keras.Model``.
FACTORIES = {
    "unet": unet_generator,
    "resnet": resnet_generator,
    "patchgan": patch_discriminator,
    "munit": munit_generator,
    "munit_dis": multiscale_discriminator,
}

#: DiscoGAN, DistanceGAN, DualGAN and OST families (their authors' class / flag names below).
FACTORIES.update(
    {
        "discogan": discogan_generator,
        "discogan_dis": discogan_discriminator,
        "distancegan": distancegan_generator,
        "distancegan_dis": distancegan_discriminator,
        "dualgan": dualgan_generator,
        "dualgan_dis": dualgan_discriminator,
        "ost_enc": ost_encoder,
        "ost_shared": ost_shared,
        "ost_dec": ost_decoder,
    }
)

#: model_type -> (family, factory arguments the name fixes).
MODEL_TYPES = {
    "unet": ("unet", {}),
    "unet_256": ("unet", {"num_downs": 8}),
    "unet_128": ("unet", {"num_downs": 7}),
    "resnet": ("resnet", {}),
    "resnet_9blocks": ("resnet", {"n_blocks": 9}),
    "resnet_6blocks": ("resnet", {"n_blocks": 6}),
    "patchgan": ("patchgan", {}),
    "pixel": ("patchgan", {"n_layers": 0}),
    "munit": ("munit", {}),
    "munit_dis": ("munit_dis", {}),
}

MODEL_TYPES.update(
    {
        # DiscoGAN model.py Generator / Discriminator; DistanceGAN discogan_arch --num_layers
        "discogan": ("discogan", {}),
        "discogan_3layers": ("discogan", {"num_layers": 3}),
        "discogan_extra_layers": ("discogan", {"num_layers": 5}),
        "discogan_dis": ("discogan_dis", {}),
        # DistanceGAN CycleGAN-arch --which_model_netG resnet_9blocks / --which_model_netD basic
        "distancegan": ("distancegan", {}),
        "distancegan_resnet_9blocks": ("distancegan", {"n_blocks": 9}),
        "distancegan_basic": ("distancegan_dis", {"padding": 1}),
        "distancegan_basic_py3": ("distancegan_dis", {"padding": 2}),
        # DualGAN A_g / B_g, A_d / B_d --disc_type globalgan | patchgan
        "dualgan": ("dualgan", {}),
        "dualgan_globalgan": ("dualgan_dis", {"disc_type": "globalgan"}),
        "dualgan_patchgan": ("dualgan_dis", {"disc_type": "patchgan"}),
        # OST Enc_a / Enc_b, Enc_shared / Dec_shared, Dec_a / Dec_b
        "ost_enc": ("ost_enc", {}),
        "ost_shared": ("ost_shared", {}),
        "ost_dec": ("ost_dec", {}),
    }
)

#: Arguments of each family's factory that describe the architecture (all but image_size, name).
FAMILY_ARGS = {
    "unet": ("in_channels", "out_channels", "ngf", "num_downs", "norm", "dropout"),
    "resnet": ("in_channels", "out_channels", "ngf", "n_blocks", "norm", "dropout", "n_downsampling"),
    "patchgan": ("in_channels", "ndf", "n_layers", "norm"),
    "munit": ("in_channels", "dim", "style_dim", "n_downsample", "n_res", "mlp_dim"),
    "munit_dis": ("in_channels", "dim", "n_layer", "num_scales"),
}

FAMILY_ARGS.update(
    {
        "discogan": ("in_channels", "out_channels", "ngf", "num_layers"),
        "discogan_dis": ("in_channels", "ndf"),
        "distancegan": ("in_channels", "out_channels", "ngf", "n_blocks", "n_downsampling"),
        "distancegan_dis": ("in_channels", "ndf", "n_layers", "padding"),
        "dualgan": ("in_channels", "out_channels", "gcn", "num_downs"),
        "dualgan_dis": ("in_channels", "dcn", "disc_type"),
        "ost_enc": ("in_channels", "ngf", "n_downsampling"),
        "ost_shared": ("channels", "n_blocks"),
        "ost_dec": ("out_channels", "ngf", "n_downsampling"),
    }
)


def family_of(model_type):
    """(family, fixed factory kwargs) of a model type name; ValueError for an unknown name."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type={model_type!r} is not one of {sorted(MODEL_TYPES)}.")
    family, fixed = MODEL_TYPES[model_type]
    return family, dict(fixed)


def build_model(model_type, image_size=256, name=None, **kwargs):
    """Build the network ``model_type`` (see :data:`MODEL_TYPES`) with factory ``kwargs``.

    image_size: the input size, 256 (the references' test size) by default; None gives a fully
    convolutional model that takes any input size the architecture allows (a multiple of
    2**num_downs for the U-Net, of 4 for the others). name: the Keras model name (the factory's
    default when None).
    """
    family, fixed = family_of(model_type)
    unknown = set(kwargs) - set(FAMILY_ARGS[family])
    if unknown:
        raise TypeError(
            f"{model_type}: unknown argument(s) {sorted(unknown)}; this model takes "
            f"{list(FAMILY_ARGS[family])} (and image_size, name)."
        )
    for key, value in fixed.items():
        if kwargs.setdefault(key, value) != value:
            raise ValueError(f"model_type={model_type!r} means {key}={value}, got {key}={kwargs[key]}.")
    if name is not None:
        kwargs["name"] = name
    model = FACTORIES[family](image_size=image_size, **kwargs)
    if family == "munit" and not model.built:  # fully convolutional: build for saving
        model.build((None, None, None, kwargs.get("in_channels", 3)))
    return model
