"""The ``i2ilab`` command line: train, translate your own images, sample MUNIT styles, summaries.

::

    i2ilab train pix2pix --data synthetic --image-size 32 --epochs 10 --out runs/p2p
    i2ilab train pix2pix --data synthetic ... --out runs/p2p --resume      # continue
    i2ilab train cyclegan --data DATA --devices all --batch-size 8 --out runs/cg  # data-parallel
    i2ilab translate --checkpoint runs/p2p --input my_images/ --out translated/
    i2ilab sample --checkpoint runs/munit --input photo.png --out styles/ --n-styles 6
    i2ilab summary cyclegan --image-size 256
    i2ilab convert --from-pytorch latest_net_G.pth --model unet_256 --out facades.keras

``train`` writes into ``--out``: ``checkpoints/`` (complete training state every
``--save-every`` epochs, ``latest.json``), ``samples/epoch_NNNN.png`` (input | output | target
grids on fixed test examples) and ``samples.png`` (the last one), ``log.csv`` (per-epoch losses
and learning rate), ``losses.png``, and after the last epoch the networks as ``<name>.keras``
with ``config.json``. The backend is Keras' (``KERAS_BACKEND=jax i2ilab ...``). ``--resume``
continues exactly: weights, optimizer states, RNG states, image pools, the epoch count, the LR
schedule and the data order all equal those of an unbroken run.

``translate`` and ``sample`` run the generators in inference mode (BatchNorm moving averages,
dropout off), so their outputs are deterministic and equal ``trainer.translate(x)`` of the
trained model. (pix2pix's paper protocol keeps dropout and batch statistics at test time:
``Pix2Pix.translate(x, training=True)`` in Python.) Fixed-size networks get inputs resized to
their training size; ``--full-size`` runs them fully convolutionally near each image's own size.

``--devices N`` (or ``all``) trains data-parallel with Keras' own engine
(i2ilab.training.distribute: MirroredStrategy on TensorFlow, keras.distribution.DataParallel
on JAX): ``--batch-size`` is the global batch, split equally over the devices, BatchNorm uses
the global batch's statistics, and the image pool is one pool fed by the global batch. A resume
on the same device count is exact; on another count it continues from the same state (weights,
optimizers, pools, RNG, epoch, data order), equal to an unbroken run up to float rounding (the
reductions are summed in another order; on TensorFlow dropout masks are drawn per replica).

Exit status: 0 done, 1 training stopped on a NaN/inf loss, 2 a usage or data error (with a
message saying what to change), 130 interrupted (the last checkpoint is kept; use --resume).
"""

import argparse
import json
import math
import pathlib
import shutil
import sys

import numpy as np

MODELS = ("colorize", "pix2pix", "cyclegan", "munit")
#: Built-in synthetic dataset of each model (i2ilab.data.synthetic).
SYNTHETIC = {"colorize": "colors", "pix2pix": "labels2photo", "cyclegan": "day2night", "munit": "styles"}
#: Generator used by ``translate`` per model and direction.
TRANSLATORS = {
    "colorize": {"AtoB": "generator"},
    "pix2pix": {"AtoB": "generator"},
    "cyclegan": {"AtoB": "g_ab", "BtoA": "g_ba"},
}
#: Keys of config.json / the checkpoint config that must match to resume or load a checkpoint.
ARCH_KEYS = ("model", "image_size", "ngf", "ndf", "n_layers_d", "num_scales", "n_blocks")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_SYNTHETIC_SIZE = 32
DEFAULT_SIZE = 256


class CLIError(Exception):
    """A user error: printed as ``i2ilab: error: <message>``, exit status 2."""


# ------------------------------------------------------------------------------------ networks
def _max_patch_layers(image_size):
    """Largest PatchGAN n_layers whose logit map is at least 1x1: size / 2**n - 2 >= 1."""
    return max(0, int(math.floor(math.log2(image_size / 3))))


