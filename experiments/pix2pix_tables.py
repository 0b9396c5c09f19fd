"""pix2pix Tables 1-3 on the synthetic labels -> photo set: FCN-scores of the ablations.

Isola et al. 2017 (section 4.2, Tables 1-3) score Cityscapes labels -> photo translations with the
FCN-score: a segmenter trained on *real* photos labels the generated photos, and the per-pixel
accuracy, per-class accuracy and class IoU against the input label maps measure how recognisable
(realistic, in the segmenter's eyes) the outputs are. This script trains the paper's variants on
i2ilab's synthetic "labels2photo" set and prints its tables beside the paper's numbers
(shared/REFERENCE.md section 5):

- Table 1 (losses): L1, GAN, cGAN, L1+GAN, L1+cGAN (U-Net G, PatchGAN D), and the ground truth.
- Table 2 (generator; ``--tables 1,2,3``): encoder-decoder vs U-Net, each with L1 and L1+cGAN.
- Table 3 (L1+cGAN, D receptive field): 1x1, 16x16, 70x70, 286x286.

Run ``python -m experiments.pix2pix_tables [--size 32|64|256] [--steps N] [--tiny] [--out DIR]``.
Outputs: the tables on stdout, ``results.json``, ``tables.md`` and ``samples.png`` (one column per
variant) in ``--out``, and as the last stdout line one JSON object with every score.

Why the shared-colour set. On the default labels2photo set every class has its own base colour, so
a segmenter trained on real photos separates classes by colour alone, and an L1 generator's flat,
textureless class means score like the real photos (pixel accuracy .992 vs .995 measured by the
metrics work): the FCN-score would then not measure what the paper's does. Cityscapes classes are
not told apart by a flat colour (road, sidewalk, building and vegetation differ in texture and
detail as much as in hue), which is why blurry L1 outputs score .42 there against .80 for real
photos. So the experiment uses ``generate("labels2photo", ..., shared_colors=True)``: wall, bush
and road share one base colour and zero-mean textures (stripes, dots, diagonal stripes), so only
texture identifies them; sky, windows and poles keep their colours. Both the segmenter and the
generators are trained on this set, so the segmenter is still "trained on real photos", as the
protocol demands, and it recognises an output exactly when the output carries the class's real
texture. Measured at 32x32 (segmenter of this script, 10 epochs on 512 real photos): real photos
.993 pixel accuracy, the same photos with every class region flattened to its mean colour (what
an L1 generator converges to) .759 (wall .04, bush .21 class accuracy), whereas on the default set
flattening cost nothing (.998 vs .999). Colour jitter when training the segmenter (the other
option) was not taken: it trains the segmenter on photos that do not occur and makes it blind to
colour also where colour is real evidence (sky, windows, poles).

Protocol, and where it differs from the paper:
- Data: ``--n-train`` paired training images and ``--n-test`` test images (their own random
  stream); no random jitter or flips (a mirrored diagonal stripe is another class's texture).
- Networks: ``unet_generator`` / ``encoder_decoder_generator`` (BatchNorm, dropout as the
  reference) and ``patch_discriminator``, narrower than the reference's 64 channels at CPU sizes
  (``ngf``/``ndf`` in the settings). Trainer ``Pix2Pix``: vanilla GAN, lambda_L1 100 (L1 rows:
  no D; GAN rows: lambda_L1 0; unconditional rows: D sees only the output), Adam 2e-4, beta_1 0.5,
  a fixed number of steps at a constant learning rate (the paper: 200 epochs, batch 1, linear
  decay) and a batch of ``batch`` images.
- Test protocol as the reference: G in training mode (dropout on, batch statistics), on test
  batches of the training batch size.
- D receptive fields. At 256x256 the D rows use n_layers 0, 1, 3, 5 (fields 1, 16, 70, 286
  pixels). Smaller images cannot hold the deepest PatchGANs (the logit map must stay at least
  1x1), so below 256 the four rows map by relative receptive field, keeping the order and making
  the last one see the whole image: n_layers 0/1/2/4 at 128 and 0/1/2/3 at 64 and 32 (fields 1,
  16, 34, 70 pixels). The tables print each D's real field and its fraction of the image; the
  fractions shift at 32x32 (70x70 -> 34 pixels is already the whole image), so 64x64 is the
  smallest size where the four rows keep their meaning.
- Segmenter: the small ``i2ilab.metrics.segmenter`` instead of FCN-8s, so the numbers compare
  variants under one segmenter, not with the paper's values; the paper's are printed as the
  shape the ordering should take.
- Extra columns (not in the paper) that explain the scores: ``texture``, the high-frequency
  energy of the outputs relative to the real test photos (1 = as textured as real, 0 = flat), and
  ``L1``, the mean absolute error to the target photos.
"""

