"""Task recipes: a model name -> its networks, its trainer, its dataset loader and size rules.

``colorize``, ``pix2pix``, ``cyclegan``, ``munit``, ``bicyclegan``, ``pix2pixhd``, the unpaired
family (``unit``, ``cut``, ``fastcut``, ``discogan``, ``dualgan``, ``distancegan``) and one-shot
``ost`` (two phases, :data:`OST_PHASES`) are the tasks of the
``i2ilab`` command; the first four also those of the benchmarks, the experiments, the converter
and the demos. A task's architecture is a small dict (:func:`arch_config`: model, image_size,
widths, the size-dependent depths, DistanceGAN's data statistics, pix2pixHD's label count and
loss switches), which is stored with every
checkpoint and exported run, so a run can be rebuilt from it (:func:`build_trainer`). A new
system is added here: its name in :data:`MODELS`, its networks in :data:`NETWORK_BUILDERS`
(through :mod:`i2ilab.models.registry`), its trainer in :data:`TRAINER_BUILDERS`, its data in
:func:`dataset_loader` and :data:`SYNTHETIC`, what its trainer needs of the data in
:func:`data_statistics`. Keras, the networks and the trainers are imported on first use, so the
command line starts quickly.
"""

import pathlib

from i2ilab.errors import UsageError

MODELS = (
    "colorize",
    "pix2pix",
    "cyclegan",
    "munit",
    "bicyclegan",
    "pix2pixhd",
    "unit",
    "cut",
    "fastcut",
    "discogan",
    "dualgan",
    "distancegan",
    "ost",
)
#: Models trained on paired A|B images (the pix2pix loader).
PAIRED = ("pix2pix", "bicyclegan")
#: Models trained on unpaired A and B images (trainA/ trainB/ folders, tensorflow-datasets sets).
UNPAIRED = ("cyclegan", "munit", "unit", "cut", "fastcut", "discogan", "dualgan", "distancegan")
#: Built-in synthetic dataset of each model (i2ilab.data.synthetic).
SYNTHETIC = {
    "colorize": "colors",
    "pix2pix": "labels2photo",
    "cyclegan": "day2night",
    "munit": "styles",
    "bicyclegan": "edges2palette",
    "pix2pixhd": "streets",
    **{model: "day2night" for model in UNPAIRED if model not in ("cyclegan", "munit")},
    "ost": "day2night",
}
#: The generators and discriminators of each model's trainer (the keys of :func:`build_networks`).
GENERATORS = {
    "colorize": ("generator",),
    "pix2pix": ("generator",),
    "cyclegan": ("g_ab", "g_ba"),
    "munit": ("gen_a", "gen_b"),
    "bicyclegan": ("generator", "encoder"),
    "pix2pixhd": ("generator",),
    "unit": ("gen_a", "gen_b"),
    "cut": ("generator",),
    "fastcut": ("generator",),
    "discogan": ("g_ab", "g_ba"),
    "dualgan": ("g_ab", "g_ba"),
    "distancegan": ("g_ab", "g_ba"),
    "ost": ("enc_a", "enc_b", "enc_shared", "dec_shared", "dec_a", "dec_b"),
}
DISCRIMINATORS = {
    "colorize": (),
    "pix2pix": ("discriminator",),
    "cyclegan": ("d_a", "d_b"),
    "munit": ("dis_a", "dis_b"),
    "bicyclegan": ("discriminator", "discriminator2"),
    "pix2pixhd": ("discriminator",),
    "unit": ("dis_a", "dis_b"),
    "cut": ("discriminator",),
    "fastcut": ("discriminator",),
    "discogan": ("d_a", "d_b"),
    "dualgan": ("d_a", "d_b"),
    "distancegan": ("d_a", "d_b"),
    "ost": ("d_b",),
}
NETWORKS = {model: GENERATORS[model] + DISCRIMINATORS[model] for model in GENERATORS}
#: Networks a model's trainer creates itself (not in :func:`build_networks`), shown by
#: :func:`summary_networks`: CUT's patch sampler F, made from the generator's NCE layers.
TRAINER_NETWORKS = {"cut": ("patch_sampler",), "fastcut": ("patch_sampler",)}
#: OST's phases (``i2ilab train ost --phase``): ``autoencoder`` trains the B autoencoder
#: (Enc_b, Enc_shared, Dec_shared, Dec_b, D_b) on domain B; ``ost`` starts from them (``--from``)
#: and trains Enc_a and Dec_a from ONE A image (and the B side on, with a fresh D_b). The
#: reference's schedule (niter 60, niter_decay 20: 1.905e-4 in epoch 60, 0 in epoch 80) is
#: ``--epochs 60 --epochs-decay 20`` (:func:`i2ilab.callbacks.linear_decay_factor`).
OST_PHASES = ("autoencoder", "ost")
#: The networks phase ``ost`` takes from the phase-1 run.
OST_FROM_PHASE_1 = ("enc_b", "enc_shared", "dec_shared", "dec_b")
#: Generator that translates, per model and direction (MUNIT translates with a style instead;
#: UNIT encodes with the named generator and decodes with the other one).
TRANSLATORS = {
    "colorize": {"AtoB": "generator"},
    "pix2pix": {"AtoB": "generator"},
    "cyclegan": {"AtoB": "g_ab", "BtoA": "g_ba"},
    "bicyclegan": {"AtoB": "generator"},
    "pix2pixhd": {"AtoB": "generator"},
    "unit": {"AtoB": "gen_a", "BtoA": "gen_b"},
    "cut": {"AtoB": "generator"},
    "fastcut": {"AtoB": "generator"},
    "discogan": {"AtoB": "g_ab", "BtoA": "g_ba"},
    "dualgan": {"AtoB": "g_ab", "BtoA": "g_ba"},
    "distancegan": {"AtoB": "g_ab", "BtoA": "g_ba"},
    "ost": {"AtoB": "enc_a"},
}
#: Models that translate through their trainer's ``translate`` (UNIT: two networks; DiscoGAN:
#: networks in [0, 1]; OST: four), at the training size only.
TRAINER_TRANSLATES = ("unit", "discogan", "ost")
#: Models whose generator is a U-Net down to 1x1: run fully convolutionally on multiples of the
#: training size (the others on multiples of 4).
FULL_DEPTH_UNETS = ("colorize", "pix2pix", "dualgan")
#: Models whose generator takes a latent code besides the image (``translate --z``).
LATENT_MODELS = ("bicyclegan",)
#: Models that translate label maps of class ids (and instance maps), not RGB images.
LABEL_MODELS = ("pix2pixhd",)
#: pix2pixHD's label ids when neither the data nor ``--n-classes`` tells (the reference's
#: ``--label_nc`` 35, Cityscapes).
DEFAULT_N_CLASSES = 35
#: Keys of an architecture dict: they must match to resume or load a checkpoint.
ARCH_KEYS = (
    "model",
    "image_size",
    "ngf",
    "ndf",
    "n_layers_d",
    "num_scales",
    "n_blocks",
    "n_res",
    "mlp_dim",
    "num_downs",
    "n_blocks_e",
    "n_downsampling",
    "n_classes",
    "instances",
    "vgg_loss",
    "stats_a",
    "stats_b",
    "phase",
)
#: Training resolution of the built-in synthetic sets and of real datasets (the references').
DEFAULT_SYNTHETIC_SIZE = 32
DEFAULT_SIZE = 256


