"""The logic behind the lecture demos (``course/demos/lecture_demos.ipynb``).

Three demos, each a small class that keeps its state in NumPy arrays, turns that state into
images with plain methods, and builds its ipywidgets only when ``widget()`` is called. The
widgets' callbacks are these methods, so tests (and a lecturer at a Python prompt) can drive a
demo without a browser:

- :class:`LabelMapDemo` (pix2pix, Isola et al. 2017): paint a label map on a grid of cells,
  place shapes, pick an example or upload an image; the generator's output follows every edit.
- :class:`StyleDemo` (MUNIT, Huang et al. 2018): one input, a slider per style dimension, a
  random-style button, a style taken from an example, and a gallery of many random styles.
- :class:`BeforeAfterDemo` (CycleGAN, Zhu et al. 2017): input, translation and cycle
  reconstruction side by side, and a before/after wipe.

Models come from ``i2ilab train`` output folders or ``.keras`` files (``i2ilab convert``). Without
any, :func:`fallback_run` trains small models on the built-in synthetic data on the CPU (a few
minutes, once; later runs reuse them), so a demo never needs the network.

Images are NHWC float32 in [-1, 1] (i2ilab's convention) until ``render`` methods turn them into
uint8 panels. This module is course material: the i2ilab library never imports it.
"""

import html
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np

from i2ilab import inference, viz
from i2ilab.data import synthetic

#: Display width in pixels of one image in a panel (images are enlarged by an integer factor).
DISPLAY = 192
#: The tallest an image may be shown (CSS pixels), so that a demo's image and its controls fit
#: one projector screen; every panel here is smaller (the CycleGAN wipe, 316 px, is the tallest).
MAX_HEIGHT = 512

#: ``i2ilab train`` options of the CPU fallback models (32x32, synthetic data). Measured CPU cost
#: is in course/README.md ("Pretraining the demo models").
FALLBACK_ARGS = {
    "pix2pix": "--image-size 32 --ngf 32 --ndf 32 --batch-size 16 --n-train 512 --epochs 15 --sample-every 5".split(),
    "cyclegan": "--image-size 32 --ngf 16 --ndf 16 --batch-size 4 --n-train 512 --epochs 3".split(),
    "munit": "--image-size 32 --ngf 16 --ndf 16 --batch-size 4 --n-train 512 --epochs 2".split(),
}
#: Seconds-long stand-ins for tests and headless smoke runs (I2ILAB_SMOKE=1): untrained-looking
#: output, the same code path.
SMOKE_ARGS = {
    model: ["--image-size", "32", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--n-train", "16", "--epochs", "1"]
    for model in ("pix2pix", "cyclegan", "munit")
}
#: Bumped when FALLBACK_ARGS change, so a cached fallback run is not reused by mistake.
FALLBACK_VERSION = 1
#: The training log of a fallback model trained from a notebook, in its run folder.
TRAIN_LOG = "train.log"

#: The repository root: relative model paths in the notebook's parameter cell start here.
REPO = pathlib.Path(__file__).resolve().parents[2]

PALETTE = np.asarray(synthetic.PHOTO_LABEL_COLORS, np.uint8)
CLASS_NAMES = tuple(synthetic.PHOTO_CLASSES)


# ------------------------------------------------------------------------------------ helpers
def png_bytes(image):
    """uint8 (H, W, 3) array -> PNG file bytes (for ipywidgets.Image)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="png")
    return buf.getvalue()


def show_image(image_widget, image, max_height=MAX_HEIGHT):
    """Show a uint8 (H, W, 3) panel in an ``ipywidgets.Image`` at its true aspect ratio: the
    widget's layout is fixed to the panel's size in CSS pixels (scaled down to ``max_height``
    if taller), so neither a flex row nor the notebook's width stretches it."""
    image = np.asarray(image, np.uint8)
    h, w = image.shape[:2]
    scale = min(1.0, max_height / h)
    image_widget.value = png_bytes(image)
    layout = image_widget.layout
    layout.width, layout.height = f"{round(w * scale)}px", f"{round(h * scale)}px"
    layout.object_fit, layout.flex, layout.align_self = "contain", "0 0 auto", "flex-start"


def button_width(labels, char_px=9, padding_px=24):
    """Width in CSS pixels of a toggle button that shows the longest of ``labels`` whole."""
    return char_px * max(len(str(label)) for label in labels) + padding_px


def panel(columns, display=DISPLAY, titles=True):
    """One row of named images ``{title: (H, W, C) in [-1, 1]}`` -> uint8 panel, each image
    enlarged (nearest neighbour) to about ``display`` pixels wide."""
    width = next(iter(columns.values())).shape[-2]
    scale = max(1, int(round(display / width)))
    return viz.image_grid({k: np.asarray(v)[None] for k, v in columns.items()}, scale=scale, titles=titles)


def _numpy(x):
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x), np.float32)