import argparse
import dataclasses
import datetime
import json
import pathlib
import platform
import sys
import time

import numpy as np

SIZES = (32, 64, 128, 256)
NUM_CLASSES = 6

#: Paper values (shared/REFERENCE.md section 5): (per-pixel acc., per-class acc., class IoU);
#: None where REFERENCE.md does not give the number.
PAPER = {
    1: {
        "L1": (0.42, 0.15, 0.11),
        "GAN": (0.22, 0.05, 0.01),
        "cGAN": (0.57, 0.22, 0.16),
        "L1+GAN": (0.64, 0.20, 0.15),
        "L1+cGAN": (0.66, 0.23, 0.17),
        "Ground truth": (0.80, 0.26, 0.21),
    },
    2: {
        "Encoder-decoder (L1)": (0.35, None, 0.08),
        "Encoder-decoder (L1+cGAN)": (0.29, None, 0.05),
        "U-Net (L1)": (0.48, None, 0.13),
        "U-Net (L1+cGAN)": (0.55, None, 0.14),
    },
    3: {
        "1x1": (0.39, None, 0.10),
        "16x16": (0.65, None, 0.17),
        "70x70": (0.66, None, 0.17),
        "286x286": (0.42, None, 0.11),
    },
}
TITLES = {
    1: "Table 1: FCN-scores for different losses",
    2: "Table 2: FCN-scores for different generator architectures",
    3: "Table 3: FCN-scores for different receptive field sizes of the discriminator (L1+cGAN)",
}
#: Rows of each table: (paper row name, variant key); "real" is the ground truth.
ROWS = {
    1: [
        ("L1", "l1"),
        ("GAN", "gan"),
        ("cGAN", "cgan"),
        ("L1+GAN", "l1_gan"),
        ("L1+cGAN", "l1_cgan"),
        ("Ground truth", "real"),
    ],
    2: [
        ("Encoder-decoder (L1)", "ed_l1"),
        ("Encoder-decoder (L1+cGAN)", "ed_l1_cgan"),
        ("U-Net (L1)", "l1"),
        ("U-Net (L1+cGAN)", "l1_cgan"),
    ],
    3: [("1x1", "pg1"), ("16x16", "pg16"), ("70x70", "l1_cgan"), ("286x286", "pg286")],
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One pix2pix configuration: generator kind, L1 weight, D kind, the paper's D receptive field."""

    generator: str  # "unet" | "encoder_decoder"
    lambda_l1: float
    gan: str | None  # None (no D) | "conditional" | "unconditional"
    field: int = 70


VARIANTS = {
    "l1": Variant("unet", 100.0, None),
    "gan": Variant("unet", 0.0, "unconditional"),
    "cgan": Variant("unet", 0.0, "conditional"),
    "l1_gan": Variant("unet", 100.0, "unconditional"),
    "l1_cgan": Variant("unet", 100.0, "conditional"),
    "pg1": Variant("unet", 100.0, "conditional", 1),
    "pg16": Variant("unet", 100.0, "conditional", 16),
    "pg286": Variant("unet", 100.0, "conditional", 286),
    "ed_l1": Variant("encoder_decoder", 100.0, None),
    "ed_l1_cgan": Variant("encoder_decoder", 100.0, "conditional"),
}

#: Settings per image size. steps: G/D steps per variant; seg_*: the FCN segmenter.
SETTINGS = {
    32: dict(ngf=32, ndf=32, batch=16, steps=600, n_train=512, n_test=128, seg_width=32, seg_depth=2, seg_epochs=10),
    64: dict(ngf=32, ndf=32, batch=16, steps=600, n_train=512, n_test=128, seg_width=32, seg_depth=3, seg_epochs=10),
    128: dict(ngf=64, ndf=64, batch=8, steps=4000, n_train=1000, n_test=200, seg_width=32, seg_depth=3, seg_epochs=20),
    256: dict(ngf=64, ndf=64, batch=4, steps=20000, n_train=2000, n_test=200, seg_width=32, seg_depth=4, seg_epochs=30),
}
#: --tiny: the CI smoke configuration (every row, a handful of steps, tiny networks).
TINY = dict(size=32, ngf=8, ndf=8, batch=8, steps=3, n_train=32, n_test=16, seg_width=8, seg_depth=1, seg_epochs=1)


def discriminator_layers(image_size):
    """Paper receptive field (1, 16, 70, 286) -> PatchGAN n_layers used at this image size.

    256 and larger: the paper's 0, 1, 3, 5. Smaller images map by relative field, keeping the
    order and letting the "286" row see the whole image: 128 -> 0, 1, 2, 4; 32 and 64 -> 0, 1, 2, 3.
    """
    if image_size >= 256:
        return {1: 0, 16: 1, 70: 3, 286: 5}
    if image_size >= 128:
        return {1: 0, 16: 1, 70: 2, 286: 4}
    if image_size >= 32:
        return {1: 0, 16: 1, 70: 2, 286: 3}
    raise ValueError(f"image_size {image_size}: the experiment needs at least 32x32 images (a 4-deep PatchGAN set).")


def variants_for(tables):
    """Variant keys needed for the given tables, in a fixed order (ground truth excluded)."""
    needed = {key for t in tables for _, key in ROWS[t]}
    return [key for key in VARIANTS if key in needed]


# ----------------------------------------------------------------------------------------- data
def load_data(size, n_train, n_test, seed):
    """Shared-colour labels2photo arrays: train/test dicts with A (label colours), B (photos), labels."""
    from i2ilab.data.synthetic import generate

    train = generate("labels2photo", n_train, image_size=size, seed=seed, split="train", shared_colors=True)
    test = generate("labels2photo", n_test, image_size=size, seed=seed, split="test", shared_colors=True)
    return train, test


def train_batches(a, b, batch, seed):
    """Endless batches (x = label maps, y = photos) for Pix2Pix.fit: every pass over the training
    set in a new random order. NumPy, so any backend and any data size (a tf.data constant of the
    256x256 set would pass TensorFlow's 2 GB graph limit)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(a))
        for start in range(0, len(order) - batch + 1, batch):
            index = order[start : start + batch]
            yield a[index], b[index]


# ---------------------------------------------------------------------------------------- models
def build_trainer(variant, settings, image_size, seed, run_eagerly=False):
    """A compiled Pix2Pix trainer for a Variant; returns (trainer, description of D or None)."""
    import keras

    from i2ilab import models, training

    keras.utils.set_random_seed(seed)
    factory = models.unet_generator if variant.generator == "unet" else models.encoder_decoder_generator
    generator = factory(image_size, 3, 3, settings["ngf"], name="generator")
    discriminator, d_info = None, None
    if variant.gan is not None:
        n_layers = discriminator_layers(image_size)[variant.field]
        channels = 6 if variant.gan == "conditional" else 3
        discriminator = models.patch_discriminator(
            image_size, channels, settings["ndf"], n_layers, name="discriminator"
        )
        field = models.receptive_field(n_layers)
        d_info = {"n_layers": n_layers, "receptive_field": field, "fraction_of_image": field / image_size}
    trainer = training.Pix2Pix(
        generator,
        discriminator,
        lambda_l1=variant.lambda_l1,
        gan_mode="vanilla",
        conditional=variant.gan == "conditional",
        seed=seed,
    )
    trainer.compile(run_eagerly=run_eagerly)
    return trainer, d_info


def _log_epochs(steps):
    """Split the steps into a few fit "epochs" (progress lines) that divide them exactly."""
    return next(k for k in (10, 8, 6, 5, 4, 3, 2, 1) if steps % k == 0)


def translate_all(trainer, x, batch):
    """G(x) in the reference's test mode (training=True: dropout on, batch statistics), in batches."""
    return np.concatenate([trainer.translate(x[i : i + batch], training=True) for i in range(0, len(x), batch)])


# --------------------------------------------------------------------------------------- metrics
def high_frequency_energy(images):
    """Mean squared difference between the grey image and its 3x3 box blur (texture energy)."""
    grey = np.asarray(images, np.float64).mean(axis=-1)
    h, w = grey.shape[1:]
    pad = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    box = sum(pad[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    return float(np.mean((grey - box) ** 2))


def score(segmenter_model, images, test, real_energy):
    """FCN-scores of images against the test label maps, plus texture ratio and L1 to the targets."""
    from i2ilab.metrics import fcn_score

    s = fcn_score(segmenter_model, images, test["labels"], NUM_CLASSES)
    return {
        "pixel_accuracy": s["pixel_accuracy"],
        "class_accuracy": s["class_accuracy"],
        "class_iou": s["class_iou"],
        "per_class_accuracy": [None if np.isnan(v) else float(v) for v in s["per_class_accuracy"]],
        "texture": high_frequency_energy(images) / real_energy,
        "l1": float(np.mean(np.abs(np.asarray(images) - test["B"]))),
    }


# ---------------------------------------------------------------------------------------- tables
def _fmt(v):
    return "  -  " if v is None else f"{v:.3f}"


def _row_label(table, name, key, results):
    if table == 3 and key in results and results[key].get("discriminator"):
        d = results[key]["discriminator"]
        return f"{name} (n_layers {d['n_layers']}: {d['receptive_field']} px, {d['fraction_of_image']:.2f} of image)"
    return name


def format_tables(results, tables, image_size):
    """The tables as text: this run's three FCN-scores, texture and L1, beside the paper's numbers."""
    lines = []
    for t in tables:
        rows = [(_row_label(t, name, key, results), name, key) for name, key in ROWS[t]]
        width = max(len(label) for label, _, _ in rows) + 2
        lines.append(f"{TITLES[t]} (synthetic labels2photo, shared colours, {image_size}x{image_size})")
        head = (
            f"{'':{width}}{'this run':^35} | {'paper (Cityscapes)':^24}\n"
            f"{'':{width}}{'pixel':>7}{'class':>7}{'IoU':>7}{'texture':>8}{'L1':>6} | {'pixel':>7}{'class':>7}{'IoU':>7}"
        )
        lines.append(head)
        for label, name, key in rows:
            r = results.get(key)
            ours = (
                f"{_fmt(r['pixel_accuracy']):>7}{_fmt(r['class_accuracy']):>7}{_fmt(r['class_iou']):>7}"
                f"{r['texture']:>8.2f}{r['l1']:>6.3f}"
                if r
                else f"{'not run':>35}"
            )
            paper = "".join(f"{_fmt(v):>7}" for v in PAPER[t][name])
            lines.append(f"{label:<{width}}{ours} | {paper}")
        lines.append("")
    return "\n".join(lines)


def ordering_checks(results):
    """The paper's orderings, measured on pixel accuracy (and IoU): dict name -> bool or None."""

    def above(a, b):
        if a not in results or b not in results:
            return None
        ra, rb = results[a], results[b]
        return bool(ra["pixel_accuracy"] > rb["pixel_accuracy"] and ra["class_iou"] > rb["class_iou"])

    return {
        "L1+cGAN above L1 (Table 1)": above("l1_cgan", "l1"),
        "70x70 above 1x1 (Table 3)": above("l1_cgan", "pg1"),
        "70x70 above 286x286 (Table 3)": above("l1_cgan", "pg286"),
        "U-Net L1+cGAN above encoder-decoder L1+cGAN (Table 2)": above("l1_cgan", "ed_l1_cgan"),
    }


def format_checks(checks):
    words = {True: "yes", False: "NO", None: "not run"}
    return "\n".join(f"  {name}: {words[v]}" for name, v in checks.items())


# ------------------------------------------------------------------------------------------- run
def versions():
    import keras

    out = {"python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend()}
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    if keras.backend.backend() == "jax":
        import jax

        out["jax"] = jax.__version__
    return out


def run(
    size=32,
    steps=None,
    tiny=False,
    tables=(1, 3),
    out=None,
    seed=0,
    n_train=None,
    n_test=None,
    batch=None,
    variants=None,
    verbose=None,
):
    """Train the variants of `tables`, score them and the ground truth; return the results dict.

    size: image size (32, 64, 128, 256); tiny: the CI configuration (32 px, tiny nets, 3 steps,
    run eagerly: a few steps cost less than tracing the step). steps, n_train, n_test, batch:
    override the size's settings. variants: train only these keys of VARIANTS (default: every row
    of the tables; rows not run print as such). out: folder for results.json, tables.md,
    samples.png (None: nothing written). verbose: Keras fit verbosity (None: a progress bar on a
    terminal, one line per log epoch otherwise).
    """
    import keras
    from tqdm.auto import tqdm

    from i2ilab.metrics import segmenter, train_segmenter

    if tiny:
        settings = dict(TINY)
        size = settings.pop("size")
    else:
        if size not in SETTINGS:
            raise ValueError(f"--size {size}: choose one of {SIZES}.")
        settings = dict(SETTINGS[size])
    for name, value in (("steps", steps), ("n_train", n_train), ("n_test", n_test), ("batch", batch)):
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} {value}: must be at least 1.")
            settings[name] = int(value)
    if settings["n_train"] < settings["batch"]:
        raise ValueError(f"--n-train {settings['n_train']} is smaller than the batch {settings['batch']}.")
    tables = tuple(sorted(set(tables)))
    if not tables or any(t not in ROWS for t in tables):
        raise ValueError(f"--tables {tables}: choose from 1, 2, 3.")
    keys = variants_for(tables)
    if variants is not None:
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"--variants {','.join(unknown)}: unknown; choose from {', '.join(VARIANTS)}.")
        keys = [key for key in VARIANTS if key in variants]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    started = time.time()
    print(
        f"pix2pix tables {tables} at {size}x{size}: {len(keys)} variants x {settings['steps']} steps "
        f"(batch {settings['batch']}), settings {settings}",
        flush=True,
    )

    train, test = load_data(size, settings["n_train"], settings["n_test"], seed)
    print(f"FCN segmenter: training on {len(train['B'])} real photos", flush=True)
    keras.utils.set_random_seed(seed)
    t0 = time.time()
    seg = train_segmenter(
        train["B"],
        train["labels"],
        NUM_CLASSES,
        model=segmenter(NUM_CLASSES, width=settings["seg_width"], depth=settings["seg_depth"]),
        epochs=settings["seg_epochs"],
        batch_size=16,
        learning_rate=2e-3,
        verbose=verbose,
    )
    segmenter_seconds = time.time() - t0
    real_energy = high_frequency_energy(test["B"])
    results = {"real": score(seg, test["B"], test, real_energy)}
    print(
        f"ground truth: pixel accuracy {results['real']['pixel_accuracy']:.3f}, "
        f"class IoU {results['real']['class_iou']:.3f}",
        flush=True,
    )

    outputs = {}
    epochs = _log_epochs(settings["steps"])
    for index, key in enumerate(tqdm(keys, desc="variants", unit="variant")):
        variant = VARIANTS[key]
        t0 = time.time()
        trainer, d_info = build_trainer(
            variant, settings, size, seed * 1000 + list(VARIANTS).index(key), run_eagerly=tiny
        )
        tqdm.write(f"[{index + 1}/{len(keys)}] {key}: {variant}" + (f", D {d_info}" if d_info else ""))
        # Fresh batches per variant: every variant sees the same batches, whichever others run.
        batches = train_batches(train["A"], train["B"], settings["batch"], seed)
        history = trainer.fit(batches, epochs=epochs, steps_per_epoch=settings["steps"] // epochs, verbose=verbose)
        fakes = translate_all(trainer, test["A"], settings["batch"])
        outputs[key] = fakes
        results[key] = score(seg, fakes, test, real_energy)
        results[key].update(
            variant=dataclasses.asdict(variant),
            discriminator=d_info,
            final_losses={k: float(v[-1]) for k, v in history.history.items()},
            train_seconds=time.time() - t0,
        )
        tqdm.write(
            f"    pixel accuracy {results[key]['pixel_accuracy']:.3f}, class IoU {results[key]['class_iou']:.3f}, "
            f"texture {results[key]['texture']:.2f}, {results[key]['train_seconds']:.0f} s"
        )
        del trainer
        keras.backend.clear_session()

    summary = {
        "experiment": "pix2pix_tables",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "image_size": size,
        "tiny": bool(tiny),
        "tables": list(tables),
        "seed": seed,
        "settings": settings,
        "discriminator_layers": {str(k): v for k, v in discriminator_layers(size).items()},
        "versions": versions(),
        "segmenter_seconds": segmenter_seconds,
        "wall_seconds": time.time() - started,
        "results": results,
        "checks": ordering_checks(results),
        "paper": {str(t): {name: list(v) for name, v in PAPER[t].items()} for t in tables},
        "classes": ["background", "wall", "window", "bush", "road", "pole"],
    }
    summary["tables_text"] = format_tables(results, tables, size)
    if out is not None:
        write_outputs(pathlib.Path(out), summary, test, outputs)
    return summary


def write_outputs(out, summary, test, outputs):
    """results.json, tables.md and samples.png (input, each variant, target for 8 test images)."""
    from i2ilab.viz import save_grid

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    (out / "tables.md").write_text(
        f"# pix2pix tables, {summary['image_size']}x{summary['image_size']} ({summary['date']})\n\n```\n"
        f"{summary['tables_text']}\nOrderings of the paper:\n{format_checks(summary['checks'])}\n```\n"
    )
    columns = {"labels": test["A"], **outputs, "real": test["B"]}
    save_grid(columns, out / "samples.png", max_rows=8)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments.pix2pix_tables",
        description="Reproduce pix2pix Tables 1-3 (FCN-scores) on the synthetic labels -> photo set.",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=32,
        choices=SIZES,
        help="image size (default 32: CPU-sized; 64 keeps Table 3's receptive fields apart; "
        "256 for a GPU run at the paper's size)",
    )
    parser.add_argument("--steps", type=int, default=None, help="training steps per variant (default: per size)")
    parser.add_argument("--tiny", action="store_true", help="CI smoke configuration: 32 px, tiny nets, 3 steps")
    parser.add_argument("--tables", default="1,3", help="tables to reproduce, e.g. 1,3 (default) or 1,2,3")
    parser.add_argument("--out", default=None, help="folder for results.json, tables.md, samples.png")
    parser.add_argument(
        "--variants",
        default=None,
        help=f"train only these variants (comma-separated: {','.join(VARIANTS)}); default: every row",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=None, help="training images (default: per size)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default: per size)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: per size)")
    args = parser.parse_args(argv)
    try:
        args.tables = tuple(int(t) for t in args.tables.split(",") if t.strip())
    except ValueError:
        parser.error(f"--tables {args.tables!r}: give table numbers separated by commas, e.g. 1,2,3.")
    if args.variants is not None:
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = run(
            args.size,
            args.steps,
            args.tiny,
            args.tables,
            args.out,
            args.seed,
            args.n_train,
            args.n_test,
            args.batch,
            args.variants,
        )
    except ValueError as err:
        print(f"pix2pix_tables: error: {err}", file=sys.stderr)
        return 2
    print()
    print(summary["tables_text"])
    print("Orderings of the paper (pixel accuracy and class IoU both higher):")
    print(format_checks(summary["checks"]))
    print(f"wall time {summary['wall_seconds']:.0f} s ({summary['versions']})")
    if args.out:
        print(f"written: {args.out}/results.json, tables.md, samples.png")
    compact = {k: v for k, v in summary.items() if k != "tables_text"}
    print(json.dumps(compact, separators=(",", ":"), default=_json_default))
    return 0


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
