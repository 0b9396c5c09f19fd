"""Slide figures from training runs: loss curves, samples over training, ablation grids (PNG).

A run is a folder written by ``i2ilab train`` (or by a lab that uses the same callbacks):
``log.csv`` (``i2ilab.callbacks.CSVLog``), ``samples/epoch_NNNN.png``
(``i2ilab.callbacks.SampleGrid``) and, once training finished, the networks (``config.json`` +
``<name>.keras``) or at least ``checkpoints/``.

::

    # one figure set per run: NAME_losses.png, NAME_progress.png
    python course/demos/make_figures.py runs/demo_pix2pix runs/demo_cyclegan --out figures
    # an ablation: the same test inputs through every run's generator, and the curves overlaid
    python course/demos/make_figures.py --out figures/patchgan \\
        --ablation "1x1=runs/d0" "16x16=runs/d1" "70x70=runs/d3" "286x286=runs/d5"
    # no runs yet: train tiny PatchGAN-ablation runs on synthetic data first (a minute or two)
    python course/demos/make_figures.py --smoke --out figures/smoke

Figures:

- ``NAME_losses.png``: one panel per logged loss against the epoch (``i2ilab.viz.plot_losses``).
- ``NAME_progress.png``: the run's sample grids (fixed test examples) at up to ``--epochs-shown``
  epochs, first to last, side by side, each titled with its epoch.
- ``ablation_grid.png``: rows = test examples; columns = input, one per run (its final
  generator), target. Runs whose networks cannot be loaded contribute their last sample grid
  instead (``ablation_samples.png``: the grids side by side, titled with the labels).
- ``ablation_losses.png``: one panel per loss the runs share, one line per run.
"""

import argparse
import math
import pathlib
import sys

import numpy as np

#: Tiny PatchGAN-depth ablation of ``--smoke`` (n_layers of the discriminator; pix2pix Table 3).
SMOKE_DEPTHS = (0, 1, 3)
SMOKE_ARGS = "--image-size 32 --ngf 8 --ndf 8 --n-train 32 --batch-size 8 --epochs 3 --samples 3 --quiet".split()


# ------------------------------------------------------------------------------- reading runs
def read_log(run):
    """(epochs 1-based, {name: values}) of ``run/log.csv``, without the learning rate."""
    from i2ilab import viz

    epochs, series = viz.history_dict(pathlib.Path(run) / "log.csv")
    return epochs, {k: v for k, v in series.items() if k != "lr"}


def sample_files(run):
    """``run/samples/epoch_NNNN.png`` files as a list of (epoch, path), by epoch."""
    folder = pathlib.Path(run) / "samples"
    files = []
    for path in folder.glob("epoch_*.png"):
        try:
            files.append((int(path.stem.split("_")[1]), path))
        except (IndexError, ValueError):
            continue
    return sorted(files)


def _read_png(path):
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def pick_evenly(items, k):
    """Up to ``k`` items spread evenly from the first to the last (both kept)."""
    if len(items) <= k:
        return list(items)
    idx = sorted({int(round(i * (len(items) - 1) / (k - 1))) for i in range(k)}) if k > 1 else [len(items) - 1]
    return [items[i] for i in idx]


def titled_row(images, titles, pad=8, font_size=18):
    """uint8 images side by side (bottom-padded to one height), each with a title above."""
    from PIL import Image, ImageDraw, ImageFont

    strip = font_size + 10
    height = max(im.shape[0] for im in images) + strip
    width = sum(im.shape[1] for im in images) + pad * (len(images) + 1)
    canvas = Image.new("RGB", (width, height + pad), "white")
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        font = ImageFont.load_default()
    x = pad
    for im, title in zip(images, titles, strict=False):
        canvas.paste(Image.fromarray(im), (x, strip))
        tw = draw.textlength(title, font=font)
        draw.text((x + (im.shape[1] - tw) / 2, 4), title, fill=(0, 0, 0), font=font)
        x += im.shape[1] + pad
    return np.asarray(canvas)


# ------------------------------------------------------------------------------------ figures
def loss_figure(run, path, title=None):
    """``run``'s losses, one panel each, written to ``path``."""
    from i2ilab import viz

    epochs, series = read_log(run)
    viz.plot_losses({"epoch": epochs - 1, **series}, path, title=title or pathlib.Path(run).name)
    return path


