"""The ``i2ilab`` command line: train, translate your own images, sample MUNIT styles, summaries.

::

    i2ilab train pix2pix --data synthetic --image-size 32 --epochs 10 --out runs/p2p
    i2ilab train pix2pix --data synthetic ... --out runs/p2p --resume      # continue
    i2ilab train cyclegan --data DATA --devices all --batch-size 8 --out runs/cg  # data-parallel
    i2ilab translate --checkpoint runs/p2p --input my_images/ --out translated/
    i2ilab translate --checkpoint runs/bicycle --input edges/ --out shoes/ --n-samples 6  # or --z encode --from shoe.png
    i2ilab translate --checkpoint runs/hd --input streets/test_label --out photos/  # pix2pixhd: label maps (+ _inst)
    i2ilab sample --checkpoint runs/munit --input photo.png --out styles/ --n-styles 6
    i2ilab train ost --phase autoencoder --data synthetic --out runs/ae  # then one A image:
    i2ilab train ost --phase ost --from runs/ae --one-shot-index 0 --data synthetic --out runs/ost
    i2ilab summary cyclegan --image-size 256
    i2ilab convert --from-pytorch latest_net_G.pth --model unet_256 --out facades.keras

``train`` writes into ``--out``: ``checkpoints/`` (complete training state every
``--save-every`` epochs, ``latest.json``), ``samples/epoch_NNNN.png`` (input | output | target
grids on fixed test examples) and ``samples.png`` (the last one), ``log.csv`` (per-epoch losses
and learning rate), ``losses.png``, and after the last epoch the networks as ``<name>.keras``
with ``config.json``. The backend is Keras' (``KERAS_BACKEND=jax i2ilab ...``). ``--resume``
continues exactly: weights, optimizer states, RNG states, image pools, the epoch count, the LR
schedule and the data order all equal those of an unbroken run; options that would change that
are refused (an explicit ``--lr`` is applied, with a note). ``OUT/.lock`` keeps a second run out.

``translate`` and ``sample`` run the generators in inference mode (BatchNorm moving averages,
dropout off), so their outputs are deterministic and equal ``trainer.translate(x)`` of the
trained model. (pix2pix's paper protocol keeps dropout and batch statistics at test time:
``Pix2Pix.translate(x, training=True)`` in Python.) Fixed-size networks get inputs resized to
their training size; ``--full-size`` runs them fully convolutionally near each image's own size.

``--devices N`` (or ``all``) trains data-parallel with Keras' own engine (see
:func:`i2ilab.training.distribute`); ``--batch-size`` is the global batch. A resume on the same
device count is exact; on another count it equals an unbroken run up to float rounding.

Exit status: 0 done, 1 training stopped on a NaN/inf loss, 2 a usage or data error (with a
message saying what to change), 130 interrupted (the last checkpoint is kept; use --resume).

This module is only the argparse layer: the task recipes are :mod:`i2ilab.recipes`, the run
folder :mod:`i2ilab.runs`, image files and saved runs :mod:`i2ilab.inference`.
"""

import argparse
import pathlib
import shutil
import sys
import warnings

import numpy as np

from i2ilab import recipes
from i2ilab.errors import UsageError
from i2ilab.recipes import DEFAULT_SIZE, DEFAULT_SYNTHETIC_SIZE, MODELS


# ---------------------------------------------------------------------------------------- data
def make_data(args, image_size):
    """(training dataset, sample batch (x, y), description) for the train command."""
    options = {k: getattr(args, k) for k in ("seed", "load_size", "direction", "n_train", "data_dir", "skip_bad")}
    if args.model == "pix2pixhd":  # its label ids as check_train_options chose them, its instance switch
        options.update(n_classes=args.n_classes or recipes.data_classes(args.data), instances=not args.no_instance)
    if args.model == "ost":  # its phase and the one A image
        options.update(recipes.ost_data_options(args))
    return recipes.training_data(args.model, args.data, image_size, args.batch_size, args.samples, **options)