# ---------------------------------------------------------------------------------- size rules
def max_patch_layers(image_size):
    """Deepest PatchGAN (n_layers) whose logit map is at least 1x1: size / 2**n - 2 >= 1."""
    deepest = 0
    while image_size / 2 ** (deepest + 1) - 2 >= 1:
        deepest += 1
    return deepest


def patch_layers(image_size):
    """PatchGAN depth: the reference's 3 (70x70 patches) where the image allows it, else the
    deepest that keeps a logit map (2 at 16x16)."""
    return min(3, max_patch_layers(image_size))


def resnet_blocks(image_size):
    """ResNet generator depth: 9 blocks from 256 px, else 6 (the reference's 128x128 setting)."""
    return 9 if image_size >= 256 else 6


def munit_scales(image_size):
    """MUNIT discriminator scales: 3, fewer below 64 px so the coarsest scale keeps a logit map."""
    return max(1, min(3, int(image_size).bit_length() - 4))


#: Image-size rule of each model as (smallest size, kind): ``"pow2"`` a power of two, ``"only"``
#: that size alone, ``"mult16"`` a multiple of 16 (pix2pixHD's G halves the image 4 times, 3
#: at 16 px); unlisted models take a multiple of 4 >= 16. The U-Nets of pix2pix, colorize,
#: BicycleGAN and DualGAN halve the image down to 1x1; BicycleGAN's encoder ends on a fixed 8x8
#: pool and its two-scale D needs a logit map at half size, hence >= 32. DiscoGAN is the
#: reference's fixed 64x64 architecture (its D ends on a 4x4 valid conv: one logit per image at
#: 64, its G has a 4x4 bottleneck): other sizes are refused rather than scaled, as the authors
#: resize every image to 64.
SIZE_RULES = {
    "pix2pix": (16, "pow2"),
    "colorize": (16, "pow2"),
    "bicyclegan": (32, "pow2"),
    "dualgan": (16, "pow2"),
    "discogan": (64, "only"),
    "pix2pixhd": (16, "mult16"),
}


def image_sizes(model):
    """The rule for ``model``'s image size in words, with examples (:data:`SIZE_RULES`)."""
    low, kind = SIZE_RULES.get(model, (16, "mult4"))
    if kind == "only":
        return f"{low} (its fixed {low}x{low} architecture)"
    if kind == "pow2":
        examples = ", ".join(str(2**k) for k in range(low.bit_length() - 1, 10))
        return f"a power of two >= {low} ({examples})"
    if kind == "mult16":
        return f"a multiple of 16 >= {low} (e.g. 16, 32, 48, 64, 128, 256, 512)"
    return f"a multiple of 4 >= {low} (e.g. 16, 32, 64, 128, 256)"


def check_image_size(model, image_size):
    """Raise UsageError naming ``--image-size`` when ``model``'s networks cannot take the size."""
    size = int(image_size)
    low, kind = SIZE_RULES.get(model, (16, "mult4"))
    if kind == "only":
        ok = size == low
    else:
        ok = size >= low and (size & (size - 1) == 0 if kind == "pow2" else size % (16 if kind == "mult16" else 4) == 0)
    if not ok:
        raise UsageError(f"--image-size {image_size}: {model} needs {image_sizes(model)}.")


def default_image_size(model, data="synthetic"):
    """The image size of ``model`` when ``--image-size`` is not given: a fixed-size model's size,
    else 32 on ``data="synthetic"`` and 256 on real data (None: ``i2ilab summary``)."""
    low, kind = SIZE_RULES.get(model, (16, "mult4"))
    if kind == "only":
        return low
    return DEFAULT_SYNTHETIC_SIZE if data == "synthetic" else DEFAULT_SIZE


#: Models with a PatchGAN discriminator (``--n-layers-d``) and with a ResNet generator (n_blocks).
PATCH_D_MODELS = ("pix2pix", "cyclegan", "bicyclegan", "cut", "fastcut", "distancegan", "ost")
RESNET_G_MODELS = ("cyclegan", "cut", "fastcut", "distancegan")