def _input_size(net, default=256):
    """Square input size of a network; ``default`` (the references' 256) if it has none."""
    if hasattr(net, "style_dim"):  # MUNITGenerator, a subclassed model
        return net.image_size or default
    shape = net.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    return shape[1] or default


def resize(image, size):
    """(H, W, 3) in [-1, 1] -> (size, size, 3), bicubic via uint8 (as ``i2ilab translate``)."""
    return inference.resize(np.asarray(image, np.float32), size, size)


def image_files(folder):
    """Image files of ``folder`` sorted by name (or ``[folder]`` for a single file)."""
    path = pathlib.Path(folder).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{folder}: no such image file or folder.")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in inference.IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder}: the folder has no images ({', '.join(inference.IMAGE_SUFFIXES)}).")
    return files


def read_examples(folder, size, n=16, half=None):
    """Up to ``n`` images of ``folder`` (sorted by name) as (N, size, size, 3) in [-1, 1].

    ``half``: ``"left"`` or ``"right"`` keeps that half of side-by-side A|B pix2pix images (e.g.
    facades labels are the right half).
    """
    if half not in (None, "left", "right"):
        raise ValueError(f"read_examples: half must be None, 'left' or 'right', got {half!r}.")
    files = image_files(folder)[:n]
    images = []
    for path in files:
        img = inference.read_image(path)
        if half is not None:
            mid = img.shape[1] // 2
            img = img[:, :mid] if half == "left" else img[:, mid:]
        images.append(resize(img, size))
    return np.stack(images)