def arch_config(model, image_size, ngf=64, ndf=64, n_layers_d=None):
    """The architecture options of ``model`` at ``image_size``, with size-dependent defaults.

    PatchGAN depth: the reference's 3 (70x70) where the image allows it, else the deepest that
    still gives a 1x1 logit map (2 at 16x16). ResNet generator: 9 blocks from 256 px, else 6
    (the reference's 128x128 setting). MUNIT discriminator: up to 3 scales, fewer below 64 px so
    the coarsest scale keeps a logit map.
    """
    if model not in MODELS:
        raise CLIError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    if image_size < 16 or image_size % 4:
        raise CLIError(f"--image-size {image_size}: use a multiple of 4, at least 16.")
    cfg = {"model": model, "image_size": int(image_size), "ngf": int(ngf), "ndf": int(ndf)}
    if model in ("pix2pix", "cyclegan"):
        deepest = _max_patch_layers(image_size)
        n = min(3, deepest) if n_layers_d is None else int(n_layers_d)
        if n > deepest:
            raise CLIError(
                f"--n-layers-d {n} is too deep for {image_size}x{image_size} images (the logit "
                f"map would vanish); use at most {deepest}."
            )
        cfg["n_layers_d"] = n
    if model == "cyclegan":
        cfg["n_blocks"] = 9 if image_size >= 256 else 6
    if model == "munit":
        cfg["num_scales"] = max(1, min(3, int(math.log2(image_size)) - 3))
    return cfg


def build_networks(cfg):
    """Fresh networks for an ``arch_config`` dict, keyed as the trainer's ``networks``."""
    from i2ilab import models

    s, ngf, ndf = cfg["image_size"], cfg["ngf"], cfg["ndf"]
    model = cfg["model"]
    if model == "colorize":
        return {"generator": models.unet_generator(s, 1, 2, ngf, name="generator")}
    if model == "pix2pix":
        return {
            "generator": models.unet_generator(s, 3, 3, ngf, name="generator"),
            "discriminator": models.patch_discriminator(
                s, 6, ndf, cfg["n_layers_d"], name="discriminator"
            ),
        }
    if model == "cyclegan":
        nets = {}
        for g in ("g_ab", "g_ba"):
            nets[g] = models.resnet_generator(s, ngf=ngf, n_blocks=cfg["n_blocks"], name=g)
        for d in ("d_a", "d_b"):
            nets[d] = models.patch_discriminator(
                s, 3, ndf, cfg["n_layers_d"], norm="instance", name=d
            )
        return nets
    nets = {g: models.munit_generator(s, dim=ngf, name=g) for g in ("gen_a", "gen_b")}
    for d in ("dis_a", "dis_b"):
        nets[d] = models.multiscale_discriminator(s, dim=ndf, num_scales=cfg["num_scales"], name=d)
    return nets


def build_trainer(cfg, seed=0, lr=None):
    """A compiled trainer for an ``arch_config`` dict (reference loss settings)."""
    from i2ilab import training

    nets = build_networks(cfg)
    model = cfg["model"]
    if model == "colorize":
        trainer = training.Colorizer(nets["generator"])
    elif model == "pix2pix":
        trainer = training.Pix2Pix(nets["generator"], nets["discriminator"], seed=seed)
    elif model == "cyclegan":
        trainer = training.CycleGAN(nets["g_ab"], nets["g_ba"], nets["d_a"], nets["d_b"], seed=seed)
    else:
        trainer = training.MUNIT(nets["gen_a"], nets["gen_b"], nets["dis_a"], nets["dis_b"], seed=seed)
    if lr is None:
        trainer.compile()
    else:
        d_opt = None if model == "colorize" else training.default_adam(lr)
        trainer.compile(g_optimizer=training.default_adam(lr), d_optimizer=d_opt)
    return trainer


# ---------------------------------------------------------------------------------------- data
def _loader(model):
    from i2ilab import data

    if model == "pix2pix":
        return data.paired_dataset
    if model == "colorize":
        return data.colorization_dataset
    return data.unpaired_dataset