def arch_config(
    model,
    image_size,
    ngf=64,
    ndf=64,
    n_layers_d=None,
    n_scales_d=None,
    n_classes=None,
    instances=True,
    vgg_loss=True,
    phase=None,
):
    """The architecture dict of ``model`` at ``image_size``, with the size-dependent defaults.

    pix2pixHD only (:func:`pix2pixhd_config`): ``n_scales_d`` its D scales (None: 2),
    ``n_classes`` its label ids (None: 35), ``instances`` (False: ``--no-instance``, no edge
    map) and ``vgg_loss`` (False: ``--no-vgg-loss``). OST only: ``phase``, one of
    :data:`OST_PHASES` (None: ``"ost"``, every network); its facades setting, n_downsampling 2
    and 6 shared residual blocks on each side at every size.

    Raises UsageError for an unknown model, a size its networks cannot take
    (:func:`check_image_size`), a width below 1, a PatchGAN depth outside 0 .. the deepest
    the size allows, ``n_layers_d`` for a model without a PatchGAN, or a pix2pixHD or OST
    option given to another model.
    """
    if model not in MODELS:
        raise UsageError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    check_image_size(model, image_size)
    for flag, width in (("--ngf", ngf), ("--ndf", ndf)):
        if width < 1:
            raise UsageError(f"{flag} {width}: use a network width >= 1 (the references use 64).")
    cfg = {"model": model, "image_size": int(image_size), "ngf": int(ngf), "ndf": int(ndf)}
    hd_options = {"--n-scales-d": n_scales_d, "--n-classes": n_classes}
    hd_options.update({"--no-instance": None if instances else True, "--no-vgg-loss": None if vgg_loss else True})
    if model == "pix2pixhd":
        cfg.update(pix2pixhd_config(int(image_size), n_layers_d, n_scales_d, n_classes, instances, vgg_loss))
    elif any(v is not None for v in hd_options.values()):
        flags = ", ".join(flag for flag, v in hd_options.items() if v is not None)
        raise UsageError(f"{flags}: pix2pixhd options; {model} takes none of them.")
    if n_layers_d is not None and model not in PATCH_D_MODELS + ("pix2pixhd",):
        raise UsageError(
            f"--n-layers-d {n_layers_d}: {model}'s discriminator is not a PatchGAN of adjustable depth "
            f"(the flag is for {', '.join(PATCH_D_MODELS + ('pix2pixhd',))}); drop it."
        )
    if phase is not None and model != "ost":
        raise UsageError(f"--phase {phase}: an ost option; {model} trains in one phase, drop it.")
    if model == "ost":
        if (phase or "ost") not in OST_PHASES:
            raise UsageError(f"--phase {phase}: use one of {', '.join(OST_PHASES)}.")
        cfg.update(phase=phase or "ost", n_downsampling=2, n_blocks=6)
    if model in PATCH_D_MODELS:
        # BicycleGAN's second D scale sees the image at half size: its logit map bounds the depth.
        deepest = max_patch_layers(image_size // 2 if model == "bicyclegan" else image_size)
        default = bicyclegan_d_layers(image_size) if model == "bicyclegan" else patch_layers(image_size)
        n = default if n_layers_d is None else int(n_layers_d)
        if n > deepest or n < 0:
            raise UsageError(
                f"--n-layers-d {n}: use 0 to {deepest} for {image_size}x{image_size} images "
                f"(0 is a 1x1 PixelGAN; deeper than {deepest} the logit map would vanish; use at most {deepest})."
            )
        cfg["n_layers_d"] = n
    if model in RESNET_G_MODELS:
        cfg["n_blocks"] = resnet_blocks(image_size)
    if model in ("munit", "unit"):
        cfg["num_scales"] = munit_scales(image_size)
    if model == "bicyclegan":
        cfg.update(bicyclegan_depths(int(image_size)))
    if model == "dualgan":
        cfg["num_downs"] = int(image_size).bit_length() - 1  # down to 1x1: the reference's 8 at 256
    return cfg


def pix2pixhd_config(image_size, n_layers_d=None, n_scales_d=None, n_classes=None, instances=True, vgg_loss=True):
    """pix2pixHD's architecture keys (global G, multi-scale D; Wang et al. section 3.2): the
    reference's n_layers_d 3, num_scales 2 (num_D), n_downsampling 4 (3 at 16 px, keeping the
    2x2 bottleneck its reflect-padded residual blocks need), n_blocks by :func:`resnet_blocks`
    (the reference's 9 from 256 px), n_classes (35), instances, vgg_loss. Its D pads every conv
    by 2, so any depth keeps a logit map; its coarsest scale must be at least 8 px."""
    n_layers = 3 if n_layers_d is None else int(n_layers_d)
    if n_layers < 0:
        raise UsageError(f"--n-layers-d {n_layers}: use 0 or more layers (the reference uses 3).")
    most = max(1, (image_size // 8).bit_length())
    scales = 2 if n_scales_d is None else int(n_scales_d)
    if not 1 <= scales <= most:
        raise UsageError(
            f"--n-scales-d {scales}: use 1 to {most} discriminator scales for {image_size}x{image_size} images "
            "(each halves the image; the coarsest must keep 8 px; the reference uses 2, 3 at 1024p)."
        )
    classes = DEFAULT_N_CLASSES if n_classes is None else int(n_classes)
    if not 1 <= classes <= 256:
        raise UsageError(f"--n-classes {classes}: use 1 to 256 label ids (8-bit label maps; Cityscapes has 35).")
    return {
        "n_layers_d": n_layers,
        "num_scales": scales,
        "n_blocks": resnet_blocks(image_size),
        "n_downsampling": 4 if image_size >= 32 else 3,
        "n_classes": classes,
        "instances": bool(instances),
        "vgg_loss": bool(vgg_loss),
    }


def bicyclegan_depths(image_size):
    """BicycleGAN's size-dependent G and E depths: the U-Net halves down to 1x1 (num_downs log2
    size, the reference's unet_256 = 8), the encoder halves down to its fixed 8x8 pool (n_blocks
    log2(size / 8), resnet_256 = 5)."""
    log2 = int(image_size).bit_length() - 1
    return {"num_downs": log2, "n_blocks_e": log2 - 3}


def bicyclegan_d_layers(image_size):
    """BicycleGAN's default D depth: basic_256_multi's 3 layers from 256 px, else 2 (basic_128_multi)."""
    return 3 if image_size >= 256 else 2


#: Largest learning rate the command accepts (GAN references train at 1e-4 to 2e-4).
MAX_LR = 1.0
#: Split folders a dataset loader reads (directly, no subfolders): --out must not be one of them.
SPLIT_FOLDERS = ("train", "test", "val", "trainA", "trainB", "testA", "testB", "valA", "valB")


def default_load_size(image_size):
    """The references' resize before the random crop: image size * 286 / 256 (286 for 256)."""
    return int(round(image_size * 286 / 256))


def _at_least(flag, value, low, what):
    if value is None or value < low:
        raise UsageError(f"{flag} {value}: {what}.")


def check_train_options(args):
    """Check the options of ``i2ilab train`` before anything is built; return the arch dict.

    ``args`` holds the parsed options (``model``, ``data``, ``image_size`` (None: the default for
    the data), ``epochs``, ``epochs_decay``, ``batch_size`` (None: the reference's, set here),
    ``ngf``, ``ndf``, ``n_layers_d``, ``lr`` (None: the trainer's), ``load_size``, ``n_train``,
    ``samples``, ``sample_every``, ``save_every``, ``keep``, ``out``; pix2pixhd's ``n_scales_d``,
    ``n_classes`` (None: the data's, :func:`data_classes`), ``no_instance``, ``no_vgg_loss``).
    Raises UsageError with one line naming the flag and the values allowed.
    """
    image_size = args.image_size
    if image_size is None:
        image_size = default_image_size(args.model, args.data)
    n_classes = getattr(args, "n_classes", None)
    if args.model == "pix2pixhd" and n_classes is None:
        n_classes = data_classes(args.data)
    phase = getattr(args, "phase", None)
    if args.model == "ost" and phase is None:
        raise UsageError(
            "--phase: ost trains in two phases; pass --phase autoencoder (the B autoencoder, first), then "
            "--phase ost --from THAT_RUN with --one-shot-index K or --one-shot-image PATH."
        )
    cfg = arch_config(
        args.model,
        image_size,
        args.ngf,
        args.ndf,
        args.n_layers_d,
        n_scales_d=getattr(args, "n_scales_d", None),
        n_classes=n_classes,
        instances=not getattr(args, "no_instance", False),
        vgg_loss=not getattr(args, "no_vgg_loss", False),
        phase=phase,
    )
    check_ost_options(args, cfg)
    _at_least("--epochs", args.epochs, 1, "use 1 or more epochs at the initial learning rate")
    _at_least("--epochs-decay", args.epochs_decay, 0, "use 0 or more epochs of linear decay")
    if args.batch_size is None:
        args.batch_size = 2 if args.model == "distancegan" else 1  # the references' batches
    _at_least("--batch-size", args.batch_size, 1, "use a batch of 1 or more images (the references use 1)")
    if args.model == "distancegan":
        _at_least(
            "--batch-size",
            args.batch_size,
            2,
            "distancegan compares the images of a batch; use 2 or more (its reference uses 2)",
        )
    _at_least("--samples", args.samples, 1, "use 1 or more rows in the sample grids")
    for flag, value in (("--sample-every", args.sample_every), ("--save-every", args.save_every)):
        _at_least(flag, value, 1, "use a number of epochs >= 1")
    _at_least("--keep", args.keep, 1, "keep 1 or more checkpoints (--resume needs one)")
    _at_least("--n-train", args.n_train, 1, "use 1 or more synthetic training images")
    if args.lr is not None and not 0 < args.lr <= MAX_LR:
        raise UsageError(
            f"--lr {args.lr}: use a learning rate > 0 and <= {MAX_LR:g} (the references train at 2e-4, MUNIT 1e-4)."
        )
    if args.load_size is not None and args.load_size < image_size:
        raise UsageError(
            f"--load-size {args.load_size} is smaller than --image-size {image_size}: the random crop needs "
            f"--load-size >= --image-size (default {default_load_size(image_size)}, the references' 286 for 256)."
        )
    if args.data not in ("synthetic",) and not args.data.startswith("tfds:"):
        root = pathlib.Path(args.data).expanduser().resolve()
        out = pathlib.Path(args.out).expanduser().resolve()
        for split in [root, *(root / name for name in SPLIT_FOLDERS)]:
            if out == split or (split != root and split in out.parents):
                raise UsageError(
                    f"--out {args.out} is inside the dataset folder {split} that training reads; "
                    "choose an --out folder outside the dataset."
                )
    return cfg


def _ost_flags(args):
    return {
        "--from": getattr(args, "from_run", None),
        "--one-shot-image": getattr(args, "one_shot_image", None),
        "--one-shot-index": getattr(args, "one_shot_index", None),
    }


def check_ost_options(args, cfg):
    """UsageError naming the flag for OST's options: ``--from`` (the ``--phase autoencoder`` run
    phase ``ost`` starts from, with this run's image size and widths), exactly one of
    ``--one-shot-image`` (a readable image file) and ``--one-shot-index`` (a trainA image of
    ``--data``), none of them elsewhere; ost reads folder or synthetic data, not tfds."""
    flags = _ost_flags(args)
    given = [flag for flag, value in flags.items() if value is not None]
    if cfg["model"] == "ost" and args.data.startswith("tfds:"):
        raise UsageError(f"--data {args.data}: ost reads a folder dataset (trainA/ trainB/) or --data synthetic.")
    if cfg["model"] != "ost" or cfg["phase"] == "autoencoder":
        if given:
            where = "phase autoencoder trains on domain B alone" if cfg["model"] == "ost" else f"not for {args.model}"
            raise UsageError(f"{', '.join(given)}: options of ost --phase ost ({where}); drop them.")
        return
    if flags["--from"] is None:
        raise UsageError(
            "--from: ost --phase ost starts from a --phase autoencoder run; pass --from ITS_OUT_FOLDER "
            "(train it first: i2ilab train ost --phase autoencoder --data ... --out RUN1)."
        )
    _check_phase_1(flags["--from"], cfg)
    image, index = flags["--one-shot-image"], flags["--one-shot-index"]
    if (image is None) == (index is None):
        raise UsageError(
            "--one-shot-image / --one-shot-index: pass exactly one, the one A image as a file or the index K "
            "of a trainA image of --data (sorted by name; the reference uses 0)."
        )
    if image is not None:
        from PIL import Image

        try:
            with Image.open(pathlib.Path(image).expanduser()) as img:
                img.load()
        except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, ... for bad files
            raise UsageError(
                f"--one-shot-image {image}: cannot read it as an image ({type(err).__name__}: {err}); "
                "pass an image file (png, jpg, ...)."
            ) from None
        return
    count = getattr(args, "n_train", 0) if args.data == "synthetic" else _train_a_count(args.data)
    if not 0 <= index < count:
        raise UsageError(
            f"--one-shot-index {index}: --data {args.data} has {count} trainA images; use 0 to {count - 1}."
        )


def _train_a_count(spec):
    from i2ilab.data.files import DataError, list_images

    try:
        return len(list_images(pathlib.Path(spec).expanduser() / "trainA", what="--data: the folder"))
    except DataError as err:
        raise UsageError(f"--one-shot-index needs the trainA/ images of --data: {err}") from None


def _check_phase_1(run, cfg):
    """UsageError naming ``--from`` unless ``run`` is an ost --phase autoencoder run folder (finished
    or with a checkpoint) whose networks fit ``cfg``."""
    from i2ilab import runs

    folder = pathlib.Path(run).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"--from {run}: no such folder; pass the --out folder of an `i2ilab train ost --phase autoencoder` run."
        )
    config = runs.read_config(folder) or (runs.find_latest(runs.checkpoint_folder(folder)) or {}).get("config")
    if not config:
        raise UsageError(
            f"--from {run}: no config.json and no checkpoint; train phase 1 there first "
            "(i2ilab train ost --phase autoencoder ...) or pass its --out folder."
        )
    if config.get("model") != "ost" or config.get("phase") != "autoencoder":
        what = f"an ost --phase {config.get('phase')}" if config.get("model") == "ost" else f"a {config.get('model')}"
        raise UsageError(f"--from {run}: {what} run, not an ost --phase autoencoder run; pass the phase-1 run folder.")
    for key, flag in (("image_size", "--image-size"), ("ngf", "--ngf")):
        if config.get(key) != cfg[key]:
            raise UsageError(
                f"--from {run} was trained with {flag} {config.get(key)}, this run has {cfg[key]}; pass "
                f"{flag} {config.get(key)} (phase ost continues its networks)."
            )


def ost_data_options(args):
    """The loader options of OST's data (:func:`training_data`'s ``phase`` and ``one_shot``)."""
    image, index = getattr(args, "one_shot_image", None), getattr(args, "one_shot_index", None)
    return {"phase": getattr(args, "phase", None), "one_shot": index if image is None else image}


def start_from_phase_1(trainer, cfg, run):
    """Phase ``ost`` at its first epoch: copy Enc_b, Enc_shared, Dec_shared and Dec_b
    (:data:`OST_FROM_PHASE_1`) of the phase-1 run folder ``run`` into ``trainer`` (D_b stays
    fresh, as the reference). Other models and phases: nothing."""
    if cfg["model"] != "ost" or cfg["phase"] != "ost":
        return
    from i2ilab import inference

    nets, _ = inference.load_networks(pathlib.Path(run).expanduser(), OST_FROM_PHASE_1)
    for name in OST_FROM_PHASE_1:
        trainer.networks[name].set_weights(nets[name].get_weights())
    print(f"i2ilab: ost: {', '.join(OST_FROM_PHASE_1)} start from {run}; enc_a, dec_a and d_b are new", flush=True)


def data_classes(spec):
    """pix2pixHD's label count for ``--data spec`` without ``--n-classes``: the synthetic streets'
    classes, a dataset folder's ``meta.json`` (written by :func:`i2ilab.data.write_synthetic`)
    classes, else :data:`DEFAULT_N_CLASSES` (Cityscapes)."""
    import json

    if spec == "synthetic":
        from i2ilab.data.synthetic import STREET_CLASSES

        return len(STREET_CLASSES)
    meta = pathlib.Path(spec).expanduser() / "meta.json"
    try:
        return len(json.loads(meta.read_text())["classes"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_N_CLASSES


def run_options(args, cfg):
    """The options of ``i2ilab train`` besides the architecture that an exact resume needs
    unchanged (:data:`i2ilab.runs.RUN_OPTIONS`), with the defaults filled in."""
    options = {
        "data": args.data,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "load_size": args.load_size or default_load_size(cfg["image_size"]),
        "direction": args.direction,
    }
    if args.data == "synthetic":
        options["n_train"] = args.n_train
    if cfg["model"] == "ost" and cfg["phase"] == "ost":
        image, index = args.one_shot_image, args.one_shot_index
        options.update(
            {
                "from": str(pathlib.Path(args.from_run).expanduser().resolve()),
                "one_shot_image": None if image is None else str(pathlib.Path(image).expanduser().resolve()),
                "one_shot_index": index,
            }
        )
    return options


# ------------------------------------------------------------------------------------ networks
def _colorize_nets(b, s, ngf, ndf, cfg):
    return {"generator": b("unet", s, in_channels=1, out_channels=2, ngf=ngf, name="generator")}


def _pix2pix_nets(b, s, ngf, ndf, cfg):
    return {
        "generator": b("unet", s, ngf=ngf, name="generator"),
        "discriminator": b("patchgan", s, in_channels=6, ndf=ndf, n_layers=cfg["n_layers_d"], name="discriminator"),
    }


def _cyclegan_nets(b, s, ngf, ndf, cfg):
    return {
        **{g: b("resnet", s, ngf=ngf, n_blocks=cfg["n_blocks"], name=g) for g in ("g_ab", "g_ba")},
        **{
            d: b("patchgan", s, in_channels=3, ndf=ndf, n_layers=cfg["n_layers_d"], norm="instance", name=d)
            for d in ("d_a", "d_b")
        },
    }


def _munit_nets(b, s, ngf, ndf, cfg):
    munit = {"n_res": cfg.get("n_res", 4), "mlp_dim": cfg.get("mlp_dim", 256)}
    return {
        **{g: b("munit", s, dim=ngf, **munit, name=g) for g in ("gen_a", "gen_b")},
        **{d: b("munit_dis", s, dim=ndf, num_scales=cfg["num_scales"], name=d) for d in ("dis_a", "dis_b")},
    }


def _bicyclegan_nets(b, s, ngf, ndf, cfg):
    return {
        "generator": b("bicycle_unet", s, ngf=ngf, num_downs=cfg["num_downs"], name="generator"),
        "encoder": b("bicycle_encoder", s, ndf=ndf, n_blocks=cfg["n_blocks_e"], name="encoder"),
        **{
            d: b("bicycle_d", s, ndf=ndf, n_layers=cfg["n_layers_d"], name=d)
            for d in ("discriminator", "discriminator2")
        },
    }


def _unit_nets(b, s, ngf, ndf, cfg):
    return {
        **{g: b("unit", s, dim=ngf, n_res=cfg.get("n_res", 4), name=g) for g in ("gen_a", "gen_b")},
        **{d: b("unit_dis", s, dim=ndf, num_scales=cfg["num_scales"], name=d) for d in ("dis_a", "dis_b")},
    }


def _cut_nets(b, s, ngf, ndf, cfg):
    return {
        "generator": b("cut", s, ngf=ngf, n_blocks=cfg["n_blocks"], name="generator"),
        "discriminator": b("cut_dis", s, ndf=ndf, n_layers=cfg["n_layers_d"], name="discriminator"),
    }


def _discogan_nets(b, s, ngf, ndf, cfg):
    return {
        **{g: b("discogan", s, ngf=ngf, name=g) for g in ("g_ab", "g_ba")},
        **{d: b("discogan_dis", s, ndf=ndf, name=d) for d in ("d_a", "d_b")},
    }


def _dualgan_nets(b, s, ngf, ndf, cfg):
    return {
        **{g: b("dualgan", s, gcn=ngf, num_downs=cfg["num_downs"], name=g) for g in ("g_ab", "g_ba")},
        **{d: b("dualgan_globalgan", s, dcn=ndf, name=d) for d in ("d_a", "d_b")},
    }


def _pix2pixhd_nets(b, s, ngf, ndf, cfg):
    g_in = cfg["n_classes"] + (1 if cfg["instances"] else 0)  # one-hot labels [+ instance edges]
    return {
        "generator": b(
            "pix2pixhd_global",
            s,
            in_channels=g_in,
            ngf=ngf,
            n_downsampling=cfg["n_downsampling"],
            n_blocks=cfg["n_blocks"],
            name="generator",
        ),
        "discriminator": b(
            "pix2pixhd_dis",
            s,
            in_channels=g_in + 3,
            ndf=ndf,
            n_layers=cfg["n_layers_d"],
            num_D=cfg["num_scales"],
            name="discriminator",
        ),
    }


def _distancegan_nets(b, s, ngf, ndf, cfg):
    return {
        **{g: b("distancegan", s, ngf=ngf, n_blocks=cfg["n_blocks"], name=g) for g in ("g_ab", "g_ba")},
        **{d: b("distancegan_basic", s, ndf=ndf, n_layers=cfg["n_layers_d"], name=d) for d in ("d_a", "d_b")},
    }


def _ost_nets(b, s, ngf, ndf, cfg):
    """OST's networks (:mod:`i2ilab.models.ost`); phase ``autoencoder`` without Enc_a / Dec_a."""
    down = cfg.get("n_downsampling", 2)
    code, width = s // 2**down, ngf * 2**down
    sides = ("a", "b") if cfg.get("phase", "ost") == "ost" else ("b",)
    nets = {f"enc_{d}": b("ost_enc", s, ngf=ngf, n_downsampling=down, name=f"enc_{d}") for d in sides}
    for part in ("enc_shared", "dec_shared"):
        nets[part] = b("ost_shared", code, channels=width, n_blocks=cfg.get("n_blocks", 6), name=part)
    nets.update({f"dec_{d}": b("ost_dec", code, ngf=ngf, n_downsampling=down, name=f"dec_{d}") for d in sides})
    nets["d_b"] = b("patchgan", s, in_channels=3, ndf=ndf, n_layers=cfg["n_layers_d"], norm="instance", name="d_b")
    return nets


#: model -> ``f(build_model, image_size, ngf, ndf, cfg) -> {name: keras.Model}``.
NETWORK_BUILDERS = {
    "colorize": _colorize_nets,
    "pix2pix": _pix2pix_nets,
    "cyclegan": _cyclegan_nets,
    "munit": _munit_nets,
    "bicyclegan": _bicyclegan_nets,
    "pix2pixhd": _pix2pixhd_nets,
    "unit": _unit_nets,
    "cut": _cut_nets,
    "fastcut": _cut_nets,
    "discogan": _discogan_nets,
    "dualgan": _dualgan_nets,
    "distancegan": _distancegan_nets,
    "ost": _ost_nets,
}


def build_networks(cfg):
    """Fresh networks for an :func:`arch_config` dict, keyed as the trainer's ``networks``.

    Optional keys (the benchmarks' small variants): ``n_blocks`` (CycleGAN), ``n_res`` and
    ``mlp_dim`` (MUNIT; reference 4 and 256; UNIT's ``n_res`` also 4). CUT's patch sampler F
    is not among them: its trainer creates it from the generator's NCE layers.
    """
    from i2ilab.models.registry import build_model

    builder = NETWORK_BUILDERS[cfg["model"]]
    return builder(build_model, cfg["image_size"], cfg["ngf"], cfg["ndf"], cfg)


def summary_networks(cfg):
    """The networks ``i2ilab summary`` lists: :func:`build_networks` and those the model's
    trainer creates itself (:data:`TRAINER_NETWORKS`, e.g. CUT's patch sampler F)."""
    nets = build_networks(cfg)
    extra = TRAINER_NETWORKS.get(cfg["model"], ())
    if extra:
        trainer = make_trainer(cfg["model"], nets, cfg=cfg)
        nets.update({name: trainer.networks[name] for name in extra})
    return nets


def _distancegan(training, nets, seed, cfg):
    stats = [(cfg or {}).get(key) for key in ("stats_a", "stats_b")]
    if None in stats:
        if nets["d_b"] is not None:
            raise ValueError(
                "make_trainer('distancegan'): pass cfg with stats_a and stats_b (recipes.data_statistics) to train it."
            )
        stats = [(0.0, 1.0), (0.0, 1.0)]  # translation only: the distance term is never evaluated
    shape = None if nets["d_b"] is None else tuple(nets["g_ab"].input_shape[1:])
    return training.DistanceGAN(
        nets["g_ab"], nets["d_b"], *stats, g_ba=nets["g_ba"], d_a=nets["d_a"], image_shape=shape, seed=seed
    )


def _ost(training, nets, seed, cfg):
    """OneShot in the phase of its networks (Enc_a present: ``"ost"``, else ``"autoencoder"``)."""
    phase = "ost" if nets.get("enc_a") is not None else "autoencoder"
    b_nets = {k: nets[k] for k in ("enc_b", "enc_shared", "dec_shared", "dec_b", "d_b")}
    a_nets = {k: nets[k] for k in ("enc_a", "dec_a")} if phase == "ost" else {}
    shape = None if nets["d_b"] is None else tuple(nets["enc_b"].input_shape[1:])
    return training.OneShot(**b_nets, **a_nets, phase=phase, image_shape=shape, seed=seed)


def _vgg_features(weights):
    """pix2pixHD's VGG19 feature model; UsageError naming ``--no-vgg-loss`` when the ImageNet
    weights cannot be had (offline first use, a damaged download)."""
    from i2ilab import losses

    try:
        return losses.vgg19_features(weights)
    except Exception as err:  # keras' get_file raises a bare Exception; h5py OSError for a bad file
        detail = " ".join(str(err).split())
        raise UsageError(
            f"pix2pixhd's VGG loss needs the ImageNet VGG19 weights, which could not be loaded ({detail}); "
            "they are downloaded once into ~/.keras/models: connect to the internet, or train without the "
            "VGG loss (--no-vgg-loss)."
        ) from None


def _pix2pixhd(training, nets, seed, cfg):
    """Pix2PixHD with the VGG loss unless ``cfg["vgg_loss"]`` is False or there is no D
    (translation only); ``cfg["vgg_weights"]``: "imagenet" (default) or None (random weights,
    for a trainer whose checkpoint restores the saved ones: nothing is downloaded)."""
    cfg = cfg or {}
    vgg = None
    if nets["discriminator"] is not None and cfg.get("vgg_loss", True):
        vgg = _vgg_features(cfg.get("vgg_weights", "imagenet"))
    return training.Pix2PixHD(nets["generator"], nets["discriminator"], vgg=vgg)


#: model -> ``f(i2ilab.training, networks, seed, cfg) -> trainer`` with the reference settings.
TRAINER_BUILDERS = {
    "colorize": lambda t, n, seed, cfg: t.Colorizer(n["generator"]),
    "pix2pix": lambda t, n, seed, cfg: t.Pix2Pix(n["generator"], n["discriminator"], seed=seed),
    "cyclegan": lambda t, n, seed, cfg: t.CycleGAN(n["g_ab"], n["g_ba"], n["d_a"], n["d_b"], seed=seed),
    "munit": lambda t, n, seed, cfg: t.MUNIT(n["gen_a"], n["gen_b"], n["dis_a"], n["dis_b"], seed=seed),
    "bicyclegan": lambda t, n, seed, cfg: t.BicycleGAN(
        n["generator"], n["encoder"], n["discriminator"], n["discriminator2"], seed=seed
    ),
    "pix2pixhd": _pix2pixhd,
    "unit": lambda t, n, seed, cfg: t.UNIT(n["gen_a"], n["gen_b"], n["dis_a"], n["dis_b"], seed=seed),
    "cut": lambda t, n, seed, cfg: t.CUT(n["generator"], n["discriminator"], cut_mode="CUT", seed=seed),
    "fastcut": lambda t, n, seed, cfg: t.CUT(n["generator"], n["discriminator"], cut_mode="FastCUT", seed=seed),
    "discogan": lambda t, n, seed, cfg: t.DiscoGAN(n["g_ab"], n["g_ba"], n["d_a"], n["d_b"]),
    "dualgan": lambda t, n, seed, cfg: t.DualGAN(n["g_ab"], n["g_ba"], n["d_a"], n["d_b"], seed=seed),
    "distancegan": _distancegan,
    "ost": _ost,
}


def make_trainer(model, networks, seed=None, cfg=None):
    """The (uncompiled) trainer of ``model`` around ``networks`` (a :func:`build_networks` dict),
    with the reference loss settings. Without its discriminators (None) it can only translate.

    cfg: the :func:`arch_config` dict, for what the trainer needs besides networks (DistanceGAN's
    ``stats_a``, ``stats_b``: :func:`data_statistics`; only a translating one goes without).
    """
    from i2ilab import training

    return TRAINER_BUILDERS[model](training, networks, seed, cfg)


def build_trainer(cfg, seed=0, lr=None, pretrained=True):
    """A compiled trainer with fresh networks for an :func:`arch_config` dict.

    pretrained: False gives fixed pretrained parts (pix2pixHD's VGG) random weights, for a
    trainer a checkpoint is loaded into (it restores the saved ones; nothing is downloaded).

    lr: the learning rate of both optimizers; None keeps the trainer's default (2e-4, MUNIT and
    UNIT 1e-4, DualGAN 5e-5). The optimizers stay the trainer's own (Adam; DualGAN's TF1RMSprop;
    UNIT's and DiscoGAN's weight decay is in their step): only their rate is set.
    """
    options = cfg if pretrained else {**cfg, "vgg_weights": None}
    trainer = make_trainer(cfg["model"], build_networks(cfg), seed=seed, cfg=options)
    trainer.compile()
    if lr is not None:
        for opt in (trainer.g_optimizer, trainer.d_optimizer):
            if opt is not None:
                opt.learning_rate = float(lr)
    return trainer


#: Training images per domain DistanceGAN's distance statistics are estimated from.
STATS_IMAGES = 400


def data_statistics(cfg, spec, saved=None, **options):
    """``cfg`` with the statistics of the training data its trainer needs: DistanceGAN's
    ``stats_a``, ``stats_b`` (``[mu, sigma]`` of :func:`i2ilab.training.distancegan.distance_statistics`
    with ``group=2``, the reference's batches of 2, on up to :data:`STATS_IMAGES` training images
    per domain in file order, resized without jitter, in [-1, 1]); other models' ``cfg`` unchanged.

    saved: the config of a checkpoint being resumed; its statistics are kept, so the resumed
    trainer is the one that was saved. options: :func:`training_data`'s ``load_size``,
    ``n_train``, ``data_dir``, ``skip_bad``.
    """
    if cfg["model"] != "distancegan":
        return cfg
    if saved and saved.get("stats_a") is not None and saved.get("stats_b") is not None:
        return {**cfg, "stats_a": list(saved["stats_a"]), "stats_b": list(saved["stats_b"])}
    import numpy as np

    from i2ilab.training.distancegan import MIN_ITEMS, distance_statistics

    load, _ = _data_source(cfg["model"], spec, cfg["image_size"], **options)
    images = ([], [])
    for a, b in load("train", batch_size=2, shuffle=False, jitter=False, cache=False, seed=0):
        images[0].append(np.asarray(a))
        images[1].append(np.asarray(b))
        if 2 * len(images[0]) >= STATS_IMAGES:
            break
    stats = {}
    for key, batches in zip(("stats_a", "stats_b"), images, strict=True):
        x = np.concatenate(batches) if batches else np.zeros((0, 1), "float32")
        if len(x) < 2 * MIN_ITEMS:  # items of 2 images, the reference's batches
            raise UsageError(
                f"--data {spec}: distancegan needs at least {2 * MIN_ITEMS} training images per domain for its "
                f"distance statistics, found {len(x)}; use more images (--n-train for synthetic data)."
            )
        chunk = max(1, 2**26 // (len(x) * x[0].size))  # rows of the distance matrix: ~256 MB at once
        try:
            stats[key] = list(distance_statistics(x, max_items=STATS_IMAGES // 2, group=2, chunk=chunk))
        except ValueError as e:
            raise UsageError(f"--data {spec}: {key[-1].upper()} images: {e}") from None
    return {**cfg, **stats}


# ---------------------------------------------------------------------------------------- data
def dataset_loader(model):
    """The :mod:`i2ilab.data` loader of ``model``'s folder datasets (``f(root, split=..., ...)``)."""
    from i2ilab import data

    if model in PAIRED:
        return data.paired_dataset
    if model == "colorize":
        return data.colorization_dataset
    if model == "pix2pixhd":
        return data.label_instance_dataset
    if model == "ost":
        from i2ilab.data.oneshot import oneshot_dataset

        return oneshot_dataset
    return data.unpaired_dataset


def _data_source(
    model,
    spec,
    image_size,
    load_size=None,
    direction="AtoB",
    n_train=512,
    data_dir=None,
    skip_bad=False,
    n_classes=None,
    instances=True,
    phase=None,
    one_shot=None,
):
    """``(load, description)`` of ``model``'s data ``spec`` (:func:`training_data`), with
    ``load(split, **loader options)`` the dataset of one split."""
    from i2ilab import data

    load_size = load_size or default_load_size(image_size)
    common = dict(image_size=image_size, load_size=load_size)
    if model == "ost":
        common.update(phase=phase or "ost", one_shot=one_shot)
    if model == "pix2pixhd":
        common.update(n_classes=n_classes or data_classes(spec), instances=instances)
    if model in PAIRED:
        common["direction"] = direction
    elif direction != "AtoB":
        raise UsageError(f"--direction applies to paired data ({', '.join(PAIRED)}) only, not to {model}.")
    if spec.startswith("tfds:"):
        if model not in UNPAIRED:
            raise UsageError(
                f"--data {spec}: tensorflow-datasets sets are unpaired (CycleGAN format); "
                f"{model} needs a folder dataset or --data synthetic."
            )

        def load_tfds(split, **kw):
            return data.tfds_unpaired(spec[5:], split=split, data_dir=data_dir, **common, **kw)

        return load_tfds, spec
    if spec == "synthetic":
        root = data.synthetic_root(SYNTHETIC[model], image_size=image_size, n_train=n_train, seed=0)
        desc = f"synthetic {SYNTHETIC[model]} ({root})"
    else:
        root = pathlib.Path(spec).expanduser()
        if not root.is_dir():
            raise UsageError(
                f"--data {spec}: no such folder. Pass --data synthetic, a dataset folder "
                "(pix2pix, bicyclegan: train/ and test/ with A|B images side by side; pix2pixhd: "
                "train_label/ train_inst/ train_img/ test_label/ ...; unpaired models: "
                "trainA/ trainB/ testA/ testB/; colorize: train/ test/ of RGB images), or "
                "tfds:NAME (e.g. tfds:cycle_gan/horse2zebra)."
            )
        desc = str(root)

    def load(split, **kw):
        return dataset_loader(model)(root, split=split, skip_bad=skip_bad, **common, **kw)

    load.root = root
    return load, desc


def training_data(
    model,
    spec,
    image_size,
    batch_size,
    samples,
    seed=0,
    load_size=None,
    direction="AtoB",
    n_train=512,
    data_dir=None,
    skip_bad=False,
    n_classes=None,
    instances=True,
    phase=None,
    one_shot=None,
):
    """``(training dataset, sample batch (x, y), description)`` of ``model`` on ``spec``.

    spec: ``"synthetic"`` (the model's built-in set, ``n_train`` images), a dataset folder, or
    ``"tfds:NAME"`` (unpaired sets, :data:`UNPAIRED` models; ``data_dir`` their
    tensorflow-datasets folder). The training
    set is shuffled with ``seed`` and has full batches of ``batch_size`` only (a static batch
    for the compiled step, no 1-image tail skewing BatchNorm); the sample batch holds
    ``samples`` fixed images of the test split (else val, else train) for the sample grids.
    load_size: resize before the random crop (default ``image_size * 286 / 256``). skip_bad:
    folder datasets drop unusable image files with a warning counting them, instead of an error.
    n_classes, instances: pix2pixhd's label ids and whether it reads instance maps (its ``x``
    is then ``(one-hot labels, instance ids)``). phase, one_shot: OST's
    (:func:`i2ilab.data.oneshot.oneshot_dataset`; its sample rows of phase ``ost`` are the one A
    image, then test A images).
    """
    from i2ilab import data

    load, desc = _data_source(
        model,
        spec,
        image_size,
        load_size,
        direction,
        n_train,
        data_dir,
        skip_bad,
        n_classes,
        instances,
        phase,
        one_shot,
    )
    try:
        train = load("train", batch_size=batch_size, shuffle=True, seed=seed, drop_remainder=True)
    except data.DataError as err:
        raise UsageError(f"--data {spec}: {err}") from err
    if int(train.cardinality()) == 0:
        raise UsageError(
            f"--data {spec}: the training split has fewer images than --batch-size {batch_size}; lower the batch size."
        )
    sample = None
    for split in ("test", "val", "train"):
        try:
            ds = load(split, batch_size=samples, shuffle=False, jitter=False, cache=False)
            sample = next(iter(ds))
            break
        except (data.DataError, StopIteration):
            continue
    if sample is None:
        raise UsageError(f"--data {spec}: found no images for the sample grids.")
    if model == "ost" and (phase or "ost") == "ost":
        from i2ilab.data.oneshot import with_one_shot_first

        sample = with_one_shot_first(sample, load.root, one_shot, image_size, split)
    return train, sample, desc
