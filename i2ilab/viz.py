"""Image grids, loss plots and notebook display helpers.

Images inside i2ilab are NHWC float32 in [-1, 1]; this module is the edge where they become
uint8 RGB. Rendering never goes through a pyplot GUI backend: grids are plain arrays written
with Pillow, and loss plots are ``matplotlib.figure.Figure`` objects drawn on the Agg canvas, so
everything works headless. In a Jupyter kernel, ``show`` displays a PNG inline; anywhere else it
does nothing.
"""

import csv
import io
import math
import pathlib

import numpy as np

from i2ilab import color

#: Lab ab channels are stored as ab / 110 (shared/REFERENCE.md, colorization).
AB_SCALE = color.AB_SCALE
#: Lightness used to display a 2-channel (ab) image on its own.
AB_DISPLAY_L = 50.0
#: Auto-scaling enlarges small cells to at least this many pixels wide, so titles fit.
MIN_CELL_WIDTH = 96


def _to_numpy(images):
    """Array-like (NumPy, TF or JAX tensor) -> float NumPy array."""
    if hasattr(images, "numpy") and not isinstance(images, np.ndarray):
        images = images.numpy()
    return np.asarray(images)


#: CIE Lab (D65) -> sRGB in [0, 1], NumPy (..., 3): L in [0, 100], a and b unscaled.
lab_to_rgb_numpy = color.lab_to_rgb_np


def to_uint8(images):
    """Images in [-1, 1] -> uint8 RGB: round((x + 1) * 127.5), clipped to [0, 255].

    Accepts (H, W, C) or (B, H, W, C) with C in {1, 2, 3, 4}:
    1 channel is grey and is repeated to RGB; 2 channels are taken as Lab chroma ab / 110 (the
    colorization targets) and shown at lightness L = 50; 4 channels drop the alpha.
    Returns (..., H, W, 3) uint8.
    """
    x = _to_numpy(images).astype(np.float32)
    if x.ndim not in (3, 4):
        raise ValueError(f"images must be (H, W, C) or (B, H, W, C); got shape {x.shape}.")
    c = x.shape[-1]
    if c == 1:
        x = np.repeat(x, 3, axis=-1)
    elif c == 2:
        lab = np.concatenate([np.full(x.shape[:-1] + (1,), AB_DISPLAY_L), x * AB_SCALE], axis=-1)
        x = lab_to_rgb_numpy(lab) * 2.0 - 1.0
    elif c == 4:
        x = x[..., :3]
    elif c != 3:
        raise ValueError(
            f"images have {c} channels; image_grid shows 1 (grey), 2 (Lab ab / 110), 3 (RGB) "
            "or 4 (RGBA) channels. Split multi-image tensors into separate columns."
        )
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def fit_title(draw, title, width, size, min_size=8):
    """A column title that fits ``width`` pixels, never cut: ``(lines, font size)``.

    The title at ``size`` if it fits; else the largest size down to ``min_size`` at which it fits
    on one line or, broken between words, on two; else its words on as many lines as they need
    at ``min_size`` (a word wider than the cell is left whole). ``" ".join(lines) == title``.
    """

    def wrap(font):
        lines = []
        for word in title.split():
            if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
                lines[-1] += f" {word}"
            else:
                lines.append(word)
        return lines or [title]

    for s in range(size, min_size - 1, -1):
        font = _font(s)
        if draw.textlength(title, font=font) <= width:
            return [title], s
        lines = wrap(font)
        if len(lines) <= 2 and all(draw.textlength(line, font=font) <= width for line in lines):
            return lines, s
    return wrap(_font(min_size)), min_size


