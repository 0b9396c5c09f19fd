"""The network registry: a network type name -> the factory and the arguments the name fixes.

The idea of the reference code's ``define_G`` / ``define_D``: one table from a name to a network,
used by the task recipes (:mod:`i2ilab.recipes`), the converter of PyTorch checkpoints and the
benchmarks. Names follow the references' flags (junyanz ``--netG unet_256`` / ``resnet_9blocks``,
``--netD basic`` / ``pixel``; MUNIT ``gen`` / ``dis``). A new network family is registered here
with one :func:`_family` call: its factory, its architecture arguments and its type names.
"""

from i2ilab.models.bicyclegan import bicycle_discriminator, bicycle_encoder, bicycle_unet_generator
from i2ilab.models.cut import cut_discriminator, cut_generator
from i2ilab.models.discogan import discogan_discriminator, discogan_generator
from i2ilab.models.distancegan import distancegan_discriminator, distancegan_generator
from i2ilab.models.dualgan import dualgan_discriminator, dualgan_generator
from i2ilab.models.munit import multiscale_discriminator, munit_generator
from i2ilab.models.ost import ost_decoder, ost_encoder, ost_shared
from i2ilab.models.patchgan import patch_discriminator
from i2ilab.models.pix2pixhd import feature_encoder, global_generator, hd_discriminator, local_enhancer
from i2ilab.models.resnet import resnet_generator
from i2ilab.models.unet import unet_generator
from i2ilab.models.unit import unit_discriminator, vae_generator

#: Family -> its factory ``f(image_size, ..., name=...) -> keras.Model``.
FACTORIES = {}
#: Arguments of each family's factory that describe the architecture (all but image_size, name).
FAMILY_ARGS = {}
#: model_type -> (family, factory arguments the name fixes).
MODEL_TYPES = {}


def _family(family, factory, args, names):
    """Register a network family: its factory, architecture arguments and type names."""
    FACTORIES[family] = factory
    FAMILY_ARGS[family] = tuple(args)
    for model_type, fixed in names.items():
        MODEL_TYPES[model_type] = (family, fixed)


