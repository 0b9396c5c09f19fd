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


# (flag, factory argument, type, help)
_ARCH_FLAGS = (
    ("--in-channels", "in_channels", int, "input channels (pix2pix D: 6, CycleGAN D: 3)"),
    ("--out-channels", "out_channels", int, "generator output channels"),
    ("--ngf", "ngf", int, "generator width (junyanz --ngf, default 64)"),
    ("--ndf", "ndf", int, "PatchGAN width (junyanz --ndf, default 64)"),
    ("--num-downs", "num_downs", int, "U-Net downsamplings (unet_256: 8, unet_128: 7)"),
    ("--n-blocks", "n_blocks", int, "ResNet generator residual blocks"),
    ("--n-downsampling", "n_downsampling", int, "ResNet generator downsamplings (2)"),
    ("--n-layers", "n_layers", int, "PatchGAN stride-2 layers (basic: 3, pixel: 0)"),
    ("--norm", "norm", str, "batch (pix2pix) or instance (CycleGAN)"),
    ("--dim", "dim", int, "MUNIT generator / discriminator width (64)"),
    ("--style-dim", "style_dim", int, "MUNIT style code length (8)"),
    ("--mlp-dim", "mlp_dim", int, "MUNIT MLP width (256)"),
    ("--n-downsample", "n_downsample", int, "MUNIT content encoder downsamplings (2)"),
    ("--n-res", "n_res", int, "MUNIT residual blocks (4)"),
    ("--n-layer", "n_layer", int, "MUNIT discriminator layers per scale (4)"),
    ("--num-scales", "num_scales", int, "MUNIT discriminator scales (3)"),
)


def add_convert_parser(subparsers):
    """Add the ``convert`` sub-command to an argparse ``subparsers`` object; returns its parser.
    Dispatch with ``args.func(args)`` (set here to ``run_convert``)."""
    parser = subparsers.add_parser(
        "convert",
        help="convert an official PyTorch checkpoint (pix2pix, CycleGAN, MUNIT) to .keras",
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
        choices = ("batch", "instance") if dest == "norm" else None  # the references' norms
        group.add_argument(flag, dest=dest, type=typ, default=None, choices=choices, help=text)
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
        description="Convert an official PyTorch checkpoint (pix2pix, CycleGAN, MUNIT) to .keras.",
    )
    _add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except ConvertError as err:
        print(err.message, file=sys.stderr)
        raise
