"""``i2ilab convert --from-pytorch FILE --model TYPE --out MODEL.keras``: the command line."""

import argparse
import sys

import numpy as np

from i2ilab.convert.core import FAMILY_ARGS, MODEL_TYPES, convert, family_of, infer_model_args, save
from i2ilab.convert.io import load_state_dict
from i2ilab.convert.keymap import CONVERTIBLE_FAMILIES


class ConvertError(SystemExit):
    """A usage or file error of ``i2ilab convert``: exit status 2, like the other commands and
    argparse; ``str()`` is the one-line message, which :func:`main` prints on stderr."""

    def __init__(self, message):
        super().__init__(2)
        self.message = message

    def __str__(self):
        return self.message


#: Help of each architecture argument's flag; every argument of a convertible family gets one
#: flag, ``--`` + its name in lower case with dashes (``num_D`` -> ``--num-d``).
_ARG_HELP = {
    "in_channels": "input channels (pix2pix D: 6, CycleGAN D: 3)",
    "out_channels": "generator output channels",
    "ngf": "generator width (junyanz --ngf, default 64)",
    "ndf": "discriminator width (junyanz --ndf, default 64)",
    "num_downs": "U-Net downsamplings (unet_256: 8, unet_128: 7)",
    "n_blocks": "residual blocks (ResNet generator, BicycleGAN encoder, pix2pixHD global G)",
    "n_downsampling": "generator downsamplings (ResNet 2, pix2pixHD global 4)",
    "n_layers": "PatchGAN stride-2 layers (basic: 3, pixel: 0)",
    "norm": "batch (pix2pix) or instance (CycleGAN, pix2pixHD)",
    "dim": "MUNIT / UNIT generator or discriminator width (64)",
    "style_dim": "MUNIT style code length (8)",
    "mlp_dim": "MUNIT MLP width (256)",
    "n_downsample": "MUNIT / UNIT content encoder downsamplings (2)",
    "n_res": "MUNIT / UNIT residual blocks (4)",
    "n_layer": "MUNIT / UNIT discriminator layers per scale (4)",
    "num_scales": "MUNIT / UNIT discriminator scales (3)",
    "nz": "BicycleGAN latent code length (--nz, 8)",
    "where_add": "BicycleGAN: z added to all U-Net layers or to the input only (--where_add)",
    "num_D": "discriminator scales (BicycleGAN 2, pix2pixHD 512p 2, 1024p 3)",
    "nef": "pix2pixHD feature encoder width (--nef, 16)",
    "n_downsample_global": "pix2pixHD local enhancer: the global G's downsamplings (4)",
    "n_blocks_global": "pix2pixHD local enhancer: the global G's residual blocks (9)",
    "n_local_enhancers": "pix2pixHD local enhancers (1)",
    "n_blocks_local": "pix2pixHD local enhancer residual blocks (3)",
}
#: The values string-valued arguments take in the references.
_ARG_CHOICES = {"norm": ("batch", "instance"), "where_add": ("all", "input")}


def _arch_flags():
    """``[(flag, factory argument, type, help)]`` of every architecture argument of the
    convertible families (``dropout`` has its own pair of flags), in registry order."""
    names = []
    for family in FAMILY_ARGS:
        if family in CONVERTIBLE_FAMILIES:
            names += [n for n in FAMILY_ARGS[family] if n not in names and n != "dropout"]
    return [("--" + n.lower().replace("_", "-"), n, str if n in _ARG_CHOICES else int, _ARG_HELP[n]) for n in names]


_ARCH_FLAGS = _arch_flags()


def add_convert_parser(subparsers):
    """Add the ``convert`` sub-command to an argparse ``subparsers`` object; returns its parser.
    Dispatch with ``args.func(args)`` (set here to ``run_convert``)."""
    parser = subparsers.add_parser(
        "convert",
        help="convert an official PyTorch checkpoint (pix2pix, CycleGAN, MUNIT, BicycleGAN, pix2pixHD, UNIT, CUT) to .keras",
        description=(
            "Convert a reference PyTorch checkpoint (junyanz latest_net_G.pth, MUNIT gen_*.pt) "
            "into an i2ilab Keras model. Architecture arguments default to the references' "
            "defaults and are checked against the checkpoint; --infer-args reads them off it. "
            "See i2ilab/convert/CHECKPOINTS.md for the official checkpoints."
        ),
    )
    _add_arguments(parser)
    return parser