# --------------------------------------------------------------------------------------- train
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
        dist.check_batch_size(args.batch_size, "--batch-size")
    except ValueError as err:
        raise UsageError(f"--devices {args.devices}: {err}") from err
    return dist


def run_train(args):
    """Train as ``i2ilab train`` does; returns (trainer, exit status)."""
    from i2ilab import runs

    cfg = recipes.check_train_options(args)
    dist = _data_parallel(args)
    with runs.output_folder(args.out) as out, runs.run_lock(out):
        ckpt_dir = out / "checkpoints"
        if not args.resume and runs.list_checkpoints(ckpt_dir):
            raise UsageError(
                f"{ckpt_dir} already holds checkpoints: pass --resume to continue that run, or choose a new --out folder."
            )
        info, lr = None, args.lr
        if args.resume:
            precision = "mixed_bfloat16" if args.mixed_precision else "float32"
            options = {**cfg, **recipes.run_options(args, cfg), "precision": precision}
            info, lr, notes = runs.check_resume(ckpt_dir, options, args.lr, args.epochs + args.epochs_decay)
            for note in notes:
                print(f"i2ilab: note: {note}", flush=True)
        return _train_in(args, cfg, out, ckpt_dir, dist, info, lr)


def _train_in(args, cfg, out, ckpt_dir, dist, info, lr):
    """Seeds, data, precision policy and the ``dist`` scope around :func:`_train_distributed`."""
    import keras

    from i2ilab import backend

    # Python, NumPy, TensorFlow (tf.data shuffles and crops combine it with their own seeds) and
    # Keras seeds, before anything random is built.
    keras.utils.set_random_seed(args.seed)
    backend.hide_gpus_from_tensorflow()
    train_ds, sample, desc = make_data(args, cfg["image_size"])
    options = {k: getattr(args, k) for k in ("load_size", "n_train", "data_dir", "skip_bad")}
    cfg = recipes.data_statistics(cfg, args.data, (info or {}).get("config"), **options)
    # Networks built under the policy compute in bfloat16 with float32 weights; the trainers
    # keep losses and normalisation statistics in float32 (benchmarks/README.md).
    previous = keras.mixed_precision.global_policy()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        with dist:
            return _train_distributed(args, cfg, out, ckpt_dir, train_ds, sample, desc, dist, info, lr)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train_distributed(args, cfg, out, ckpt_dir, train_ds, sample, desc, dist, info, lr):
    """The part of ``run_train`` that builds, resumes and fits inside the ``dist`` scope."""
    import keras

    from i2ilab import backend, runs, viz
    from i2ilab import callbacks as cb

    image_size = cfg["image_size"]
    precision = keras.mixed_precision.global_policy().name
    trainer = recipes.build_trainer(cfg, seed=args.seed, lr=lr)
    start = 0
    if args.resume:
        try:
            start = cb.resume(trainer, ckpt_dir, expect_config=cfg, info=info, lr=args.lr)
        except ValueError as err:
            raise UsageError(str(err)) from err
        print(
            f"i2ilab: resuming from epoch {start} ({ckpt_dir})"
            if start
            else f"i2ilab: no checkpoint in {ckpt_dir}; starting from scratch",
            flush=True,
        )
    if not start:  # ost --phase ost: the B networks of the phase-1 run
        recipes.start_from_phase_1(trainer, cfg, args.from_run)
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
            print(
                "i2ilab: the dataset's length is unknown, so the resumed run's data order is "
                "not the one of an unbroken run (weights, optimizers and schedule are)."
            )
    base_lr = cb.base_learning_rate(trainer)
    log_path = out / "log.csv"
    nan_stop = cb.NaNStop(report=False)
    sample_cb = cb.SampleGrid(sample, out_dir=out / "samples", every=args.sample_every, max_rows=args.samples)
    callbacks = []
    if args.epochs_decay > 0:
        callbacks.append(cb.LinearDecay(args.epochs, args.epochs_decay))
    # The log row of an epoch is written before its checkpoint, so an interrupted run never
    # has a checkpoint newer than its log (CSVLog drops rows past the resumed epoch).
    callbacks += [
        nan_stop,
        cb.CSVLog(log_path),
        cb.Checkpoint(
            ckpt_dir,
            every=args.save_every,
            keep=args.keep,
            config={**cfg, **recipes.run_options(args, cfg), "lr": base_lr, "precision": precision},
        ),
        sample_cb,
    ]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False))
    if start >= total:
        print(
            f"i2ilab: {ckpt_dir} is already trained for {start} epochs (--epochs + "
            f"--epochs-decay = {total}); exporting it.",
            flush=True,
        )
    else:
        on = f", {dist.num_replicas} devices x {args.batch_size // dist.num_replicas}" if dist.num_replicas > 1 else ""
        print(
            f"i2ilab: training {args.model} on {desc}: {image_size}x{image_size}, "
            f"batch {args.batch_size}{on}, {steps or '?'} steps per epoch, epochs {start + 1}.."
            f"{total} (backend {backend.BACKEND}, {precision})",
            flush=True,
        )
        trainer.fit(
            train_ds,
            epochs=total,
            initial_epoch=start,
            steps_per_epoch=steps,
            callbacks=callbacks,
            shuffle=False,
            verbose=0 if args.quiet else "auto",
        )
    if log_path.is_file() and log_path.stat().st_size:
        try:
            viz.plot_losses(log_path, out / "losses.png", title=f"i2ilab {args.model}")
        except ValueError:
            pass  # no epoch finished: nothing to plot
    if nan_stop.stopped is not None:
        print(f"i2ilab: {nan_stop.message}", file=sys.stderr)
        return trainer, 1
    exploded = cb.exploded_losses(log_path)
    if exploded:
        print(f"i2ilab: note: {exploded}", file=sys.stderr)
    if sample_cb.last_path is not None:
        shutil.copyfile(sample_cb.last_path, out / "samples.png")
    runs.export(
        out,
        trainer.networks,
        {
            **cfg,
            "translators": recipes.TRANSLATORS.get(cfg["model"], {}),
            "data": args.data,
            "seed": args.seed,
            "epochs": total,
            "precision": precision,
        },
    )
    print(f"i2ilab: done; networks, samples.png, losses.png and log.csv are in {out}")
    return trainer, 0