# pix2pix and CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix --netG, --netD)
_family(
    "unet",
    unet_generator,
    ("in_channels", "out_channels", "ngf", "num_downs", "norm", "dropout"),
    {"unet": {}, "unet_256": {"num_downs": 8}, "unet_128": {"num_downs": 7}},
)
_family(
    "resnet",
    resnet_generator,
    ("in_channels", "out_channels", "ngf", "n_blocks", "norm", "dropout", "n_downsampling"),
    {"resnet": {}, "resnet_9blocks": {"n_blocks": 9}, "resnet_6blocks": {"n_blocks": 6}},
)
_family(
    "patchgan",
    patch_discriminator,
    ("in_channels", "ndf", "n_layers", "norm"),
    {"patchgan": {}, "pixel": {"n_layers": 0}},
)
# MUNIT (NVlabs/MUNIT gen, dis)
_family(
    "munit",
    munit_generator,
    ("in_channels", "dim", "style_dim", "n_downsample", "n_res", "mlp_dim"),
    {"munit": {}},
)
_family("munit_dis", multiscale_discriminator, ("in_channels", "dim", "n_layer", "num_scales"), {"munit_dis": {}})
# BicycleGAN (--netG unet_256 --where_add all|input, --netE resnet_256, --netD basic_256_multi);
# "unet_256" already names pix2pix's U-Net, hence "bicycle_unet_256".
_family(
    "bicycle_unet",
    bicycle_unet_generator,
    ("in_channels", "out_channels", "nz", "ngf", "num_downs", "where_add", "dropout"),
    {"bicycle_unet": {}, "bicycle_unet_256": {"num_downs": 8}, "bicycle_unet_128": {"num_downs": 7}},
)
_family(
    "bicycle_encoder",
    bicycle_encoder,
    ("in_channels", "nz", "ndf", "n_blocks"),
    {"bicycle_encoder": {}, "resnet_256": {"n_blocks": 5}, "resnet_128": {"n_blocks": 4}},
)
_family(
    "bicycle_d",
    bicycle_discriminator,
    ("in_channels", "ndf", "n_layers", "num_D"),
    {"bicycle_d": {}, "basic_256_multi": {"n_layers": 3}, "basic_128_multi": {"n_layers": 2}},
)
# pix2pixHD (--netG global | local, the feature encoder, the multi-scale D of 512p / 1024p)
_family(
    "pix2pixhd_global",
    global_generator,
    ("in_channels", "out_channels", "ngf", "n_downsampling", "n_blocks", "norm"),
    {"pix2pixhd_global": {}, "global": {}},
)
_family(
    "pix2pixhd_local",
    local_enhancer,
    (
        "in_channels",
        "out_channels",
        "ngf",
        "n_downsample_global",
        "n_blocks_global",
        "n_local_enhancers",
        "n_blocks_local",
        "norm",
    ),
    {"pix2pixhd_local": {}, "local": {}},
)
_family(
    "pix2pixhd_dis",
    hd_discriminator,
    ("in_channels", "ndf", "n_layers", "num_D", "norm"),
    {"pix2pixhd_dis": {}, "pix2pixhd_dis_1024p": {"num_D": 3}},
)
_family(
    "pix2pixhd_encoder",
    feature_encoder,
    ("in_channels", "out_channels", "nef", "n_downsampling", "norm"),
    {"pix2pixhd_encoder": {}, "encoder": {}},
)
# UNIT (mingyuliutw/UNIT VAEGen, MsImageDis)
_family("unit", vae_generator, ("in_channels", "dim", "n_downsample", "n_res"), {"unit": {}})
_family("unit_dis", unit_discriminator, ("in_channels", "dim", "n_layer", "num_scales"), {"unit_dis": {}})
# CUT (anti-aliased resnet_9blocks, basic D)
_family(
    "cut",
    cut_generator,
    ("in_channels", "out_channels", "ngf", "n_blocks", "n_downsampling"),
    {"cut": {}, "cut_resnet_9blocks": {"n_blocks": 9}},
)
_family("cut_dis", cut_discriminator, ("in_channels", "ndf", "n_layers"), {"cut_dis": {}})
# DiscoGAN (model.py Generator / Discriminator; DistanceGAN's discogan_arch --num_layers)
_family(
    "discogan",
    discogan_generator,
    ("in_channels", "out_channels", "ngf", "num_layers"),
    {"discogan": {}, "discogan_3layers": {"num_layers": 3}, "discogan_extra_layers": {"num_layers": 5}},
)
_family("discogan_dis", discogan_discriminator, ("in_channels", "ndf"), {"discogan_dis": {}})
# DistanceGAN on the CycleGAN architecture (--which_model_netG resnet_9blocks, --which_model_netD basic)
_family(
    "distancegan",
    distancegan_generator,
    ("in_channels", "out_channels", "ngf", "n_blocks", "n_downsampling"),
    {"distancegan": {}, "distancegan_resnet_9blocks": {"n_blocks": 9}},
)
_family(
    "distancegan_dis",
    distancegan_discriminator,
    ("in_channels", "ndf", "n_layers", "padding"),
    {"distancegan_basic": {"padding": 1}, "distancegan_basic_py3": {"padding": 2}},
)
# DualGAN (A_g / B_g; A_d / B_d with --disc_type globalgan | patchgan)
_family("dualgan", dualgan_generator, ("in_channels", "out_channels", "gcn", "num_downs"), {"dualgan": {}})
_family(
    "dualgan_dis",
    dualgan_discriminator,
    ("in_channels", "dcn", "disc_type"),
    {"dualgan_globalgan": {"disc_type": "globalgan"}, "dualgan_patchgan": {"disc_type": "patchgan"}},
)
# OST (Enc_a / Enc_b, Enc_shared / Dec_shared, Dec_a / Dec_b)
_family("ost_enc", ost_encoder, ("in_channels", "ngf", "n_downsampling"), {"ost_enc": {}})
_family("ost_shared", ost_shared, ("channels", "n_blocks"), {"ost_shared": {}})
_family("ost_dec", ost_decoder, ("out_channels", "ngf", "n_downsampling"), {"ost_dec": {}})


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
