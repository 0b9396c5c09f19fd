"""The network registry: a network type name -> the factory and the arguments the name fixes.

The idea of the reference code's ``define_G`` / ``define_D``: one table from a name to a network,
used by the task recipes (:mod:`i2ilab.recipes`), the converter of PyTorch checkpoints and the
benchmarks. Names follow the references' flags (junyanz ``--netG unet_256`` / ``resnet_9blocks``,
``--netD basic`` / ``pixel``; MUNIT ``gen`` / ``dis``). A new network family is registered here
(its factory in :data:`FACTORIES`, its architecture arguments in :data:`FAMILY_ARGS`).
"""

from i2ilab.models.bicyclegan import bicycle_discriminator, bicycle_encoder, bicycle_unet_generator
from i2ilab.models.cut import cut_discriminator, cut_generator
from i2ilab.models.munit import multiscale_discriminator, munit_generator
from i2ilab.models.patchgan import patch_discriminator
from i2ilab.models.pix2pixhd import feature_encoder, global_generator, hd_discriminator, local_enhancer
from i2ilab.models.resnet import resnet_generator
from i2ilab.models.unet import unet_generator
from i2ilab.models.unit import unit_discriminator, vae_generator

#: Family -> its factory ``f(image_size, ..., name=...) -> keras.Model``.
FACTORIES = {
    "unet": unet_generator,
    "resnet": resnet_generator,
    "patchgan": patch_discriminator,
    "munit": munit_generator,
    "munit_dis": multiscale_discriminator,
    # UNIT and CUT (issue 21)
    "unit": vae_generator,
    "unit_dis": unit_discriminator,
    "cut": cut_generator,
    "cut_dis": cut_discriminator,
}

# pix2pixHD (Wang et al. 2018): netG global / local / encoder, the multi-scale D.
FACTORIES.update(
    {
        "pix2pixhd_global": global_generator,
        "pix2pixhd_local": local_enhancer,
        "pix2pixhd_dis": hd_discriminator,
        "pix2pixhd_encoder": feature_encoder,
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
    # UNIT (mingyuliutw/UNIT VAEGen, MsImageDis) and CUT (anti-aliased resnet_9blocks, basic D)
    "unit": ("unit", {}),
    "unit_dis": ("unit_dis", {}),
    "cut": ("cut", {}),
    "cut_resnet_9blocks": ("cut", {"n_blocks": 9}),
    "cut_dis": ("cut_dis", {}),
}

# pix2pixHD: the authors' --netG names and the 512p / 1024p discriminators.
MODEL_TYPES.update(
    {
        "pix2pixhd_global": ("pix2pixhd_global", {}),
        "global": ("pix2pixhd_global", {}),
        "pix2pixhd_local": ("pix2pixhd_local", {}),
        "local": ("pix2pixhd_local", {}),
        "pix2pixhd_encoder": ("pix2pixhd_encoder", {}),
        "encoder": ("pix2pixhd_encoder", {}),
        "pix2pixhd_dis": ("pix2pixhd_dis", {}),
        "pix2pixhd_dis_1024p": ("pix2pixhd_dis", {"num_D": 3}),
    }
)

#: Arguments of each family's factory that describe the architecture (all but image_size, name).
FAMILY_ARGS = {
    "unet": ("in_channels", "out_channels", "ngf", "num_downs", "norm", "dropout"),
    "resnet": ("in_channels", "out_channels", "ngf", "n_blocks", "norm", "dropout", "n_downsampling"),
    "patchgan": ("in_channels", "ndf", "n_layers", "norm"),
    "munit": ("in_channels", "dim", "style_dim", "n_downsample", "n_res", "mlp_dim"),
    "munit_dis": ("in_channels", "dim", "n_layer", "num_scales"),
    "unit": ("in_channels", "dim", "n_downsample", "n_res"),
    "unit_dis": ("in_channels", "dim", "n_layer", "num_scales"),
    "cut": ("in_channels", "out_channels", "ngf", "n_blocks", "n_downsampling"),
    "cut_dis": ("in_channels", "ndf", "n_layers"),
}

FAMILY_ARGS.update(
    {
        "pix2pixhd_global": ("in_channels", "out_channels", "ngf", "n_downsampling", "n_blocks", "norm"),
        "pix2pixhd_local": (
            "in_channels",
            "out_channels",
            "ngf",
            "n_downsample_global",
            "n_blocks_global",
            "n_local_enhancers",
            "n_blocks_local",
            "norm",
        ),
        "pix2pixhd_dis": ("in_channels", "ndf", "n_layers", "num_D", "norm"),
        "pix2pixhd_encoder": ("in_channels", "out_channels", "nef", "n_downsampling", "norm"),
    }
)


# --- BicycleGAN (Zhu et al. 2017b): --netG unet_256 --where_add all|input, --netE resnet_256,
# --netD basic_256_multi. "unet_256" already names pix2pix's U-Net, hence "bicycle_unet_256".
FACTORIES.update(
    bicycle_unet=bicycle_unet_generator,
    bicycle_encoder=bicycle_encoder,
    bicycle_d=bicycle_discriminator,
)
MODEL_TYPES.update(
    {
        "bicycle_unet": ("bicycle_unet", {}),
        "bicycle_unet_256": ("bicycle_unet", {"num_downs": 8}),
        "bicycle_unet_128": ("bicycle_unet", {"num_downs": 7}),
        "bicycle_encoder": ("bicycle_encoder", {}),
        "resnet_256": ("bicycle_encoder", {"n_blocks": 5}),
        "resnet_128": ("bicycle_encoder", {"n_blocks": 4}),
        "bicycle_d": ("bicycle_d", {}),
        "basic_256_multi": ("bicycle_d", {"n_layers": 3}),
        "basic_128_multi": ("bicycle_d", {"n_layers": 2}),
    }
)
FAMILY_ARGS.update(
    bicycle_unet=("in_channels", "out_channels", "nz", "ngf", "num_downs", "where_add", "dropout"),
    bicycle_encoder=("in_channels", "nz", "ndf", "n_blocks"),
    bicycle_d=("in_channels", "ndf", "n_layers", "num_D"),
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