# ---------------------------------------------------------------------------- loading models
def resolve(spec, root=REPO):
    """A model path from the parameter cell: None stays None, ``~`` is expanded, a relative
    path is taken from the repository root; a list or tuple is resolved item by item."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        return type(spec)(resolve(s, root) for s in spec)
    path = pathlib.Path(spec).expanduser()
    return path if path.is_absolute() else pathlib.Path(root) / path


def in_notebook():
    """True inside a Jupyter kernel (where a child process's output would land in the cell)."""
    return type(sys.stdout).__module__.startswith("ipykernel")


def run_i2ilab(argv, log=None):
    """Run the ``i2ilab`` command (``python -m i2ilab ARGV``) as a user would; returns its exit
    status. ``log``: a file that gets its output (stdout and stderr) instead of the terminal."""
    if log is None:
        return subprocess.run([sys.executable, "-m", "i2ilab", *argv], check=False).returncode
    with open(log, "w") as f:
        return subprocess.run(
            [sys.executable, "-m", "i2ilab", *argv], stdout=f, stderr=subprocess.STDOUT, check=False
        ).returncode


def fallback_run(model, smoke=False, cache_dir=None, quiet=None):
    """The folder of a small ``model`` trained on synthetic data, trained now if not cached.

    Runs ``i2ilab train <model> --data synthetic`` with :data:`FALLBACK_ARGS` (``smoke``:
    :data:`SMOKE_ARGS`) into ``<cache>/demo_runs/<model>-<cpu|smoke>-v<N>``, where ``<cache>`` is
    ``cache_dir`` or ``$I2ILAB_CACHE`` (default ``~/.cache/i2ilab``). A finished run (its
    ``config.json``) is reused; an interrupted one is resumed.
    """
    if model not in FALLBACK_ARGS:
        raise ValueError(f"fallback_run: model must be one of {sorted(FALLBACK_ARGS)}, got {model!r}.")
    base = pathlib.Path(cache_dir) if cache_dir is not None else synthetic.default_cache_dir()
    kind = "smoke" if smoke else "cpu"
    out = base / "demo_runs" / f"{model}-{kind}-v{FALLBACK_VERSION}"
    if (out / "config.json").is_file():
        if not in_notebook():
            print(f"demo: using the cached {model} fallback model in {out}")
        return out
    args = SMOKE_ARGS[model] if smoke else FALLBACK_ARGS[model]
    quiet = smoke if quiet is None else quiet
    argv = ["train", model, "--data", "synthetic", *args, "--out", str(out)]
    if (out / "checkpoints").is_dir():
        argv.append("--resume")
    if quiet:
        argv.append("--quiet")
    print(f"demo: no {model} model given; training a small one on synthetic data: i2ilab {' '.join(argv)}", flush=True)
    log = None
    if in_notebook():  # the cell shows the demo, not the training log (it is kept in train.log)
        out.mkdir(parents=True, exist_ok=True)
        log = out / TRAIN_LOG
    status = run_i2ilab(argv, log=log)
    if status != 0:
        where = f"in {log}" if log else "above"
        raise RuntimeError(
            f"demo: the fallback {model} training stopped with exit status {status}; see the "
            f"messages {where}. Delete {out} to start it again."
        )
    return out


def _load_keras(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .keras file (write one with `i2ilab convert` or `i2ilab train`).")
    return inference.load_keras(path)


def _run_info(folder, config):
    data = config.get("data")
    return {
        "source": str(folder),
        "image_size": config.get("image_size"),
        "data": data,
        "synthetic": data == "synthetic",
    }


def load_pix2pix(spec):
    """(generator, info) from an ``i2ilab train pix2pix`` folder or a generator ``.keras`` file.

    ``info``: source, image_size, data, and ``synthetic`` (trained on the built-in
    labels2photo set, so the painter's palette is the one it knows).
    """
    path = pathlib.Path(spec)
    if path.suffix == ".keras":
        net = _load_keras(path)
        return net, {"source": str(path), "image_size": _input_size(net), "data": None, "synthetic": False}
    nets, config = inference.load_networks(path, ["generator"])
    if config.get("model") != "pix2pix":
        raise ValueError(
            f"PIX2PIX = {spec}: that folder holds a {config.get('model')} model, "
            "not pix2pix; train one with `i2ilab train pix2pix ...`."
        )
    return nets["generator"], _run_info(path, config)


def load_cyclegan(spec):
    """(g_ab, g_ba or None, info) from an ``i2ilab train cyclegan`` folder, or from one
    generator ``.keras`` file (an official CycleGAN model translates one way only)."""
    path = pathlib.Path(spec)
    if path.suffix == ".keras":
        net = _load_keras(path)
        return net, None, {"source": str(path), "image_size": _input_size(net), "data": None, "synthetic": False}
    nets, config = inference.load_networks(path, ["g_ab", "g_ba"])
    return nets["g_ab"], nets["g_ba"], _run_info(path, config)


def load_munit(spec):
    """(gen_a, gen_b, info) from an ``i2ilab train munit`` folder or a pair of ``.keras`` files
    (``i2ilab convert ... --domain a`` and ``--domain b``)."""
    if isinstance(spec, (list, tuple)):
        if len(spec) != 2:
            raise ValueError(f"MUNIT = {spec!r}: give a training folder or two .keras files (domain a, domain b).")
        gen_a, gen_b = (_load_keras(p) for p in spec)
        return (
            gen_a,
            gen_b,
            {"source": f"{spec[0]}, {spec[1]}", "image_size": _input_size(gen_a), "data": None, "synthetic": False},
        )
    path = pathlib.Path(spec)
    nets, config = inference.load_networks(path, ["gen_a", "gen_b"])
    return nets["gen_a"], nets["gen_b"], _run_info(path, config)


LOADERS = {"pix2pix": load_pix2pix, "cyclegan": load_cyclegan, "munit": load_munit}


def load_or_train(model, spec=None, smoke=False, cache_dir=None):
    """Load ``model`` from ``spec`` (folder, .keras file or pair; None: the CPU fallback).

    The last item returned is the model's ``info``; for a fallback model it also has
    ``fallback`` ("cpu" or "smoke": the seconds-long, practically untrained stand-in) and ``log``
    (the training log, when the notebook trained it)."""
    if spec is not None:
        return LOADERS[model](spec)
    folder = fallback_run(model, smoke=smoke, cache_dir=cache_dir)
    *nets, info = LOADERS[model](folder)
    log = folder / TRAIN_LOG
    info.update(fallback="smoke" if smoke else "cpu", log=log.read_text() if log.is_file() else None)
    return (*nets, info)


# ----------------------------------------------------------------------------------- pix2pix
class LabelMapDemo:
    """Paint a label map and watch pix2pix translate it (Isola et al. 2017, labels -> photo).

    The label map is an int array (S, S) of class ids at the generator's resolution; the
    generator sees it as the colour-coded image ``palette[labels]`` in [-1, 1], exactly as the
    synthetic labels2photo set encodes it. The painter divides the map into ``grid x grid``
    cells; clicking a cell paints it (and ``brush - 1`` cells around it) with the current class.

    Args:
        generator: keras.Model (1, S, S, 3) -> (1, S, S, 3) in [-1, 1].
        examples: int label maps (N, S, S) to pick from (default: the synthetic test set), or,
            when ``palette`` is None, input images (N, S, S, 3) in [-1, 1].
        palette: (K, 3) uint8 class colours; None turns the painter off (a model trained on
            other labels, e.g. an official facades model: pick or upload inputs instead).
        class_names: K names for the class buttons.
        grid: painter cells per side (S must be a multiple of it).
    """

    SHAPES = ("rectangle", "ellipse")

    def __init__(self, generator, examples=None, palette=PALETTE, class_names=CLASS_NAMES, grid=16, display=DISPLAY):
        self.generator = generator
        self.size = int(_input_size(generator))
        self.palette = None if palette is None else np.asarray(palette, np.uint8)
        self.class_names = tuple(class_names)
        self.display = display
        if self.palette is not None:
            if self.size % grid:
                raise ValueError(
                    f"LabelMapDemo: the image size {self.size} is not a multiple of "
                    f"grid={grid}; pass a grid that divides it."
                )
            self.grid = grid
            self.cell = self.size // grid
        if examples is None:
            if self.palette is None:
                raise ValueError("LabelMapDemo: without a palette, pass examples (input images).")
            examples = synthetic.generate("labels2photo", 8, self.size, split="test")["labels"]
        self.examples = np.asarray(examples)
        self.current_class = 1 if self.palette is not None and len(self.palette) > 1 else 0
        self.brush = 1
        self.labels = None
        self.image = None
        self._widgets = None
        self.load_example(0)

    # state changes (the widgets' callbacks)
    def load_example(self, index):
        """Start from example ``index`` (a label map, or an input image without a palette)."""
        example = self.examples[int(index) % len(self.examples)]
        if self.palette is None:
            self.image = np.asarray(example, np.float32)
        else:
            self.labels = np.asarray(example, np.int32).copy()
        self._changed(all_cells=True)

    def paint(self, row, col):
        """Paint grid cell (row, col), and a square of ``brush`` cells centred on it."""
        self._require_palette("paint")
        r0, c0 = int(row) - (self.brush - 1) // 2, int(col) - (self.brush - 1) // 2
        r1, c1 = r0 + self.brush, c0 + self.brush
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, self.grid), min(c1, self.grid)
        self.labels[r0 * self.cell : r1 * self.cell, c0 * self.cell : c1 * self.cell] = self.current_class
        self._changed(cells=[(r, c) for r in range(r0, r1) for c in range(c0, c1)])

    def place_shape(self, shape, cy, cx, height, width):
        """Draw a filled rectangle or ellipse of the current class; centre and size are
        fractions of the image (0..1), height/width the full extent."""
        self._require_palette("place_shape")
        if shape not in self.SHAPES:
            raise ValueError(f"place_shape: shape must be one of {self.SHAPES}, got {shape!r}.")
        c = (np.arange(self.size) + 0.5) / self.size
        y, x = c[:, None], c[None, :]
        hh, hw = max(height / 2, 0.5 / self.size), max(width / 2, 0.5 / self.size)
        if shape == "rectangle":
            mask = (np.abs(y - cy) <= hh) & (np.abs(x - cx) <= hw)
        else:
            mask = ((y - cy) / hh) ** 2 + ((x - cx) / hw) ** 2 <= 1.0
        self.labels[mask] = self.current_class
        self._changed(all_cells=True)

    def fill(self, cls=None):
        """Fill the whole map with ``cls`` (default: the current class)."""
        self._require_palette("fill")
        self.labels[:] = self.current_class if cls is None else int(cls)
        self._changed(all_cells=True)

    def load_image(self, data):
        """An uploaded image (file bytes, or an array in [-1, 1]): with a palette, each pixel
        becomes the class of the nearest palette colour; without, it is the input as is."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            from PIL import Image

            with Image.open(io.BytesIO(bytes(data))) as img:
                data = np.asarray(img.convert("RGB"), np.float32) / 127.5 - 1.0
        image = resize(np.asarray(data, np.float32), self.size)
        if self.palette is None:
            self.image = image
        else:
            rgb = (image + 1.0) * 127.5
            dist = ((rgb[:, :, None, :] - self.palette[None, None].astype(np.float32)) ** 2).sum(-1)
            self.labels = np.argmin(dist, axis=-1).astype(np.int32)
        self._changed(all_cells=True)

    # images
    def input_image(self):
        """The generator's input (S, S, 3) in [-1, 1]."""
        if self.palette is None:
            return self.image
        return self.palette[self.labels].astype(np.float32) / 127.5 - 1.0

    def translate(self):
        """The generator's output (S, S, 3) in [-1, 1] for the current input (inference mode)."""
        return _numpy(self.generator(self.input_image()[None], training=False))[0]

    def render(self):
        """uint8 panel: the input (label map) and the pix2pix output."""
        name = "label map" if self.palette is not None else "input"
        return panel({name: self.input_image(), "pix2pix output": self.translate()}, self.display)

    def cell_color(self, row, col):
        """Hex colour of a painter cell (its centre pixel's class)."""
        cls = self.labels[row * self.cell + self.cell // 2, col * self.cell + self.cell // 2]
        return "#%02x%02x%02x" % tuple(int(v) for v in self.palette[cls])

    def _require_palette(self, what):
        if self.palette is None:
            raise ValueError(
                f"LabelMapDemo.{what}: this demo has no palette (the painter is off); pick or upload an input instead."
            )

    def _changed(self, cells=(), all_cells=False):
        if self._widgets is None:
            return
        w = self._widgets
        if self.palette is not None:
            if all_cells:
                cells = [(r, c) for r in range(self.grid) for c in range(self.grid)]
            for r, c in cells:
                w["cells"][r * self.grid + c].style.button_color = self.cell_color(r, c)
        show_image(w["view"], self.render())

    # widgets
    def widget(self):
        """The demo's ipywidgets (built once): painter grid, class and shape tools, output."""
        if self._widgets is not None:
            return self._widgets["box"]
        import ipywidgets as W

        view = W.Image(format="png")
        w = {"view": view}
        self._widgets = w
        example = W.Dropdown(
            options=[(f"example {i + 1}", i) for i in range(len(self.examples))], description="start from", value=0
        )
        example.observe(lambda ch: self.load_example(ch["new"]), names="value")
        upload = W.FileUpload(accept="image/*", multiple=False, description="upload image")

        def on_upload(change):
            files = change["new"]
            if files:
                self.load_image(files[0]["content"])

        upload.observe(on_upload, names="value")
        w.update(example=example, upload=upload)
        tools = [example, upload]
        if self.palette is not None:
            classes = W.ToggleButtons(
                options=[(n, i) for i, n in enumerate(self.class_names)],
                value=self.current_class,
                description="class",
                style={"button_width": f"{button_width(self.class_names)}px"},
            )
            classes.observe(lambda ch: setattr(self, "current_class", ch["new"]), names="value")
            brush = W.IntSlider(value=1, min=1, max=4, description="brush")
            brush.observe(lambda ch: setattr(self, "brush", ch["new"]), names="value")
            cells = []
            for r in range(self.grid):
                for c in range(self.grid):
                    b = W.Button(layout=W.Layout(width="16px", height="16px", padding="0", margin="0", border="0"))
                    b.style.button_color = self.cell_color(r, c)
                    b.on_click(lambda _b, r=r, c=c: self.paint(r, c))
                    cells.append(b)
            board = W.GridBox(
                cells, layout=W.Layout(grid_template_columns=f"repeat({self.grid}, 16px)", grid_gap="1px")
            )
            shape = W.Dropdown(options=self.SHAPES, description="shape")
            sliders = {
                k: W.FloatSlider(value=v, min=0.0, max=1.0, step=0.05, description=k)
                for k, v in (("centre y", 0.5), ("centre x", 0.5), ("height", 0.3), ("width", 0.3))
            }
            add = W.Button(description="place shape", icon="plus")
            add.on_click(
                lambda _b: self.place_shape(
                    shape.value,
                    sliders["centre y"].value,
                    sliders["centre x"].value,
                    sliders["height"].value,
                    sliders["width"].value,
                )
            )
            clear = W.Button(description="fill with class", icon="fill")
            clear.on_click(lambda _b: self.fill())
            w.update(
                classes=classes,
                brush=brush,
                cells=cells,
                shape=shape,
                add=add,
                clear=clear,
                **{f"slider_{k}": s for k, s in sliders.items()},
            )
            tools = [classes, brush, W.HBox([shape, add, clear]), *sliders.values(), *tools]
            left = W.VBox([board])
        else:
            left = W.VBox([])
        box = W.VBox([W.VBox(tools), W.HBox([left, view])])
        box.add_class("i2ilab-pix2pix")
        view.add_class("i2ilab-view")
        w["box"] = box
        self._changed(all_cells=True)
        return box


# ------------------------------------------------------------------------------------- MUNIT
class StyleDemo:
    """One content, many styles (MUNIT, Huang et al. 2018, Sec. 3): the input's content code
    (``gen_a.encode``) decoded by ``gen_b`` with a style code you choose.

    The style code has ``style_dim`` dimensions drawn from N(0, I) in training; each gets a
    slider. ``random_style`` draws a new code, ``style_from_example`` takes the code of a target
    domain image (example-guided translation), ``gallery`` decodes the input with many random
    codes at once.

    Args:
        gen_a, gen_b: MUNIT generators (``encode``, ``decode``, ``style_dim``).
        images_a: (N, S, S, 3) inputs in [-1, 1]; images_b: optional style examples.
        n_gallery: random styles in the gallery.
    """

    def __init__(self, gen_a, gen_b, images_a, images_b=None, n_gallery=6, seed=0, display=DISPLAY):
        self.gen_a, self.gen_b = gen_a, gen_b
        self.style_dim = int(gen_b.style_dim)
        self.images_a = np.asarray(images_a, np.float32)
        self.images_b = None if images_b is None else np.asarray(images_b, np.float32)
        self.n_gallery = int(n_gallery)
        self.display = display
        self._rng = np.random.default_rng(seed)
        self.style = self._rng.standard_normal(self.style_dim).astype(np.float32)
        self.gallery_styles = self._rng.standard_normal((self.n_gallery, self.style_dim)).astype(np.float32)
        self._widgets = None
        self._updating = False
        self.set_input(0)

    def set_input(self, index):
        """Choose the input image; its content code is computed once here."""
        self.index = int(index) % len(self.images_a)
        content, _ = self.gen_a.encode(self.images_a[self.index][None], training=False)
        self._content = content
        self._changed(gallery=True)

    def set_style_value(self, dim, value):
        """Set one dimension of the style code (a slider)."""
        self.style = self.style.copy()
        self.style[int(dim)] = float(value)
        self._changed()

    def random_style(self):
        """A fresh style code from N(0, I), the prior MUNIT samples from."""
        self.style = self._rng.standard_normal(self.style_dim).astype(np.float32)
        self._changed(sliders=True)

    def style_from_example(self, index):
        """The style code of target-domain example ``index`` (``gen_b``'s style encoder)."""
        if self.images_b is None:
            raise ValueError("StyleDemo.style_from_example: no style examples (images_b) given.")
        _, code = self.gen_b.encode(self.images_b[int(index) % len(self.images_b)][None], training=False)
        self.style = _numpy(code)[0]
        self._changed(sliders=True)

    def new_gallery(self):
        """Draw new random styles for the gallery."""
        self.gallery_styles = self._rng.standard_normal((self.n_gallery, self.style_dim)).astype(np.float32)
        self._changed(gallery=True)

    def decode(self, styles):
        """The current content decoded with each style code (K, style_dim) -> (K, S, S, 3)."""
        from keras import ops

        styles = np.asarray(styles, np.float32).reshape(-1, self.style_dim)
        content = ops.repeat(self._content, styles.shape[0], axis=0)
        return _numpy(self.gen_b.decode(content, styles, training=False))

    def output(self):
        """The input in the current style, (S, S, 3) in [-1, 1]."""
        return self.decode(self.style[None])[0]

    def render(self):
        """uint8 panel: input and output with the current style."""
        return panel({"input": self.images_a[self.index], "output": self.output()}, self.display)

    def gallery(self):
        """uint8 panel: the input and ``n_gallery`` random styles of it."""
        outs = self.decode(self.gallery_styles)
        columns = {"input": self.images_a[self.index]}
        columns.update({f"style {k + 1}": outs[k] for k in range(len(outs))})
        return panel(columns, self.display * 2 // 3)

    def _changed(self, sliders=False, gallery=False):
        if self._widgets is None:
            return
        w = self._widgets
        if sliders:
            self._updating = True
            try:
                for k, s in enumerate(w["sliders"]):
                    s.value = float(np.clip(self.style[k], s.min, s.max))
            finally:
                self._updating = False
        show_image(w["view"], self.render())
        if gallery:
            show_image(w["gallery"], self.gallery())

    def _on_slider(self, k, value):
        if not self._updating:
            self.set_style_value(k, value)

    def widget(self):
        """The demo's ipywidgets: input picker, one slider per style dimension, buttons, views."""
        if self._widgets is not None:
            return self._widgets["box"]
        import ipywidgets as W

        view, gallery = W.Image(format="png"), W.Image(format="png")
        picker = W.IntSlider(
            value=self.index, min=0, max=len(self.images_a) - 1, description="input", continuous_update=False
        )
        picker.observe(lambda ch: self.set_input(ch["new"]), names="value")
        sliders = []
        for k in range(self.style_dim):
            s = W.FloatSlider(
                value=float(np.clip(self.style[k], -3, 3)),
                min=-3.0,
                max=3.0,
                step=0.1,
                description=f"style[{k}]",
                continuous_update=False,
            )
            s.observe(lambda ch, k=k: self._on_slider(k, ch["new"]), names="value")
            s.add_class("i2ilab-style-slider")
            sliders.append(s)
        rand = W.Button(description="random style", icon="random")
        rand.on_click(lambda _b: self.random_style())
        more = W.Button(description="new gallery", icon="th")
        more.on_click(lambda _b: self.new_gallery())
        controls = [picker, W.HBox([rand, more])]
        w = {"view": view, "gallery": gallery, "picker": picker, "sliders": sliders, "random": rand, "more": more}
        if self.images_b is not None:
            example = W.Dropdown(
                options=[("-", None)] + [(f"example {i + 1}", i) for i in range(len(self.images_b))],
                description="style of",
            )
            example.observe(lambda ch: ch["new"] is not None and self.style_from_example(ch["new"]), names="value")
            controls.append(example)
            w["example"] = example
        box = W.VBox([W.HBox([W.VBox(controls + sliders), view]), gallery])
        box.add_class("i2ilab-munit")
        view.add_class("i2ilab-view")
        w["box"] = box
        self._widgets = w
        self._changed(gallery=True)
        return box


# ---------------------------------------------------------------------------------- CycleGAN
def wipe(before, after, fraction, line=True):
    """Before/after composite: columns left of ``fraction * W`` from ``before``, the rest from
    ``after`` (both (H, W, C) in [-1, 1]); a white line marks the cut."""
    before, after = np.asarray(before, np.float32), np.asarray(after, np.float32)
    cut = int(round(float(np.clip(fraction, 0.0, 1.0)) * before.shape[1]))
    out = after.copy()
    out[:, :cut] = before[:, :cut]
    if line and 0 < cut < before.shape[1]:
        out[:, cut] = 1.0
    return out


class BeforeAfterDemo:
    """CycleGAN before and after (Zhu et al. 2017): the input, its translation G(x) and the
    cycle reconstruction F(G(x)) (which the cycle loss keeps close to x), plus a wipe.

    Args:
        g_ab, g_ba: generators A -> B and B -> A (``g_ba`` None: one direction, no cycle).
        images_a, images_b: (N, S, S, 3) inputs in [-1, 1] of each domain (``images_b`` may be
            None with one generator).
        true_b, true_a: optional true counterparts (synthetic day2night: the same scene by night
            for each A image, by day for each B image), shown as "truth".
    """

    def __init__(self, g_ab, g_ba, images_a, images_b=None, true_b=None, true_a=None, display=DISPLAY):
        self.nets = {"AtoB": (g_ab, g_ba), "BtoA": (g_ba, g_ab)}
        self.images = {
            "AtoB": np.asarray(images_a, np.float32),
            "BtoA": None if images_b is None else np.asarray(images_b, np.float32),
        }
        self.truth = {"AtoB": true_b, "BtoA": true_a}
        self.display = display
        self.direction = "AtoB"
        self.index = 0
        self.fraction = 0.5
        self._widgets = None
        self._cache = None

    @property
    def directions(self):
        return [d for d in ("AtoB", "BtoA") if self.nets[d][0] is not None and self.images[d] is not None]

    def set_direction(self, direction):
        if direction not in self.directions:
            raise ValueError(f"BeforeAfterDemo: direction must be one of {self.directions}, got {direction!r}.")
        self.direction = direction
        self.index = min(self.index, len(self.images[direction]) - 1)
        self._cache = None
        self._changed()

    def set_index(self, index):
        self.index = int(index) % len(self.images[self.direction])
        self._cache = None
        self._changed()

    def set_fraction(self, fraction):
        self.fraction = float(fraction)
        self._changed()

    def results(self):
        """(input, translated, reconstructed or None), each (S, S, 3) in [-1, 1]."""
        if self._cache is None:
            forward, backward = self.nets[self.direction]
            x = self.images[self.direction][self.index]
            fake = _numpy(forward(x[None], training=False))
            rec = None if backward is None else _numpy(backward(fake, training=False))[0]
            self._cache = (x, fake[0], rec)
        return self._cache

    def render(self):
        """uint8 panel: input, translation, reconstruction (and the true counterpart)."""
        x, fake, rec = self.results()
        src, dst = ("A", "B") if self.direction == "AtoB" else ("B", "A")
        columns = {f"input ({src})": x, f"translated ({dst})": fake}
        if rec is not None:
            columns[f"back to {src}"] = rec
        truth = self.truth[self.direction]
        if truth is not None:
            columns["truth"] = np.asarray(truth[self.index], np.float32)
        return panel(columns, self.display)

    def render_wipe(self):
        """uint8 image: the before/after wipe at the current fraction, enlarged."""
        x, fake, _ = self.results()
        return panel({"before | after": wipe(x, fake, self.fraction)}, self.display * 3 // 2)

    def _changed(self):
        if self._widgets is None:
            return
        show_image(self._widgets["view"], self.render())
        show_image(self._widgets["wipe_view"], self.render_wipe())

    def widget(self):
        """The demo's ipywidgets: direction, input picker, wipe slider, the two views."""
        if self._widgets is not None:
            return self._widgets["box"]
        import ipywidgets as W

        view, wipe_view = W.Image(format="png"), W.Image(format="png")
        direction = W.ToggleButtons(options=self.directions, value=self.direction, description="direction")
        picker = W.IntSlider(
            value=self.index,
            min=0,
            max=len(self.images[self.direction]) - 1,
            description="input",
            continuous_update=False,
        )

        def on_direction(change):
            self.set_direction(change["new"])
            picker.max = len(self.images[self.direction]) - 1

        direction.observe(on_direction, names="value")
        picker.observe(lambda ch: self.set_index(ch["new"]), names="value")
        slider = W.FloatSlider(value=self.fraction, min=0.0, max=1.0, step=0.02, description="wipe")
        slider.observe(lambda ch: self.set_fraction(ch["new"]), names="value")
        box = W.VBox([W.HBox([direction, picker]), view, slider, wipe_view])
        box.add_class("i2ilab-cyclegan")
        slider.add_class("i2ilab-wipe")
        wipe_view.add_class("i2ilab-wipe-view")
        self._widgets = {
            "view": view,
            "wipe_view": wipe_view,
            "direction": direction,
            "picker": picker,
            "wipe": slider,
            "box": box,
        }
        self._changed()
        return box


# ------------------------------------------------------------------------ examples for demos
def cyclegan_examples(size, n=8, folder_a=None, folder_b=None, half_a=None, half_b=None):
    """(images_a, images_b, true_b, true_a) for BeforeAfterDemo: the synthetic day2night test
    scenes (with their true counterparts), or images read from folders (no truth; ``half_*``
    as in :func:`read_examples`)."""
    if folder_a is not None:
        b = None if folder_b is None else read_examples(folder_b, size, n, half_b)
        return read_examples(folder_a, size, n, half_a), b, None, None
    day = synthetic.generate("day2night", n, size, split="testA")
    night = synthetic.generate("day2night", n, size, split="testB")
    return day["A"], night["B"], day["B"], night["A"]


def munit_examples(size, n=8, folder_a=None, folder_b=None, half_a=None, half_b=None):
    """(images_a, style examples b) for StyleDemo: synthetic ``styles`` test scenes (domain A:
    day; B: sunset, night, snow, desert), or images read from folders (``half_*`` as in
    :func:`read_examples`, e.g. edges2shoes A|B pairs: edges "left", shoes "right")."""
    if folder_a is not None:
        b = None if folder_b is None else read_examples(folder_b, size, n, half_b)
        return read_examples(folder_a, size, n, half_a), b
    a = synthetic.generate("styles", n, size, split="testA")["A"]
    b = synthetic.generate("styles", n, size, split="testB")["B"]
    return a, b


def describe(info):
    """One line saying where a demo's model came from."""
    data = info.get("data")
    kind = {"cpu": "small CPU fallback model, ", "smoke": "untrained smoke-mode stand-in, "}.get(
        info.get("fallback"), ""
    )
    size = f"{info['image_size']}x{info['image_size']}"
    return f"{info['source']} ({kind}{size}" + (f", trained on {data}" if data else "") + ")"


#: The on-screen note of a demo whose model is the smoke stand-in.
UNTRAINED_NOTE = (
    "Untrained stand-in model (smoke mode, I2ILAB_SMOKE=1): it trained for seconds, so its images are "
    "noise or flat colour, not what the method does. Before the lecture, train the fallback models "
    "with <code>python course/demos/demo_widgets.py</code> (about 5 CPU-minutes) and run the demo "
    "without I2ILAB_SMOKE."
)


def show(demo, info):
    """``demo``'s widget as a lecture shows it (the value of a cell's last line is displayed):
    one line saying which model it runs, the untrained-model note in smoke mode, the demo, and
    the training log folded away (if the notebook trained it). Returns an ipywidgets.VBox."""
    import ipywidgets as W

    parts = [W.HTML(f"<small>model: {html.escape(describe(info))}</small>")]
    if info.get("fallback") == "smoke":
        parts.append(
            W.HTML(
                f'<div class="i2ilab-untrained" style="background:#fff3cd;border:1px solid #e0b000;'
                f'padding:4px 8px;max-width:900px">&#9888; {UNTRAINED_NOTE}</div>'
            )
        )
    parts.append(demo.widget())
    if info.get("log"):
        log = W.HTML(f"<pre style='max-height:300px;overflow:auto'>{html.escape(info['log'])}</pre>")
        fold = W.Accordion(children=[log], selected_index=None)
        fold.set_title(0, "training log")
        parts.append(fold)
    return W.VBox(parts)


def clear_fallback_runs(cache_dir=None):
    """Delete every cached fallback model (they are retrained on the next demo run)."""
    base = pathlib.Path(cache_dir) if cache_dir is not None else synthetic.default_cache_dir()
    shutil.rmtree(base / "demo_runs", ignore_errors=True)


#: The committed notebook (no outputs) and the lecture's copy of it, which Jupyter may save
#: with outputs: it is git-ignored (course/demos/.gitignore).
NOTEBOOK = pathlib.Path(__file__).resolve().parent / "lecture_demos.ipynb"
LECTURE_COPY = NOTEBOOK.with_name("lecture.ipynb")


def lecture_copy(source=NOTEBOOK, copy=LECTURE_COPY):
    """Write the lecture's copy of the demo notebook unless it exists (it may hold your edits of
    the parameter cell; delete it for a fresh one); returns its path."""
    copy = pathlib.Path(copy)
    if not copy.is_file():
        shutil.copyfile(source, copy)
        print(f"demo: wrote {copy} (open this copy in the lecture; the committed notebook stays clean)")
    else:
        print(f"demo: keeping {copy} (delete it to start again from {pathlib.Path(source).name})")
    return copy


def main(argv=None):
    """``python course/demos/demo_widgets.py [--smoke] [MODEL ...]``: train (or find) the CPU
    fallback models ahead of a lecture, so the notebook starts instantly, and write the
    lecture's copy of the notebook (``course/demos/lecture.ipynb``).

    No MODEL: all three. ``--smoke`` or ``I2ILAB_SMOKE=1``: the seconds-long stand-ins (tests)."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Train (or find) the CPU fallback models of the lecture demos; write the lecture's notebook copy."
    )
    # No choices= here: Python < 3.12 checks the empty list of a bare command against them.
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"any of {', '.join(FALLBACK_ARGS)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="the seconds-long test models (also I2ILAB_SMOKE=1)")
    args = parser.parse_args(argv)
    for model in args.models:
        if model not in FALLBACK_ARGS:
            parser.error(f"argument MODEL: invalid choice: {model!r} (choose from {', '.join(FALLBACK_ARGS)})")
    smoke = args.smoke or os.environ.get("I2ILAB_SMOKE") == "1"
    folders = {m: str(fallback_run(m, smoke=smoke)) for m in args.models or list(FALLBACK_ARGS)}
    print(json.dumps(folders, indent=1))
    lecture_copy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