# ------------------------------------------------------------------------------------ inference
def _cmd_translate(args):
    from i2ilab import inference, runs

    if not pathlib.Path(args.checkpoint).exists():
        raise UsageError(f"--checkpoint {args.checkpoint}: no such file or folder.")
    files, bad = inference.checked_inputs(args.input, args.out, args.skip_bad)
    with runs.output_folder(args.out) as out:
        options = (args.checkpoint, args.direction, args.full_size, args.z, args.example, args.n_samples, args.seed)
        translator = inference.Translator(*options, instances=args.instances, inputs=args.input)
        for path in files:
            for suffix, image in translator.outputs(translator.read_input(path)).items():
                inference.save_output(out / f"{path.stem}{suffix}.png", image)
    skipped = f"; skipped {len(bad)} bad image(s): {', '.join(p.name for p, _ in bad[:5])}" if bad else ""
    print(f"i2ilab: translated {len(files)} image(s) into {out}{skipped}")
    return 0


def _cmd_sample(args):
    from i2ilab import inference

    n = inference.write_munit_samples(
        args.checkpoint, args.input, args.out, args.n_styles, args.style_from, args.direction, args.seed
    )
    print(f"i2ilab: wrote {n} grid(s) and their images into {args.out}")
    return 0


def _cmd_summary(args):
    hd = {"n_scales_d": args.n_scales_d, "n_classes": args.n_classes, "instances": not args.no_instance}
    cfg = recipes.arch_config(args.model, args.image_size, args.ngf, args.ndf, args.n_layers_d, **hd)
    total = 0
    for name, net in recipes.summary_networks(cfg).items():
        net.summary()
        count = sum(int(np.prod(v.shape)) for v in net.trainable_variables)
        total += count
        print(f"{name}: {count:,} trainable parameters\n")
    print(
        f"i2ilab {args.model} at {cfg['image_size']}x{cfg['image_size']} "
        f"({', '.join(f'{k}={v}' for k, v in cfg.items() if k != 'model')}): "
        f"{total:,} trainable parameters in all"
    )
    return 0