def make_data(args, image_size):
    """(training dataset, sample batch (x, y), description) for the train command."""
    from i2ilab import data

    model = args.model
    load_size = args.load_size or int(round(image_size * 286 / 256))
    common = dict(image_size=image_size, load_size=load_size)
    if model == "pix2pix":
        common["direction"] = args.direction
    elif args.direction != "AtoB":
        raise CLIError(f"--direction applies to pix2pix's paired data only, not to {model}.")
    spec = args.data
    if spec.startswith("tfds:"):
        if model not in ("cyclegan", "munit"):
            raise CLIError(
                f"--data {spec}: tensorflow-datasets sets are unpaired (CycleGAN format); "
                f"{model} needs a folder dataset or --data synthetic."
            )

        def load(split, **kw):
            return data.tfds_unpaired(spec[5:], split=split, data_dir=args.data_dir, **common, **kw)

        desc = spec
    else:
        if spec == "synthetic":
            root = data.synthetic_root(
                SYNTHETIC[model], image_size=image_size, n_train=args.n_train, seed=0
            )
            desc = f"synthetic {SYNTHETIC[model]} ({root})"
        else:
            root = pathlib.Path(spec).expanduser()
            if not root.is_dir():
                raise CLIError(
                    f"--data {spec}: no such folder. Pass --data synthetic, a dataset folder "
                    "(pix2pix: train/ and test/ with A|B images side by side; CycleGAN/MUNIT: "
                    "trainA/ trainB/ testA/ testB/; colorize: train/ test/ of RGB images), or "
                    "tfds:NAME (e.g. tfds:cycle_gan/horse2zebra)."
                )
            desc = str(root)

        def load(split, **kw):
            return _loader(model)(root, split=split, **common, **kw)

    try:
        # Full batches only: a static batch size for the compiled step, and no 1-image tail
        # batch skewing BatchNorm statistics at the end of each epoch.
        train = load("train", batch_size=args.batch_size, shuffle=True, seed=args.seed,
                     drop_remainder=True)
    except data.DataError as err:
        raise CLIError(f"--data {spec}: {err}") from err
    if int(train.cardinality()) == 0:
        raise CLIError(
            f"--data {spec}: the training split has fewer images than --batch-size "
            f"{args.batch_size}; lower the batch size."
        )
    sample = None
    for split in ("test", "val", "train"):
        try:
            ds = load(split, batch_size=args.samples, shuffle=False, jitter=False, cache=False)
            sample = next(iter(ds))
            break
        except (data.DataError, StopIteration):
            continue
    if sample is None:
        raise CLIError(f"--data {spec}: found no images for the sample grids.")
    return train, sample, desc


# --------------------------------------------------------------------------------------- train
def _export(trainer, out, cfg, extra):
    """Save every network as out/<name>.keras and describe them in out/config.json."""
    import keras

    import i2ilab

    files = {}
    for name, net in trainer.networks.items():
        path = out / f"{name}.keras"
        net.save(path)
        files[name] = path.name
    config = {
        **cfg,
        "networks": files,
        "translators": TRANSLATORS.get(cfg["model"], {}),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "i2ilab_version": i2ilab.__version__,
        **extra,
    }
    (out / "config.json").write_text(json.dumps(config, indent=1))
    return config


def parse_devices(spec):
    """``--devices`` value: a positive int or ``all``."""
    if str(spec).lower() == "all":
        return "all"
    try:
        count = int(spec)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{spec!r}: use a number of devices >= 1, or 'all'")
    return count


def _data_parallel(args):
    """The training.distribute scope of ``--devices``, after checking ``--batch-size``."""
    from i2ilab import training

    try:
        dist = training.distribute(args.devices)
    except ValueError as err:
        raise CLIError(f"--devices {args.devices}: {err}") from err
    try:
        dist.check_batch_size(args.batch_size, "--batch-size")
    except ValueError as err:
        raise CLIError(f"--devices {args.devices}: {err}") from err
    return dist