def _add_arguments(parser):
    parser.add_argument(
        "--from-pytorch", required=True, metavar="FILE", help="checkpoint: .pth/.pt (needs torch) or .npz state dict"
    )
    parser.add_argument(
        "--model",
        required=True,
        choices=sorted(t for t in MODEL_TYPES if family_of(t)[0] in CONVERTIBLE_FAMILIES),
        help="reference network (junyanz --netG / --netD name, munit / munit_dis, BicycleGAN, pix2pixHD, UNIT, CUT)",
    )
    parser.add_argument("--out", required=True, metavar="MODEL.keras", help="output .keras file")
    parser.add_argument(
        "--domain", choices=("a", "b"), help="which network of a MUNIT two-domain file (gen_*.pt holds 'a' and 'b')"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=256,
        help="input size of the model (default 256, the references' test size); 0: fully convolutional, any valid size",
    )
    parser.add_argument(
        "--infer-args", action="store_true", help="take every architecture argument not given from the checkpoint"
    )
    group = parser.add_argument_group("architecture (defaults: the reference defaults)")
    for flag, dest, typ, text in _ARCH_FLAGS:
        group.add_argument(flag, dest=dest, type=typ, default=None, choices=_ARG_CHOICES.get(dest), help=text)
    drop = group.add_mutually_exclusive_group()
    drop.add_argument(
        "--dropout",
        dest="dropout",
        action="store_const",
        const=True,
        default=None,
        help="generator with dropout (pix2pix U-Net default)",
    )
    drop.add_argument(
        "--no-dropout",
        dest="dropout",
        action="store_const",
        const=False,
        help="generator without dropout (CycleGAN default)",
    )
    parser.set_defaults(func=run_convert)


def run_convert(args):
    """Run the conversion described by parsed ``args``; prints a summary, returns 0. Raises
    ConvertError (a SystemExit with status 2) with a one-line message for a bad option or file."""
    family, _ = family_of(args.model)
    allowed = FAMILY_ARGS[family]
    given = {dest: getattr(args, dest) for _, dest, _, _ in _ARCH_FLAGS}
    given["dropout"] = args.dropout
    given = {k: v for k, v in given.items() if v is not None}
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise ConvertError(f"i2ilab convert: {flags} does not apply to --model {args.model}.")
    if not str(args.out).endswith(".keras"):
        raise ConvertError(f"i2ilab convert: --out {args.out} must end in .keras (Keras 3 format).")
    try:
        state = load_state_dict(args.from_pytorch, args.domain)
        kwargs = dict(given)
        if args.infer_args:
            _, fixed = family_of(args.model)  # what the model name fixes is checked, not inferred
            inferred = infer_model_args(state, args.model)
            kwargs = {**{k: v for k, v in inferred.items() if k in allowed and k not in fixed}, **given}
        model = convert(state, args.model, image_size=args.image_size or None, **kwargs)
        path = save(model, args.out)
    except (ImportError, OSError, ValueError) as err:  # CheckpointMismatchError is a ValueError
        raise ConvertError(f"i2ilab convert: error: {err}") from err
    n_params = sum(int(np.prod(w.shape)) for w in model.weights)
    print(
        f"converted {args.from_pytorch} -> {path}: {model.name} "
        f"({args.model}, {n_params:,} values, arguments {kwargs or 'reference defaults'})"
    )
    return 0


def main(argv=None):
    """Standalone entry: ``python -m i2ilab.convert --from-pytorch FILE --model TYPE --out F``
    (the same options as ``i2ilab convert``)."""
    parser = argparse.ArgumentParser(
        prog="i2ilab convert",
        description="Convert an official PyTorch checkpoint (pix2pix, CycleGAN, MUNIT, BicycleGAN, pix2pixHD, UNIT, CUT) to .keras.",
    )
    _add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except ConvertError as err:
        print(err.message, file=sys.stderr)
        raise