def _cmd_convert(args):
    from i2ilab.convert.command import main as convert_main

    return convert_main(args.convert_args)


# -------------------------------------------------------------------------------------- parser
def _add_arch_args(p, size_help):
    p.add_argument("--image-size", type=int, default=None, help=size_help)
    p.add_argument("--ngf", type=int, default=64, help="generator width (reference 64; MUNIT dim)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (reference 64)")
    p.add_argument(
        "--n-layers-d", type=int, help="PatchGAN depth (3 = 70x70 patches; default 3, less for small images)"
    )
    p.add_argument("--n-scales-d", type=int, default=None, help="pix2pixhd: discriminator scales (num_D, default 2)")
    p.add_argument("--n-classes", type=int, help="pix2pixhd: label ids (default: the set's meta.json, else 35)")
    p.add_argument("--no-instance", action="store_true", help="pix2pixhd: labels only, no instance edge map")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="i2ilab",
        description="Image-to-image translation with Keras 3: pix2pix, CycleGAN, MUNIT, BicycleGAN, pix2pixHD, "
        "UNIT, CUT, DiscoGAN, DualGAN, DistanceGAN, OST, colorization. Backend: KERAS_BACKEND (tensorflow or jax).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model, writing checkpoints, samples and logs")
    t.add_argument("model", choices=MODELS)
    t.add_argument(
        "--data", required=True, help="'synthetic' (built-in set for the model), a dataset folder, or tfds:NAME"
    )
    _add_arch_args(
        t, f"training resolution (default {DEFAULT_SYNTHETIC_SIZE} for synthetic data, {DEFAULT_SIZE} otherwise)"
    )
    t.add_argument("--epochs", type=int, default=10, help="epochs at the initial learning rate")
    t.add_argument("--epochs-decay", type=int, default=0, help="further epochs with the reference's linear decay to 0")
    t.add_argument(
        "--batch-size", type=int, help="global batch size, split over --devices (the reference's: 1, distancegan 2)"
    )
    t.add_argument(
        "--devices",
        type=parse_devices,
        default=1,
        help="devices to train on data-parallel: a number or 'all' (default 1)",
    )
    t.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate of both optimizers (default 2e-4; MUNIT, UNIT 1e-4; DualGAN 5e-5)",
    )
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out (same options)")
    t.add_argument("--seed", type=int, default=0, help="seed of weights, data order and noise")
    t.add_argument(
        "--load-size", type=int, default=None, help="resize before the random crop (default image size * 286/256)"
    )
    t.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="pix2pix: input half of A|B images")
    t.add_argument("--n-train", type=int, default=512, help="synthetic data: training images")
    t.add_argument("--data-dir", default=None, help="tfds:NAME: tensorflow-datasets data_dir")
    t.add_argument("--samples", type=int, default=4, help="rows of the sample grids")
    t.add_argument("--sample-every", type=int, default=1, help="epochs between sample grids")
    t.add_argument("--save-every", type=int, default=1, help="epochs between checkpoints")
    t.add_argument("--keep", type=int, default=3, help="checkpoints kept")
    t.add_argument(
        "--mixed-precision",
        action="store_true",
        help="compute in bfloat16 with float32 weights (keras mixed_bfloat16): "
        "faster on GPUs and on CPUs with bf16 units; results differ by rounding",
    )
    t.add_argument("--phase", choices=recipes.OST_PHASES, help="ost: autoencoder (domain B, first) or ost (--from)")
    t.add_argument("--from", dest="from_run", help="ost --phase ost: the --out folder of its --phase autoencoder run")
    t.add_argument("--one-shot-image", help="ost --phase ost: the one A image (a file)")
    t.add_argument("--one-shot-index", type=int, help="ost --phase ost: or the K-th trainA image of --data (by name)")
    t.add_argument("--no-vgg-loss", action="store_true", help="pix2pixhd: no VGG19 perceptual loss (no download)")
    t.add_argument("--skip-bad", action="store_true", help="skip unreadable or too small images (with a count)")
    t.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=lambda args: run_train(args)[1])

    tr = sub.add_parser("translate", help="translate your own images with a trained generator")
    tr.add_argument("--checkpoint", required=True, help="a training --out folder, or a generator .keras file")
    tr.add_argument("--input", required=True, help="an image file or a folder of images")
    tr.add_argument("--out", required=True, help="output folder (one PNG per input)")
    tr.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="two-generator models: AtoB or BtoA")
    tr.add_argument(
        "--full-size",
        action="store_true",
        help="run fully convolutionally near each image's own size instead of resizing it to the training size",
    )
    tr.add_argument("--skip-bad", action="store_true", help="skip unreadable images (with a count) instead of stopping")
    tr.add_argument("--z", choices=("random", "encode"), help="BicycleGAN: random codes (default) or --from's code")
    tr.add_argument("--from", dest="example", help="BicycleGAN --z encode: an example output whose code is used")
    tr.add_argument("--n-samples", type=int, help="BicycleGAN --z random: outputs per input, <stem>_zK.png (4)")
    tr.add_argument("--seed", type=int, default=0, help="BicycleGAN --z random: seed of the codes")
    tr.add_argument("--instances", help="pix2pixhd: instance maps named as the label maps (default: <name>_inst/)")
    tr.set_defaults(func=_cmd_translate)

    sa = sub.add_parser("sample", help="MUNIT: several random styles per input, or one example's")
    sa.add_argument("--checkpoint", required=True, help="a MUNIT training --out folder")
    sa.add_argument("--input", required=True, help="an image file or a folder of images")
    sa.add_argument("--out", required=True, help="output folder")
    sa.add_argument("--n-styles", type=int, default=4, help="random styles per input")
    sa.add_argument("--style-from", default=None, help="an image of the target domain whose style is used instead")
    sa.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB")
    sa.add_argument("--seed", type=int, default=0, help="seed of the random styles")
    sa.set_defaults(func=_cmd_sample)

    # Delegated to i2ilab.convert (imported only when used, so --help stays fast).
    co = sub.add_parser(
        "convert",
        add_help=False,
        help="convert an official PyTorch checkpoint (pix2pix, CycleGAN, MUNIT) to .keras; see `i2ilab convert --help`",
    )
    co.set_defaults(func=_cmd_convert)

    su = sub.add_parser("summary", help="print the networks of a model and their sizes")
    su.add_argument("model", choices=MODELS)
    _add_arch_args(su, f"image size (default {DEFAULT_SIZE})")
    su.set_defaults(func=_cmd_summary)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"i2ilab: warning: {message}", file=sys.stderr, flush=True)


def main(argv=None):
    """Entry point of the ``i2ilab`` console script and ``python -m i2ilab``; returns the status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "convert":
        args.convert_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "summary" and args.image_size is None:
        args.image_size = recipes.default_image_size(args.model, data=None)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except UsageError as err:
        print(f"i2ilab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("i2ilab: interrupted; the last checkpoint is kept (continue with --resume).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