def progress_figure(run, path, k=4):
    """``run``'s sample grids at up to ``k`` epochs (first .. last) side by side."""
    from i2ilab import viz

    files = sample_files(run)
    if not files:
        raise FileNotFoundError(f"{run}: no samples/epoch_*.png (written by i2ilab train's SampleGrid).")
    chosen = pick_evenly(files, k)
    row = titled_row([_read_png(p) for _, p in chosen], [f"epoch {e}" for e, _ in chosen])
    return viz.save_image(path, row)


def overlay_losses(runs, path, title=None):
    """One panel per loss shared by all ``runs`` ({label: folder}), a line per run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    logs = {label: read_log(folder) for label, folder in runs.items()}
    keys = [k for k in next(iter(logs.values()))[1] if all(k in s for _, s in logs.values())]
    if not keys:
        raise ValueError(f"overlay_losses: the runs {list(runs)} log no loss in common.")
    ncols = min(4, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.8 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for label, (epochs, series) in logs.items():
            ax.plot(epochs[: len(series[key])], series[key], marker="o", ms=3, label=label)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


# -------------------------------------------------------------------- ablations with networks
def load_run(run):
    """(config, trainer) of a finished or interrupted ``i2ilab train`` run (its networks)."""
    from i2ilab import inference
    from i2ilab.errors import UsageError

    try:
        trainer, config = inference.load_trainer(run)
    except UsageError as err:
        raise ValueError(f"{run}: {err}") from err
    return config, trainer


def example_batch(config, n):
    """(inputs, targets) of ``n`` fixed test examples for a run's data, in [-1, 1].

    The built-in synthetic sets are regenerated (``i2ilab.data.synthetic.generate``); a folder
    dataset is read with the library loaders in file order, without jitter. Colorization:
    inputs are L / 50 - 1 (1 channel), targets RGB.
    """
    from i2ilab import color, data, recipes
    from i2ilab.data import synthetic

    model, size, spec = config["model"], config["image_size"], config.get("data", "synthetic")
    if spec == "synthetic":
        name = recipes.SYNTHETIC[model]
        if model == "pix2pix":
            d = synthetic.generate(name, n, size, split="test")
            return d["A"], d["B"]
        if model == "colorize":
            rgb = synthetic.generate(name, n, size, split="test")["rgb"]
            return color.rgb_to_l_ab_np(rgb)[0], rgb
        d = synthetic.generate(name, n, size, split="testA")
        return d["A"], d["B"]
    loader = recipes.dataset_loader(model)
    for split in ("test", "val", "train"):
        try:
            ds = loader(
                spec,
                split=split,
                image_size=size,
                load_size=size,
                jitter=False,
                batch_size=n,
                shuffle=False,
                cache=False,
            )
            x, y = next(iter(ds))
            break
        except (data.DataError, StopIteration):
            continue
    else:
        raise FileNotFoundError(f"{spec}: found no test images for the ablation grid.")
    x, y = np.asarray(x), np.asarray(y)
    if model == "colorize":
        from keras import ops

        y = np.asarray(ops.convert_to_numpy(data.l_ab_to_rgb(x, y)))
    return x, y


def translate(config, trainer, x, seed=0):
    """A run's translation of ``x`` (numpy, [-1, 1]); MUNIT uses fixed N(0, I) styles."""
    if config["model"] == "munit":
        return trainer.translate(x, seed=seed)
    return trainer.translate(x)


def ablation_figures(runs, out, n=4):
    """Ablation figures of ``runs`` ({label: folder}) into ``out``; returns the paths written."""
    from i2ilab import viz

    out = pathlib.Path(out)
    written = []
    try:
        written.append(overlay_losses(runs, out / "ablation_losses.png", title="ablation"))
    except (FileNotFoundError, ValueError) as err:
        print(f"make_figures: no ablation_losses.png ({err}).")
    loaded, missing = {}, []
    for label, folder in runs.items():
        try:
            loaded[label] = load_run(folder)
        except Exception as err:  # no networks: fall back to the sample grids
            print(f"make_figures: {folder}: no networks to load ({err}); using its samples.")
            missing.append(label)
    configs = [c for c, _ in loaded.values()]
    same = len({(c["model"], c["image_size"], c.get("data")) for c in configs}) == 1
    if loaded and not missing and same:
        x, y = example_batch(configs[0], n)
        columns = {"input": x if x.shape[-1] != 1 else np.repeat(x, 3, axis=-1)}
        for label, (config, trainer) in loaded.items():
            columns[label] = translate(config, trainer, x)
        columns["target"] = y
        written.append(viz.save_grid(columns, out / "ablation_grid.png", max_rows=n))
    else:
        if loaded and not same:
            print("make_figures: the runs differ in model, image size or data; using their samples.")
        grids, labels = [], []
        for label, folder in runs.items():
            files = sample_files(folder)
            if files:
                grids.append(_read_png(files[-1][1]))
                labels.append(f"{label} (epoch {files[-1][0]})")
        if not grids:
            raise FileNotFoundError(f"ablation: none of {list(runs.values())} has networks or samples.")
        written.append(viz.save_image(out / "ablation_samples.png", titled_row(grids, labels)))
    return written