def run_train(args):
    """Train as ``i2ilab train`` does; returns (trainer, exit status)."""
    import keras

    from i2ilab import callbacks as cb

    image_size = args.image_size or (
        DEFAULT_SYNTHETIC_SIZE if args.data == "synthetic" else DEFAULT_SIZE
    )
    cfg = arch_config(args.model, image_size, args.ngf, args.ndf, args.n_layers_d)
    if args.epochs < 1 or args.epochs_decay < 0:
        raise CLIError(f"--epochs {args.epochs} must be >= 1 and --epochs-decay >= 0.")
    out = pathlib.Path(args.out)
    ckpt_dir = out / "checkpoints"
    if not args.resume and cb.list_checkpoints(ckpt_dir):
        raise CLIError(
            f"{ckpt_dir} already holds checkpoints: pass --resume to continue that run, or "
            "choose a new --out folder."
        )
    if args.resume:
        try:
            cb.check_config(ckpt_dir, cfg)
        except ValueError as err:
            raise CLIError(str(err)) from err
    dist = _data_parallel(args)
    out.mkdir(parents=True, exist_ok=True)
    # Python, NumPy, TensorFlow (tf.data shuffles and crops combine it with their own seeds) and
    # Keras seeds, before anything random is built.
    keras.utils.set_random_seed(args.seed)
    train_ds, sample, desc = make_data(args, image_size)
    # Networks built under the policy compute in bfloat16 with float32 weights; the trainers
    # keep losses and normalisation statistics in float32 (benchmarks/README.md).
    previous = keras.mixed_precision.global_policy()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        with dist:
            return _train_distributed(args, cfg, out, ckpt_dir, train_ds, sample, desc, dist)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train_distributed(args, cfg, out, ckpt_dir, train_ds, sample, desc, dist):
    """The part of ``run_train`` that builds, resumes and fits inside the ``dist`` scope."""
    import keras

    from i2ilab import callbacks as cb
    from i2ilab import viz

    image_size = cfg["image_size"]
    precision = keras.mixed_precision.global_policy().name
    trainer = build_trainer(cfg, seed=args.seed, lr=args.lr)
    start = 0
    if args.resume:
        try:
            start = cb.resume(trainer, ckpt_dir, expect_config=cfg)
        except ValueError as err:
            raise CLIError(str(err)) from err
        print(f"i2ilab: resuming from epoch {start} ({ckpt_dir})" if start else
              f"i2ilab: no checkpoint in {ckpt_dir}; starting from scratch", flush=True)
        latest = cb.find_latest(ckpt_dir) or {}
        saved = latest.get("config", {}).get("precision", "float32")
        if start and saved != precision:
            print(f"i2ilab: note: the checkpoint was trained in {saved}, this run computes in {precision} "
                  "(the weights are float32 either way; the results differ by rounding).", flush=True)
    total = args.epochs + args.epochs_decay
    # One pass of the loader is one epoch. fit gets the passes as one repeated stream with
    # steps_per_epoch, so epoch k always consumes the k-th pass (its shuffle order and crops);
    # a resumed run skips the finished passes and sees exactly the batches of an unbroken run.
    steps = int(train_ds.cardinality())
    if steps > 0:
        train_ds = train_ds.repeat().skip(start * steps)
    else:
        steps = None
        if start:
            print("i2ilab: the dataset's length is unknown, so the resumed run's data order is "
                  "not the one of an unbroken run (weights, optimizers and schedule are).")
    log_path = out / "log.csv"
    nan_stop = cb.NaNStop()
    sample_cb = cb.SampleGrid(sample, out_dir=out / "samples", every=args.sample_every,
                              max_rows=args.samples)
    callbacks = []
    if args.epochs_decay > 0:
        callbacks.append(cb.LinearDecay(args.epochs, args.epochs_decay))
    # The log row of an epoch is written before its checkpoint, so an interrupted run never
    # has a checkpoint newer than its log (CSVLog drops rows past the resumed epoch).
    callbacks += [
        nan_stop,
        cb.CSVLog(log_path),
        cb.Checkpoint(ckpt_dir, every=args.save_every, keep=args.keep,
                      config={**cfg, "data": args.data, "seed": args.seed, "precision": precision}),
        sample_cb,
    ]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False))
    if start >= total:
        print(f"i2ilab: {ckpt_dir} is already trained for {start} epochs (--epochs + "
              f"--epochs-decay = {total}); exporting it.", flush=True)
    else:
        on = (f", {dist.num_replicas} devices x {args.batch_size // dist.num_replicas}"
              if dist.num_replicas > 1 else "")
        print(f"i2ilab: training {args.model} on {desc}: {image_size}x{image_size}, "
              f"batch {args.batch_size}{on}, {steps or '?'} steps per epoch, epochs {start + 1}.."
              f"{total} (backend {keras.backend.backend()}, {precision})", flush=True)
        trainer.fit(train_ds, epochs=total, initial_epoch=start, steps_per_epoch=steps,
                    callbacks=callbacks, shuffle=False, verbose=0 if args.quiet else "auto")
    if log_path.is_file() and log_path.stat().st_size:
        try:
            viz.plot_losses(log_path, out / "losses.png", title=f"i2ilab {args.model}")
        except ValueError:
            pass  # no epoch finished: nothing to plot
    if nan_stop.stopped is not None:
        print(f"i2ilab: {nan_stop.message}", file=sys.stderr)
        return trainer, 1
    if sample_cb.last_path is not None:
        shutil.copyfile(sample_cb.last_path, out / "samples.png")
    _export(trainer, out, cfg, {"data": args.data, "seed": args.seed, "epochs": total, "precision": precision})
    print(f"i2ilab: done; networks, samples.png, losses.png and log.csv are in {out}")
    return trainer, 0