def image_grid(columns, max_rows=8, scale=None, titles=True, pad=2):
    """Lay out named columns of images as one uint8 RGB array, one example per row.

    Args:
        columns: ordered dict name -> images (B, H, W, C) in [-1, 1] (see ``to_uint8`` for the
            channel rules), e.g. ``{"input": x, "output": G(x), "target": y}``.
        max_rows: at most this many examples (rows); fewer if a column has fewer.
        scale: integer nearest-neighbour enlargement of every cell; default: the smallest that
            makes a cell at least ``MIN_CELL_WIDTH`` pixels wide when titles are drawn, else 1.
        titles: draw the column names in a strip above the images (whole, see ``fit_title``).
        pad: white pixels between and around cells.
    Returns (H_total, W_total, 3) uint8. Cell (r, c) starts at row
    ``top + pad + r * (cell_h + pad)`` and column ``pad + c * (cell_w + pad)``, where ``top``
    is the title strip height (0 without titles).
    """
    if not columns:
        raise ValueError("image_grid needs at least one column (a dict name -> images).")
    arrays = {}
    for name, images in columns.items():
        img = _to_numpy(images)
        if img.ndim == 3:
            img = img[None]
        arrays[str(name)] = to_uint8(img)
    rows = min(int(max_rows), *(a.shape[0] for a in arrays.values()))
    if rows < 1:
        raise ValueError(f"image_grid: max_rows={max_rows} and the column sizes leave no rows.")
    h = max(a.shape[1] for a in arrays.values())
    w = max(a.shape[2] for a in arrays.values())
    if scale is None:
        scale = max(1, math.ceil(MIN_CELL_WIDTH / w)) if titles else 1
    scale = int(scale)
    ch, cw = h * scale, w * scale
    if titles:
        from PIL import Image, ImageDraw

        draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        labels = [fit_title(draw, name, cw, max(10, min(16, cw // 7))) for name in arrays]
        top = max(len(lines) * (size + 2) for lines, size in labels) + 6
    else:
        top = 0
    n = len(arrays)
    grid = np.full((top + pad + rows * (ch + pad), pad + n * (cw + pad), 3), 255, np.uint8)
    for c, a in enumerate(arrays.values()):
        x0 = pad + c * (cw + pad)
        for r in range(rows):
            cell = a[r].repeat(scale, axis=0).repeat(scale, axis=1)
            y0 = top + pad + r * (ch + pad)
            grid[y0 : y0 + cell.shape[0], x0 : x0 + cell.shape[1]] = cell
    if titles:
        pil = Image.fromarray(grid)
        draw = ImageDraw.Draw(pil)
        for c, (lines, size) in enumerate(labels):
            font = _font(size)
            for k, line in enumerate(lines):
                tw = draw.textlength(line, font=font)
                draw.text((pad + c * (cw + pad) + (cw - tw) / 2, 3 + k * (size + 2)), line, fill=(0, 0, 0), font=font)
        grid = np.asarray(pil)
    return grid


def save_image(path, image):
    """Write one uint8 (H, W, 3) or (H, W) array as a PNG (or any Pillow format by suffix)."""
    from PIL import Image

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return path


def save_grid(columns, path, **kwargs):
    """``image_grid(columns, **kwargs)`` written to ``path`` (PNG); returns the path."""
    return save_image(path, image_grid(columns, **kwargs))


def _read_csv_log(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"plot_losses: no CSV log at {path}.")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"plot_losses: the CSV log {path} has no rows yet.")
    out = {}
    for key in rows[0]:
        try:
            out[key] = [float(r[key]) if r[key] not in ("", None) else math.nan for r in rows]
        except ValueError:
            continue  # a non-numeric column
    return out


def history_dict(history_or_csv):
    """keras History, dict name -> list, or CSV log path -> (epochs 1-based, dict of series).

    The CSV may come from ``keras.callbacks.CSVLogger`` (an ``epoch`` column, 0-based); the
    returned x values count completed epochs (1 = after the first epoch), like checkpoint names.
    """
    if isinstance(history_or_csv, (str, pathlib.Path)):
        series = _read_csv_log(history_or_csv)
    elif hasattr(history_or_csv, "history"):
        series = dict(history_or_csv.history)
        if getattr(history_or_csv, "epoch", None):
            series["epoch"] = list(history_or_csv.epoch)
    elif isinstance(history_or_csv, dict):
        series = dict(history_or_csv)
    else:
        raise TypeError(
            "plot_losses expects a keras History, a dict name -> list of values, or the path of "
            f"a CSV log; got {type(history_or_csv).__name__}."
        )
    series = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in series.items()}
    lengths = {len(v) for k, v in series.items() if k != "epoch"}
    n = max(lengths) if lengths else 0
    epochs = series.pop("epoch", np.arange(n)) + 1
    return epochs, series


def plot_losses(history_or_csv, path=None, keys=None, title=None):
    """One small panel per logged value (losses, ``lr``) against the epoch.

    Separate panels keep losses of very different scales readable (G_L1 with weight 100 next
    to D_real around 0.7). Non-finite values are left as gaps.
    Args:
        history_or_csv: keras History, dict name -> per-epoch values, or a CSVLogger file.
        path: if given, the figure is also written there (PNG by suffix).
        keys: which series to draw (default: all numeric ones, in logged order).
    Returns a ``matplotlib.figure.Figure`` (Agg canvas; never opens a window).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs, series = history_dict(history_or_csv)
    keys = list(series) if keys is None else list(keys)
    missing = [k for k in keys if k not in series]
    if missing:
        raise KeyError(f"plot_losses: {missing} not in the log (it has {sorted(series)}).")
    if not keys:
        raise ValueError("plot_losses: the log has no values to plot.")
    ncols = min(4, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.4 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        values = series[key]
        ax.plot(epochs[: len(values)], values, marker="o" if len(values) < 30 else None, ms=3)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    if path is not None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def in_notebook():
    """True inside a Jupyter (IPython kernel) session, False in scripts, tests and terminals."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _png_bytes(obj):
    if hasattr(obj, "savefig"):
        buf = io.BytesIO()
        obj.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    if isinstance(obj, (str, pathlib.Path)):
        return pathlib.Path(obj).read_bytes()
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(obj, dtype=np.uint8)).save(buf, format="png")
    return buf.getvalue()


def show(obj):
    """Display a uint8 image array, a matplotlib Figure or a PNG file inline in Jupyter.

    Outside a notebook kernel this does nothing and returns False (so callbacks can call it
    unconditionally); inside, it displays a PNG and returns True.
    """
    if not in_notebook():
        return False
    from IPython.display import Image, display

    display(Image(data=_png_bytes(obj), format="png"))
    return True


def show_grid(columns, **kwargs):
    """``image_grid(columns, **kwargs)``, displayed inline in Jupyter; returns the array."""
    grid = image_grid(columns, **kwargs)
    show(grid)
    return grid