def run_figures(run, out, k=4):
    """``NAME_losses.png`` and ``NAME_progress.png`` of one run; returns the paths written."""
    run, out = pathlib.Path(run), pathlib.Path(out)
    name = run.name
    written = []
    if (run / "log.csv").is_file():
        written.append(loss_figure(run, out / f"{name}_losses.png", title=name))
    if sample_files(run):
        written.append(progress_figure(run, out / f"{name}_progress.png", k))
    if not written:
        raise FileNotFoundError(
            f"{run}: neither log.csv nor samples/epoch_*.png; is it an `i2ilab train --out` folder?"
        )
    return written


# ----------------------------------------------------------------------------------- smoke runs
def smoke_runs(out):
    """Train the tiny PatchGAN-depth ablation on synthetic labels2photo into ``out/runs``;
    returns {label: folder}."""
    from demo_widgets import run_i2ilab

    from i2ilab.models.patchgan import receptive_field

    runs = {}
    for depth in SMOKE_DEPTHS:
        folder = pathlib.Path(out) / "runs" / f"pix2pix_d{depth}"
        rf = receptive_field(depth)
        label = f"D {rf}x{rf}"
        if not (folder / "config.json").is_file():
            argv = [
                "train",
                "pix2pix",
                "--data",
                "synthetic",
                *SMOKE_ARGS,
                "--n-layers-d",
                str(depth),
                "--out",
                str(folder),
            ]
            if (folder / "checkpoints").is_dir():
                argv.append("--resume")
            print("make_figures: i2ilab " + " ".join(argv), flush=True)
            status = run_i2ilab(argv)
            if status != 0:
                raise RuntimeError(f"make_figures --smoke: training {folder} failed (exit {status}).")
        runs[label] = folder
    return runs


def parse_ablation(specs):
    """``["LABEL=FOLDER", ...]`` -> {label: Path}; a bare FOLDER is labelled by its name."""
    runs = {}
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep:
            label, folder = pathlib.Path(spec).name, spec
        if label in runs:
            raise ValueError(f"--ablation: label {label!r} given twice.")
        runs[label] = pathlib.Path(folder)
    return runs


def build_parser():
    parser = argparse.ArgumentParser(
        description="Slide figures (PNG) from i2ilab training runs: loss curves, samples over training, ablation grids."
    )
    parser.add_argument("runs", nargs="*", help="i2ilab train --out folders (one figure set each)")
    parser.add_argument(
        "--ablation",
        nargs="+",
        default=[],
        metavar="LABEL=RUN",
        help="runs to compare on the same inputs (two or more)",
    )
    parser.add_argument("--out", default="figures", help="output folder (default: figures)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="first train tiny PatchGAN-depth runs on synthetic data into OUT/runs "
        "and use them (a minute or two on a CPU)",
    )
    parser.add_argument("--epochs-shown", type=int, default=4, help="sample grids per progress figure")
    parser.add_argument("--examples", type=int, default=4, help="rows of the ablation grid")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    runs = list(args.runs)
    try:
        ablation = parse_ablation(args.ablation)
    except ValueError as err:
        parser.error(str(err))
    if args.smoke:
        ablation = {**smoke_runs(args.out), **ablation}
        runs += [str(p) for p in ablation.values()]
    if not runs and not ablation:
        parser.error("give run folders, --ablation LABEL=RUN ..., or --smoke.")
    if len(ablation) == 1:
        parser.error("--ablation compares two or more runs.")
    out = pathlib.Path(args.out)
    written = []
    for run in runs:
        written += run_figures(run, out, args.epochs_shown)
    if ablation:
        written += ablation_figures(ablation, out, args.examples)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