def _cmd_train(args):
    return run_train(args)[1]


# ------------------------------------------------------------------------------ loading models
def _load_keras(path):
    import keras

    import i2ilab.layers  # noqa: F401  (registers the custom layers)
    import i2ilab.models  # noqa: F401  (registers MUNITGenerator)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:
        raise CLIError(f"could not load {path} as a Keras model: {err}") from err


def _read_config(folder):
    path = folder / "config.json"
    if path.is_file():
        return json.loads(path.read_text())
    from i2ilab import callbacks as cb

    for ckpt_dir in (folder, folder / "checkpoints"):
        if cb.find_latest(ckpt_dir) is not None:
            return None
    raise CLIError(
        f"--checkpoint {folder}: no config.json (written when `i2ilab train` finishes) and no "
        "checkpoints/; pass a training --out folder or a .keras file."
    )


def load_networks(checkpoint, names):
    """{name: keras.Model} from a training folder (exported .keras files, or the newest
    checkpoint when training has not finished) and that folder's config."""
    from i2ilab import callbacks as cb

    folder = pathlib.Path(checkpoint)
    if not folder.exists():
        raise CLIError(f"--checkpoint {checkpoint}: no such file or folder.")
    config = _read_config(folder)
    if config is not None:
        missing = [n for n in names if n not in config.get("networks", {})]
        if missing:
            raise CLIError(
                f"--checkpoint {folder} holds a {config.get('model')} model with networks "
                f"{sorted(config.get('networks', {}))}; it has no {', '.join(missing)}."
            )
        return {n: _load_keras(folder / config["networks"][n]) for n in names}, config
    ckpt_dir = folder if cb.find_latest(folder) is not None else folder / "checkpoints"
    info = cb.find_latest(ckpt_dir)
    cfg = {k: v for k, v in (info.get("config") or {}).items() if k in ARCH_KEYS}
    if "model" not in cfg:
        raise CLIError(f"{ckpt_dir}: latest.json has no model configuration; cannot rebuild it.")
    trainer = build_trainer(cfg)
    try:
        trainer.load_checkpoint(str(info["file"]))
    except Exception as err:
        raise CLIError(f"could not load {info['file']}: {err}") from err
    nets = trainer.networks
    missing = [n for n in names if n not in nets]
    if missing:
        raise CLIError(f"{ckpt_dir} holds a {cfg['model']} model without {', '.join(missing)}.")
    print(f"i2ilab: using {info['file']} (epoch {info['epoch']}; training not finished)")
    return {n: nets[n] for n in names}, cfg


def _input_files(spec):
    path = pathlib.Path(spec).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CLIError(f"--input {spec}: the folder has no images ({', '.join(IMAGE_SUFFIXES)}).")
        return files
    raise CLIError(f"--input {spec}: no such file or folder.")


def read_image(path):
    """An image file -> float32 RGB (H, W, 3) in [-1, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    except (UnidentifiedImageError, OSError) as err:
        raise CLIError(f"cannot read image {path}: {err}") from err
    return rgb / 127.5 - 1.0


def _resize(img, height, width):
    """float image in [-1, 1] -> (height, width) with bicubic resampling (via uint8, like a file)."""
    from PIL import Image

    if img.shape[:2] == (height, width):
        return img
    from i2ilab.viz import to_uint8

    pil = Image.fromarray(to_uint8(img))
    return np.asarray(pil.resize((width, height), Image.BICUBIC), np.float32) / 127.5 - 1.0


def _fully_convolutional(net):
    """The same network on (None, None, C) inputs, sharing its weights."""
    import keras

    channels = net.input_shape[-1]
    clone = keras.models.clone_model(net, input_tensors=keras.Input((None, None, channels)))
    clone.set_weights(net.get_weights())
    return clone


def _model_size(net):
    shape = net.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    return shape[1], shape[2]


def prepare_input(img, net, full_size, multiple):
    """Resize an RGB image in [-1, 1] for ``net``: to its input size, or, with ``full_size``, to
    the nearest multiple of ``multiple`` (often the image's own size)."""
    if full_size:
        h = max(multiple, int(round(img.shape[0] / multiple)) * multiple)
        w = max(multiple, int(round(img.shape[1] / multiple)) * multiple)
        return _resize(img, h, w)
    h, w = _model_size(net)
    if h is None:
        return img
    return _resize(img, h, w)


def _cmd_translate(args):
    from keras import ops

    from i2ilab import viz

    ckpt = pathlib.Path(args.checkpoint)
    if not ckpt.exists():
        raise CLIError(f"--checkpoint {ckpt}: no such file or folder.")
    files = _input_files(args.input)
    if ckpt.suffix == ".keras":
        net = _load_keras(ckpt)
        model = "colorize" if (net.input_shape[-1], net.output_shape[-1]) == (1, 2) else "image"
        h, _ = _model_size(net)
        multiple = h or 1
    else:
        cfg_probe = _read_config(ckpt) if ckpt.is_dir() else None
        model = (cfg_probe or {}).get("model")
        if model is None and ckpt.is_dir():
            from i2ilab import callbacks as cb

            info = cb.find_latest(ckpt) or cb.find_latest(ckpt / "checkpoints") or {}
            model = (info.get("config") or {}).get("model")
        if model == "munit":
            raise CLIError(
                f"--checkpoint {ckpt} is a MUNIT model: it translates with a style; use "
                "`i2ilab sample` (random styles or --style-from IMAGE)."
            )
        if model not in TRANSLATORS:
            raise CLIError(f"--checkpoint {ckpt}: cannot tell which model it holds.")
        name = TRANSLATORS[model].get(args.direction)
        if name is None:
            raise CLIError(f"--direction {args.direction}: {model} translates AtoB only.")
        nets, cfg = load_networks(ckpt, [name])
        net = nets[name]
        multiple = cfg["image_size"] if model in ("pix2pix", "colorize") else 4
    run_net = _fully_convolutional(net) if args.full_size else net
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        rgb = prepare_input(read_image(path), net, args.full_size, multiple)
        if model == "colorize":
            from i2ilab.data import l_ab_to_rgb, rgb_to_lab_np

            l_scaled = rgb_to_lab_np((rgb[None] + 1.0) / 2.0)[..., :1] / 50.0 - 1.0
            ab = run_net(l_scaled, training=False)
            result = ops.convert_to_numpy(l_ab_to_rgb(l_scaled, ab))[0]
        else:
            result = ops.convert_to_numpy(run_net(rgb[None], training=False))[0]
        viz.save_image(out / f"{path.stem}.png", viz.to_uint8(result))
    print(f"i2ilab: translated {len(files)} image(s) into {out}")
    return 0


def _cmd_sample(args):
    from keras import ops

    from i2ilab import viz

    source_name, target_name = ("gen_a", "gen_b") if args.direction == "AtoB" else ("gen_b", "gen_a")
    ckpt = pathlib.Path(args.checkpoint)
    if ckpt.suffix == ".keras":
        raise CLIError("--checkpoint: sample needs the training folder (both MUNIT generators).")
    if not ckpt.is_dir():
        raise CLIError(f"--checkpoint {ckpt}: no such folder.")
    nets, cfg = load_networks(ckpt, [source_name, target_name])
    source, target = nets[source_name], nets[target_name]
    files = _input_files(args.input)
    if args.n_styles < 1:
        raise CLIError(f"--n-styles {args.n_styles} must be >= 1.")
    size = cfg["image_size"]
    style_img = None
    if args.style_from:
        style_img = _resize(read_image(args.style_from), size, size)[None]
        _, style_codes = target.encode(ops.convert_to_tensor(style_img), training=False)
    else:
        rng = np.random.default_rng(args.seed)
        style_codes = rng.standard_normal((args.n_styles, target.style_dim)).astype("float32")
    style_codes = ops.convert_to_tensor(style_codes, "float32")
    n = int(style_codes.shape[0])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        x = _resize(read_image(path), size, size)[None]
        content, _ = source.encode(ops.convert_to_tensor(x), training=False)
        content = ops.repeat(content, n, axis=0)
        images = ops.convert_to_numpy(target.decode(content, style_codes, training=False))
        columns = {"input": x}
        if style_img is not None:
            columns["style"] = style_img
            columns["output"] = images
            viz.save_image(out / f"{path.stem}_guided.png", viz.to_uint8(images[0]))
        else:
            for k in range(n):
                columns[f"style_{k + 1}"] = images[k : k + 1]
                viz.save_image(out / f"{path.stem}_style{k + 1}.png", viz.to_uint8(images[k]))
        viz.save_grid(columns, out / f"{path.stem}_grid.png")
    print(f"i2ilab: wrote {len(files)} grid(s) and their images into {out}")
    return 0


def _cmd_summary(args):
    cfg = arch_config(args.model, args.image_size, args.ngf, args.ndf, args.n_layers_d)
    total = 0
    for name, net in build_networks(cfg).items():
        net.summary()
        count = sum(int(np.prod(v.shape)) for v in net.trainable_variables)
        total += count
        print(f"{name}: {count:,} trainable parameters\n")
    print(f"i2ilab {args.model} at {cfg['image_size']}x{cfg['image_size']} "
          f"({', '.join(f'{k}={v}' for k, v in cfg.items() if k != 'model')}): "
          f"{total:,} trainable parameters in all")
    return 0


def _cmd_convert(args):
    from i2ilab.convert.command import main as convert_main

    return convert_main(args.convert_args)


# -------------------------------------------------------------------------------------- parser
def _add_arch_args(p, size_help):
    p.add_argument("--image-size", type=int, default=None, help=size_help)
    p.add_argument("--ngf", type=int, default=64, help="generator width (reference 64; MUNIT dim)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (reference 64)")
    p.add_argument("--n-layers-d", type=int, default=None,
                   help="PatchGAN depth (3 = 70x70 patches; default 3, less for small images)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="i2ilab",
        description="Image-to-image translation with Keras 3: pix2pix, CycleGAN, MUNIT, "
        "colorization. Backend: KERAS_BACKEND (tensorflow or jax).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model, writing checkpoints, samples and logs")
    t.add_argument("model", choices=MODELS)
    t.add_argument("--data", required=True,
                   help="'synthetic' (built-in set for the model), a dataset folder, or tfds:NAME")
    _add_arch_args(t, f"training resolution (default {DEFAULT_SYNTHETIC_SIZE} for synthetic "
                      f"data, {DEFAULT_SIZE} otherwise)")
    t.add_argument("--epochs", type=int, default=10, help="epochs at the initial learning rate")
    t.add_argument("--epochs-decay", type=int, default=0,
                   help="further epochs with the reference's linear decay to 0")
    t.add_argument("--batch-size", type=int, default=1,
                   help="global batch size, split over --devices (reference 1)")
    t.add_argument("--devices", type=parse_devices, default=1,
                   help="devices to train on data-parallel: a number or 'all' (default 1)")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate of both optimizers (default 2e-4, MUNIT 1e-4)")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out (same options)")
    t.add_argument("--seed", type=int, default=0, help="seed of weights, data order and noise")
    t.add_argument("--load-size", type=int, default=None,
                   help="resize before the random crop (default image size * 286/256)")
    t.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB",
                   help="pix2pix: which half of the A|B images is the input")
    t.add_argument("--n-train", type=int, default=512, help="synthetic data: training images")
    t.add_argument("--data-dir", default=None, help="tfds:NAME: tensorflow-datasets data_dir")
    t.add_argument("--samples", type=int, default=4, help="rows of the sample grids")
    t.add_argument("--sample-every", type=int, default=1, help="epochs between sample grids")
    t.add_argument("--save-every", type=int, default=1, help="epochs between checkpoints")
    t.add_argument("--keep", type=int, default=3, help="checkpoints kept")
    t.add_argument("--mixed-precision", action="store_true",
                   help="compute in bfloat16 with float32 weights (keras mixed_bfloat16): "
                        "faster on GPUs and on CPUs with bf16 units; results differ by rounding")
    t.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    tr = sub.add_parser("translate", help="translate your own images with a trained generator")
    tr.add_argument("--checkpoint", required=True,
                    help="a training --out folder, or a generator .keras file")
    tr.add_argument("--input", required=True, help="an image file or a folder of images")
    tr.add_argument("--out", required=True, help="output folder (one PNG per input)")
    tr.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB",
                    help="CycleGAN: g_ab (AtoB) or g_ba (BtoA)")
    tr.add_argument("--full-size", action="store_true",
                    help="run fully convolutionally near each image's own size instead of "
                    "resizing it to the training size")
    tr.set_defaults(func=_cmd_translate)

    sa = sub.add_parser("sample", help="MUNIT: several random styles per input, or one example's")
    sa.add_argument("--checkpoint", required=True, help="a MUNIT training --out folder")
    sa.add_argument("--input", required=True, help="an image file or a folder of images")
    sa.add_argument("--out", required=True, help="output folder")
    sa.add_argument("--n-styles", type=int, default=4, help="random styles per input")
    sa.add_argument("--style-from", default=None,
                    help="an image of the target domain whose style is used instead")
    sa.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB")
    sa.add_argument("--seed", type=int, default=0, help="seed of the random styles")
    sa.set_defaults(func=_cmd_sample)

    # Delegated to i2ilab.convert (imported only when used, so --help stays fast).
    co = sub.add_parser(
        "convert", add_help=False,
        help="convert an official PyTorch checkpoint (pix2pix, CycleGAN, MUNIT) to .keras; "
        "see `i2ilab convert --help`",
    )
    co.set_defaults(func=_cmd_convert)

    su = sub.add_parser("summary", help="print the networks of a model and their sizes")
    su.add_argument("model", choices=MODELS)
    _add_arch_args(su, f"image size (default {DEFAULT_SIZE})")
    su.set_defaults(func=_cmd_summary)
    return parser


def main(argv=None):
    """Entry point of the ``i2ilab`` console script and ``python -m i2ilab``; returns the status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "convert":
        args.convert_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "summary" and args.image_size is None:
        args.image_size = DEFAULT_SIZE
    try:
        return args.func(args)
    except CLIError as err:
        print(f"i2ilab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("i2ilab: interrupted; the last checkpoint is kept (continue with --resume).",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
