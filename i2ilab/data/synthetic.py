"""Built-in synthetic datasets: deterministic by seed, rendered with NumPy, no download.

Each set carries the kind of uncertainty its lab is about (shared/DESIGN.md, "Synthetic data that
teaches the lessons"), and is written in the on-disk format of the real datasets, so the real
loaders are what labs and tests exercise:

- "colors" (colorization; folder format `train/`, `test/`): shapes on a sand-coloured background.
  Squares and circles take one of three hues at random, all at the same lightness, so the grey
  image cannot tell which (L2 regression then predicts a greyish mean, Zhang et al. Sec. 2.1);
  triangles and the background have one hue each.
- "labels2photo" (pix2pix format, A = colour-coded label map | B = photo, so "AtoB" is labels ->
  photo): random layouts of 6 classes; every class has its own texture (stripes, checks, dots)
  whose phase, plus the lighting and a highlight, is random per sample. The label map fixes the
  layout but not the texture, so L1 alone gives blurry means and a cGAN sharp textures. The
  integer label maps are kept in `labels/<split>/` and the class palette in `meta.json` for an
  FCN-score. Opt-in `shared_colors=True` (off by default): wall, bush and road share one base
  colour and zero-mean textures, so only their texture tells them apart (a segmenter then needs
  texture, and a flat L1 output loses those classes: the FCN-score of experiments/pix2pix_tables).
- "edges2objects" (pix2pix format, A = black edges on white | B = object): one filled object
  with inner details, of random colour (so the edges do not determine it, as in edges2shoes).
- "edges2palette" (pix2pix format, for BicycleGAN): the edges of one plain object (ellipse,
  rectangle or triangle); the object is filled with one of 4 palette colours (PALETTE_NAMES),
  equally likely, with a shading that depends only on the shape. The edges leave the colour
  free and nothing else: the true set of outputs of an input is exactly its 4 renderings, given
  by `generate` as "all_outputs" and written to `test_true/colour<k>/`, with each image's colour
  index in `colours.json`, so diversity, coverage of the true outputs and fidelity can be measured
  (`i2ilab.metrics.multimodal_scores`).
- "streets" (pix2pixHD / Cityscapes format `<split>_label/`, `<split>_inst/`, `<split>_img/`, plus
  the pix2pix A|B format): sky, buildings, road and a row of 2-4 cars that touch or overlap. The
  label map shows the cars as one blob; every car is its own instance (Cityscapes ids: stuff
  pixels = class id, car k = 3 * 1000 + k) with its own colour, and a dark seam runs where two cars
  meet, so only the instance boundary map tells the generator where one car ends and the next
  starts (pix2pixHD section 3.3).
- "day2night" (CycleGAN format): sky, ground and shapes rendered with a day and a night palette.
  Every test image's true counterpart in the other domain is written to `testA_true/`
  (night version of each testA scene) and `testB_true/` (day version of each testB scene), with
  the label maps in `labels/`, so translation error can be measured.
- "day2night_ambiguous": the same, but all objects are circles and only their colour tells the
  two object classes apart: red and blue by day, cyan and yellow by night, equally frequent. The
  true mapping is red -> cyan, blue -> yellow; the swapped (and nearer in RGB) mapping matches the
  night distribution and is as cycle-consistent: the bijection is not identifiable, cycle
  consistency is only a prior.
- "styles" (CycleGAN format, for MUNIT): the day2night scenes; domain A is the day style, domain
  B one of 4 styles per image (sunset, night, snow, desert) that live mostly in the large areas
  (sky and ground); shapes are only tinted. `styles.json` gives each B image's style, and
  `testA_true/style<k>/` every testA scene in each style k.

`generate(name, n, ...)` returns the same data as arrays (float32 in [-1, 1]) for tests and labs;
`synthetic_root(name, ...)` writes a set once into a cache folder and returns its root.
Any image_size from 16 works (the labs use multiples of 16 from 16 to 512); sizes, texture
periods and edge widths scale with it.
"""

import colorsys
import functools
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

from i2ilab.color import lab_to_rgb_np

VERSION = 1
PAIRED = ("labels2photo", "edges2objects", "edges2palette", "streets")
UNPAIRED = ("day2night", "day2night_ambiguous", "styles")
FOLDER = ("colors",)
NAMES = PAIRED + UNPAIRED + FOLDER
DEFAULT_N_TRAIN = 512
DEFAULT_N_TEST = 64

# Stream ids: each split draws its own random samples; a sample depends only on (seed, stream, index).
_STREAMS = {"train": 0, "test": 1, "trainA": 2, "trainB": 3, "testA": 4, "testB": 5}


def _rng(seed, split, i):
    return np.random.default_rng([int(seed), _STREAMS[split], int(i)])


def _grid(size):
    """Pixel-centre coordinates in [0, 1]: y (S, 1), x (1, S)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[:, None], c[None, :]


def _rect(y, x, cy, cx, hh, hw):
    return (np.abs(y - cy) <= hh) & (np.abs(x - cx) <= hw)


def _ellipse(y, x, cy, cx, ry, rx):
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def _triangle(y, x, cy, cx, r):
    """Upright isosceles triangle: apex at (cy - r, cx), base of half-width r at y = cy + r."""
    return (y >= cy - r) & (y <= cy + r) & (np.abs(x - cx) <= 0.5 * (y - (cy - r)) + 0.5 / 64)


def _shape(kind, y, x, cy, cx, r):
    if kind == "square":
        return _rect(y, x, cy, cx, r, r)
    if kind == "circle":
        return _ellipse(y, x, cy, cx, r, r)
    return _triangle(y, x, cy, cx, r)


def _to_u8(img):
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def _square_wave(t):
    return np.where(np.sin(t) >= 0.0, 1.0, -1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# colors
COLOR_CLASSES = ("background", "square", "circle", "triangle")
COLOR_L, COLOR_DL, COLOR_CHROMA = 62.0, 5.0, 40.0
# Hue angles (degrees in the ab plane) per class; several hues = ambiguous given the grey image.
COLOR_HUES = {1: (20.0, 140.0, 260.0), 2: (80.0, 170.0, 320.0), 3: (350.0,)}
# All of them lie inside the sRGB gamut for L in COLOR_L +- COLOR_DL (no clipping changes L).
COLOR_BACKGROUND_AB = (4.0, 24.0)


def _lab_color(lightness, hue_deg, chroma):
    h = np.radians(hue_deg)
    return lab_to_rgb_np(np.array([lightness, chroma * np.cos(h), chroma * np.sin(h)], np.float32))


def _render_colors(rng, size):
    y, x = _grid(size)
    labels = np.zeros((size, size), np.uint8)
    # Background: one hue, lightness ramp of random direction.
    a = rng.uniform(0, 2 * np.pi)
    ramp = (y - 0.5) * np.cos(a) + (x - 0.5) * np.sin(a)
    lab = np.empty((size, size, 3), np.float32)
    lab[..., 0] = 74.0 + 22.0 * ramp
    lab[..., 1], lab[..., 2] = COLOR_BACKGROUND_AB
    img = lab_to_rgb_np(lab)
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(1, 4))
        r = rng.uniform(0.14, 0.26)
        cy, cx = rng.uniform(r, 1 - r, size=2)
        mask = _shape(COLOR_CLASSES[cls], y, x, cy, cx, r)
        hue = COLOR_HUES[cls][rng.integers(len(COLOR_HUES[cls]))]
        img[mask] = _lab_color(COLOR_L + rng.uniform(-COLOR_DL, COLOR_DL), hue, COLOR_CHROMA)
        labels[mask] = cls
    img = img + rng.normal(0.0, 0.01, size=img.shape).astype(np.float32)
    return {"rgb": _to_u8(img), "labels": labels}


# ---------------------------------------------------------------------------------------------
# labels2photo
PHOTO_CLASSES = ("background", "wall", "window", "bush", "road", "pole")
PHOTO_LABEL_COLORS = ((40, 40, 160), (230, 100, 30), (0, 200, 255), (60, 200, 60), (128, 128, 128), (255, 230, 0))
_PHOTO_BASE = (
    np.array([(150, 180, 220), (170, 95, 65), (70, 80, 100), (60, 125, 55), (95, 95, 100), (205, 200, 175)], np.float32)
    / 255.0
)
# Texture per class: (kind, period in pixels at 32x32, amplitude, angle in degrees).
_PHOTO_TEXTURE = {
    1: ("stripes", 4.0, 0.16, 90.0),
    2: ("checks", 4.0, 0.14, 0.0),
    3: ("dots", 5.0, 0.16, 0.0),
    4: ("stripes", 6.0, 0.12, 45.0),
    5: ("stripes", 3.0, 0.14, 0.0),
}


def _texture(kind, period, angle_deg, rng, yy, xx):
    """A +-1 texture of the given period (pixels) with a random phase; yy, xx in pixels."""
    t = np.radians(angle_deg)
    px, py = rng.uniform(0, 2 * np.pi, size=2)
    if kind == "stripes":
        return _square_wave(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / period + px)
    if kind == "checks":
        return _square_wave(2 * np.pi * xx / period + px) * _square_wave(2 * np.pi * yy / period + py)
    bumps = np.sin(2 * np.pi * xx / period + px) * np.sin(2 * np.pi * yy / period + py)
    return np.where(bumps > 0.35, 1.0, -1.0).astype(np.float32)


def _layout_labels2photo(rng, size):
    y, x = _grid(size)
    labels = np.zeros((size, size), np.uint8)
    if rng.random() < 0.7:
        labels[np.broadcast_to(y >= rng.uniform(0.7, 0.9), labels.shape)] = 4
    for _ in range(rng.integers(1, 3)):
        labels[
            _rect(y, x, rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.3), rng.uniform(0.12, 0.3))
        ] = 1
    for _ in range(rng.integers(0, 4)):
        labels[
            _rect(y, x, rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.1), rng.uniform(0.05, 0.1))
        ] = 2
    for _ in range(rng.integers(0, 3)):
        labels[
            _ellipse(
                y, x, rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.18), rng.uniform(0.08, 0.18)
            )
        ] = 3
    for _ in range(rng.integers(0, 2)):
        hw = max(0.035, 0.75 / size)
        labels[_rect(y, x, rng.uniform(0.4, 0.8), rng.uniform(0.05, 0.95), rng.uniform(0.2, 0.4), hw)] = 5
    return labels


#: shared_colors=True: these classes (wall, bush, road) get one base colour; texture alone tells them apart.
SHARED_COLOR_CLASSES = (1, 3, 4)
_PHOTO_SHARED_BASE = np.array((125, 115, 90), np.float32) / 255.0


@functools.lru_cache(maxsize=None)
def _texture_mean(kind):
    """Mean of a +-1 texture over all phases (0 for stripes and checks; dots are mostly -1)."""
    if kind != "dots":
        return 0.0
    phase = (np.arange(512, dtype=np.float64) + 0.5) / 512 * 2 * np.pi
    bumps = np.sin(phase)[:, None] * np.sin(phase)[None, :]
    return float(np.where(bumps > 0.35, 1.0, -1.0).mean())


def _render_labels2photo(rng, size, shared_colors=False):
    """One labels2photo sample; shared_colors: see SHARED_COLOR_CLASSES (same random draws, so the
    layout, phases, lighting and noise equal the default set's for the same seed and index)."""
    labels = _layout_labels2photo(rng, size)
    y, x = _grid(size)
    yy, xx = y * size, x * size
    scale = size / 32.0
    base = _PHOTO_BASE.copy()
    if shared_colors:
        base[list(SHARED_COLOR_CLASSES)] = _PHOTO_SHARED_BASE
    img = base[labels]
    a = rng.uniform(0, 2 * np.pi)
    shade = 1.0 + rng.uniform(0.15, 0.35) * ((x - 0.5) * np.cos(a) + (y - 0.5) * np.sin(a))
    img = img * shade[..., None]
    for cls, (kind, period, amp, angle) in _PHOTO_TEXTURE.items():
        mask = labels == cls
        if mask.any():
            tex = _texture(kind, max(2.5, period * scale), angle, rng, yy, xx)
            if shared_colors and cls in SHARED_COLOR_CLASSES:
                tex = tex - _texture_mean(kind)  # the class's mean colour is the shared base
            img += np.where(mask, amp * tex, 0.0)[..., None]
    hy, hx = rng.uniform(0.1, 0.9, size=2)
    img += 0.15 * np.exp(-((y - hy) ** 2 + (x - hx) ** 2) / (2 * 0.15**2))[..., None]
    img += rng.normal(0.0, 0.02, size=img.shape)
    label_rgb = np.asarray(PHOTO_LABEL_COLORS, np.uint8)[labels]
    return {"A": label_rgb, "B": _to_u8(img), "labels": labels}


# ---------------------------------------------------------------------------------------------
# edges2objects
def _boundaries(labels, width):
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    for _ in range(width - 1):
        grown = b.copy()
        grown[1:, :] |= b[:-1, :]
        grown[:, 1:] |= b[:, :-1]
        b = grown
    return b


def _random_rgb(rng, s_range=(0.45, 0.9), v_range=(0.35, 0.95)):
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s_range), rng.uniform(*v_range)), np.float32)


def _render_edges2objects(rng, size):
    y, x = _grid(size)
    labels = np.zeros((size, size), np.uint8)
    cy, cx = 0.5 + rng.uniform(-0.06, 0.06, size=2)
    kind = rng.integers(4)
    if kind == 0:
        body = _ellipse(y, x, cy, cx, rng.uniform(0.22, 0.4), rng.uniform(0.22, 0.4))
    elif kind == 1:
        body = _rect(y, x, cy, cx, rng.uniform(0.18, 0.34), rng.uniform(0.18, 0.34))
    elif kind == 2:
        body = _triangle(y, x, cy, cx, rng.uniform(0.28, 0.4))
    else:  # a "shoe": a long low sole-like ellipse plus an upper at one end
        side = rng.choice([-1.0, 1.0])
        body = _ellipse(y, x, cy + 0.12, cx, 0.16, 0.4) | _rect(y, x, cy - 0.08, cx + side * 0.2, 0.16, 0.14)
    labels[body] = 1
    for _ in range(rng.integers(0, 3)):
        if rng.random() < 0.5:
            detail = _ellipse(y, x, cy + rng.uniform(-0.12, 0.12), cx + rng.uniform(-0.12, 0.12), 0.08, 0.08)
        else:
            detail = _rect(y, x, cy + rng.uniform(-0.1, 0.1), cx, 0.045, 0.5)
        labels[body & detail] = 2
    colors = np.stack([np.ones(3, np.float32), _random_rgb(rng), _random_rgb(rng)])
    img = colors[labels]
    shade = 1.0 - 0.35 * ((y - cy) + (x - cx))
    img = np.where((labels > 0)[..., None], img * shade[..., None], img)
    img += np.where((labels > 0)[..., None], rng.normal(0.0, 0.015, size=img.shape), 0.0)
    edges = np.where(_boundaries(labels, max(1, round(size / 64))), 0, 255).astype(np.uint8)
    return {"A": np.repeat(edges[..., None], 3, axis=-1), "B": _to_u8(img), "labels": labels}


# ---------------------------------------------------------------------------------------------
# edges2palette: one input, exactly 4 true outputs
PALETTE_NAMES = ("red", "green", "blue", "yellow")
_PALETTE = np.array([(215, 45, 40), (40, 165, 60), (45, 75, 215), (240, 200, 35)], np.float32) / 255


def _render_edges2palette(rng, size):
    """Edges of one object; B = the object in a random palette colour; all_outputs (4, S, S, 3)."""
    y, x = _grid(size)
    cy, cx = 0.5 + rng.uniform(-0.08, 0.08, size=2)
    kind = rng.integers(3)
    if kind == 0:
        body = _ellipse(y, x, cy, cx, rng.uniform(0.22, 0.4), rng.uniform(0.22, 0.4))
    elif kind == 1:
        body = _rect(y, x, cy, cx, rng.uniform(0.18, 0.34), rng.uniform(0.18, 0.34))
    else:
        body = _triangle(y, x, cy, cx, rng.uniform(0.28, 0.4))
    labels = body.astype(np.uint8)
    colour = int(rng.integers(len(PALETTE_NAMES)))
    shade = (1.0 - 0.25 * ((y - cy) + (x - cx)))[..., None]
    outputs = np.where(body[None, ..., None], _PALETTE[:, None, None, :] * shade[None], 1.0)
    all_outputs = np.stack([_to_u8(o) for o in outputs])
    edges = np.where(_boundaries(labels, max(1, round(size / 64))), 0, 255).astype(np.uint8)
    return {
        "A": np.repeat(edges[..., None], 3, axis=-1),
        "B": all_outputs[colour],
        "labels": labels,
        "colour": colour,
        "all_outputs": all_outputs,
    }


# ---------------------------------------------------------------------------------------------
# streets: touching instances of one thing class (pix2pixHD's instance maps)
STREET_CLASSES = ("sky", "building", "road", "car")
#: Classes with instances (Cityscapes "things"); the others are "stuff".
STREET_THINGS = (3,)
STREET_LABEL_COLORS = ((70, 130, 180), (70, 70, 70), (128, 64, 128), (0, 0, 142))
#: Instance id of car k (Cityscapes convention: class_id * 1000 + k; stuff pixels hold their class id).
INSTANCE_FACTOR = 1000
_STREET_SEAM = 0.06


def _render_streets(rng, size):
    """Sky, buildings, road and a row of 2-4 touching or overlapping cars, each its own instance.

    Returns A (S, S, 3) uint8 colour-coded labels, B (S, S, 3) uint8 photo, labels (S, S) uint8
    class ids and instances (S, S) int32 ids (car k = 3000 + k, drawn left to right, a later car
    in front of an earlier one). The photo gives every car its own colour and darkens the pixels
    where two cars meet (the seam: both sides of it, wider on larger images).
    """
    y, x = _grid(size)
    road_top = rng.uniform(0.55, 0.7)
    labels = np.where(np.broadcast_to(y >= road_top, (size, size)), 2, 0).astype(np.uint8)
    sky = np.array((0.45, 0.65, 0.9), np.float32) + 0.25 * (y[..., None] - 0.5)
    img = np.broadcast_to(sky, (size, size, 3)).astype(np.float32)
    img[labels == 2] = np.array((0.33, 0.32, 0.34), np.float32) * rng.uniform(0.85, 1.15)
    left = 0.0
    while left < 1.0:
        width = rng.uniform(0.15, 0.35)
        top = rng.uniform(0.1, road_top - 0.15)
        block = (x >= left) & (x < left + width) & (y >= top) & (y < road_top)
        labels[block] = 1
        img[block] = np.array((0.55, 0.5, 0.45), np.float32) * rng.uniform(0.6, 1.2)
        left += width
    tex = _texture("dots", max(3.0, 5.0 * size / 32), 0.0, rng, y * size, x * size)
    img += np.where(labels == 1, 0.08 * tex, 0.0)[..., None]
    instances = labels.astype(np.int32)
    n_cars = int(rng.integers(2, 5))
    height = rng.uniform(0.12, 0.17)
    bottom = rng.uniform(road_top + height + 0.02, 0.97)
    widths = rng.uniform(0.16, 0.24, size=n_cars)
    overlaps = np.where(rng.random(n_cars) < 0.5, 0.0, rng.uniform(0.05, 0.3, size=n_cars)) * widths
    span = widths.sum() - overlaps[1:].sum()
    start = rng.uniform(0.02, max(0.03, 0.98 - span))
    for k in range(n_cars):
        body = (x >= start) & (x < start + widths[k]) & (y >= bottom - 0.6 * height) & (y < bottom)
        cabin = (np.abs(x - start - widths[k] / 2) < 0.3 * widths[k]) & (y >= bottom - height) & (y < bottom)
        car = body | cabin
        labels[car] = 3
        instances[car] = 3 * INSTANCE_FACTOR + k
        shade = 1.0 - 0.3 * (y - (bottom - height)) / height
        img = np.where(car[..., None], _random_rgb(rng, (0.5, 0.9), (0.5, 0.95)) * shade[..., None], img)
        if k + 1 < n_cars:
            start += widths[k] - overlaps[k + 1]
    cars = labels == 3
    seam = np.zeros((size, size), bool)
    dx = (instances[:, 1:] != instances[:, :-1]) & cars[:, 1:] & cars[:, :-1]
    dy = (instances[1:, :] != instances[:-1, :]) & cars[1:, :] & cars[:-1, :]
    seam[:, 1:] |= dx
    seam[:, :-1] |= dx
    seam[1:, :] |= dy
    seam[:-1, :] |= dy
    for _ in range(max(1, round(size / 64)) - 1):
        grown = seam.copy()
        grown[:, 1:] |= seam[:, :-1]
        grown[:, :-1] |= seam[:, 1:]
        seam = grown & cars
    img[seam] = _STREET_SEAM
    img += rng.normal(0.0, 0.01, size=img.shape)
    label_rgb = np.asarray(STREET_LABEL_COLORS, np.uint8)[labels]
    return {"A": label_rgb, "B": _to_u8(img), "labels": labels, "instances": instances}


# ---------------------------------------------------------------------------------------------
# day2night, day2night_ambiguous, styles: one scene, several renderings
SCENE_CLASSES = ("sky", "ground", "square", "circle", "triangle")
_DAY = np.array([(120, 180, 235), (80, 160, 70), (210, 50, 40), (245, 200, 30), (50, 80, 210)], np.float32) / 255
_NIGHT = np.array([(15, 20, 55), (25, 45, 30), (255, 190, 80), (190, 220, 255), (130, 40, 150)], np.float32) / 255
AMBIGUOUS_CLASSES = ("sky", "ground", "red circle", "blue circle")
_AMB_DAY = np.array([(120, 180, 235), (80, 160, 70), (210, 50, 50), (50, 50, 210)], np.float32) / 255
# True mapping red -> cyan, blue -> yellow; the swapped mapping is nearer in RGB and equally consistent.
_AMB_NIGHT = np.array([(15, 20, 55), (25, 45, 30), (60, 200, 200), (200, 200, 60)], np.float32) / 255
STYLE_NAMES = ("sunset", "night", "snow", "desert")
# Per style: sky, ground; the shapes keep their day colours, tinted 25% towards the sky colour.
_STYLE_SKY_GROUND = (
    np.array(
        [
            [(250, 140, 60), (110, 60, 40)],
            [(15, 20, 60), (30, 40, 35)],
            [(200, 210, 225), (245, 245, 250)],
            [(240, 220, 160), (210, 170, 90)],
        ],
        np.float32,
    )
    / 255
)


def _scene(rng, size, ambiguous=False):
    """Scene parameters: labels (S, S) uint8, horizon, global brightness; objects drawn in order."""
    y, x = _grid(size)
    horizon = rng.uniform(0.45, 0.7)
    labels = np.where(np.broadcast_to(y >= horizon, (size, size)), 1, 0).astype(np.uint8)
    for _ in range(rng.integers(1, 4)):
        r = rng.uniform(0.1, 0.2)
        cy, cx = rng.uniform(0.3, 0.85), rng.uniform(r, 1 - r)
        if ambiguous:
            cls = int(rng.integers(2, 4))
            labels[_shape("circle", y, x, cy, cx, r)] = cls
        else:
            cls = int(rng.integers(2, 5))
            labels[_shape(SCENE_CLASSES[cls], y, x, cy, cx, r)] = cls
    return {"labels": labels, "horizon": horizon, "brightness": rng.uniform(0.9, 1.1)}


def _noise(rng, size):
    return rng.normal(0.0, 0.012, size=(size, size, 3))


def _render_scene(scene, palette, noise, sky_glow):
    """Flat palette colours, a vertical glow on the sky (+ towards the horizon), brightness, noise."""
    labels = scene["labels"]
    y, _ = _grid(labels.shape[0])
    img = palette[labels]
    glow = sky_glow * np.clip(1.0 - (scene["horizon"] - y) / max(scene["horizon"], 1e-3), 0.0, 1.0)
    img = img + np.where((labels == 0)[..., None], glow[..., None], 0.0)
    return _to_u8(img * scene["brightness"] + noise)


def _style_palette(k):
    sky, ground = _STYLE_SKY_GROUND[k]
    shapes = 0.75 * _DAY[2:] + 0.25 * sky
    return np.concatenate([np.stack([sky, ground]), shapes])


def _render_day2night(rng, size, ambiguous=False):
    scene = _scene(rng, size, ambiguous)
    day, night = (_AMB_DAY, _AMB_NIGHT) if ambiguous else (_DAY, _NIGHT)
    return {
        "A": _render_scene(scene, day, _noise(rng, size), sky_glow=0.12),
        "B": _render_scene(scene, night, _noise(rng, size), sky_glow=0.1),
        "labels": scene["labels"],
    }


def _render_styles(rng, size, all_styles=True):
    """B is the scene in a random style; all_styles (skipped when False) the scene in every style with
    B's noise, so all_styles[style] == B."""
    scene = _scene(rng, size)
    style = int(rng.integers(len(STYLE_NAMES)))
    a = _render_scene(scene, _DAY, _noise(rng, size), sky_glow=0.12)
    noise_b = _noise(rng, size)
    out = {
        "A": a,
        "B": _render_scene(scene, _style_palette(style), noise_b, sky_glow=0.08),
        "style": style,
        "labels": scene["labels"],
    }
    if all_styles:
        out["all_styles"] = np.stack(
            [_render_scene(scene, _style_palette(k), noise_b, sky_glow=0.08) for k in range(len(STYLE_NAMES))]
        )
    return out


_RENDER = {
    "colors": _render_colors,
    "labels2photo": _render_labels2photo,
    "edges2objects": _render_edges2objects,
    "edges2palette": _render_edges2palette,
    "day2night": _render_day2night,
    "day2night_ambiguous": lambda rng, size: _render_day2night(rng, size, ambiguous=True),
    "styles": _render_styles,
    "streets": _render_streets,
}


def _check(name, image_size, shared_colors=False):
    if name not in NAMES:
        raise ValueError(f"unknown synthetic dataset {name!r}; choose one of {NAMES}.")
    if not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16 (the labs use multiples of 16), got {image_size!r}.")
    if shared_colors and name != "labels2photo":
        raise ValueError(f"shared_colors=True is an option of 'labels2photo' only, not of {name!r}.")


def _renderer(name, shared_colors):
    if shared_colors:
        return lambda rng, size: _render_labels2photo(rng, size, shared_colors=True)
    return _RENDER[name]


def _scaled(u8):
    return u8.astype(np.float32) / 127.5 - 1.0


def generate(name, n, image_size=32, seed=0, split="train", shared_colors=False):
    """n samples of a synthetic set as arrays, float32 images in [-1, 1] (NHWC), int labels.

    Keys: "colors" -> rgb, labels (n, S, S) class ids; "labels2photo" -> A (colour label map),
    B (photo), labels; "edges2objects" -> A (edges), B (object), labels (0 background, 1 body,
    2 detail); "edges2palette" -> A (edges), B (the object in one palette colour), colour (n,)
    its index, all_outputs (n, 4, S, S, 3) the 4 true outputs, labels (0 background, 1 object); "day2night", "day2night_ambiguous" -> A (day), B (the same scene by night: the true
    counterpart), labels; "styles" -> A (day), B (a random style), style (n,) ids, all_styles
    (n, 4, S, S, 3) the scene in every style, labels; "streets" -> A (colour label map), B (photo),
    labels (n, S, S) class ids (STREET_CLASSES), instances (n, S, S) int32 ids (stuff pixels: their
    class id; car k: 3000 + k). split picks the random stream ("train",
    "test", "trainA", ...), as in the written sets. shared_colors (labels2photo only, default off):
    wall, bush and road share one base colour (SHARED_COLOR_CLASSES).
    """
    _check(name, image_size, shared_colors)
    if split not in _STREAMS:
        raise ValueError(f"split must be one of {tuple(_STREAMS)}, got {split!r}.")
    render = _renderer(name, shared_colors)
    samples = [render(_rng(seed, split, i), image_size) for i in range(n)]
    out = {}
    for key in samples[0]:
        stacked = np.stack([np.asarray(s[key]) for s in samples])
        if key in ("labels", "style", "colour", "instances"):
            out[key] = stacked.astype(np.int32)
        else:
            out[key] = _scaled(stacked)
    return out


def _save_png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path, compress_level=1)


def _classes(name):
    if name == "colors":
        return [
            {"id": i, "name": c, "hues_deg": list(COLOR_HUES.get(i, ())), "ambiguous": len(COLOR_HUES.get(i, ())) > 1}
            for i, c in enumerate(COLOR_CLASSES)
        ]
    if name == "labels2photo":
        return [{"id": i, "name": c, "label_color": list(PHOTO_LABEL_COLORS[i])} for i, c in enumerate(PHOTO_CLASSES)]
    if name == "edges2objects":
        return [{"id": i, "name": c} for i, c in enumerate(("background", "body", "detail"))]
    if name == "edges2palette":
        return [{"id": i, "name": c} for i, c in enumerate(("background", "object"))]
    if name == "streets":
        return [
            {"id": i, "name": c, "label_color": list(STREET_LABEL_COLORS[i]), "instances": i in STREET_THINGS}
            for i, c in enumerate(STREET_CLASSES)
        ]
    if name == "day2night_ambiguous":
        return [
            {"id": i, "name": c, "day": _to_u8(_AMB_DAY[i]).tolist(), "night": _to_u8(_AMB_NIGHT[i]).tolist()}
            for i, c in enumerate(AMBIGUOUS_CLASSES)
        ]
    return [
        {"id": i, "name": c, "day": _to_u8(_DAY[i]).tolist(), "night": _to_u8(_NIGHT[i]).tolist()}
        for i, c in enumerate(SCENE_CLASSES)
    ]


_DESCRIPTIONS = {
    "colors": "colorization folder format: train/, test/ RGB images; labels/<split>/ class ids",
    "labels2photo": "pix2pix format A|B, A = colour-coded labels, B = photo (AtoB = labels -> photo); "
    "labels/<split>/ class ids",
    "edges2objects": "pix2pix format A|B, A = edges, B = object (AtoB = edges -> object)",
    "edges2palette": "pix2pix format A|B, A = edges, B = the object in one of 4 palette colours "
    "(colours.json: each image's index); test_true/colour<k>/ = every test object in colour k; "
    "labels/<split>/ object masks",
    "streets": "pix2pixHD format <split>_label/ (8-bit class ids), <split>_inst/ (16-bit instance ids: "
    "stuff = class id, car k = 3000 + k), <split>_img/ (photos); also pix2pix format A|B (A = colour-coded "
    "labels) and labels/<split>/ class ids",
    "day2night": "CycleGAN format, A = day, B = night; testA_true/ = night version of testA, "
    "testB_true/ = day version of testB; labels/<split>/ class ids",
    "day2night_ambiguous": "CycleGAN format like day2night; objects are circles told apart only by colour; "
    "true mapping red -> cyan, blue -> yellow (the swap is equally cycle-consistent)",
    "styles": "CycleGAN format, A = day style, B = one of 4 styles (styles.json); testA_true/style<k>/ = testA "
    "scenes in style k; labels/<split>/ class ids",
}


def write_synthetic(
    name,
    root,
    n_train=DEFAULT_N_TRAIN,
    n_test=DEFAULT_N_TEST,
    image_size=32,
    seed=0,
    progress=None,
    shared_colors=False,
):
    """Write a synthetic dataset under `root` in the real datasets' on-disk format; return root.

    Layouts (files named 00000.png, ...; PNG, lossless):
    colors: train/, test/, labels/{train,test}/. labels2photo, edges2objects: train/, test/ with
    A|B images of size (S, 2S); labels/{train,test}/ for labels2photo. day2night(_ambiguous),
    styles: trainA/, trainB/, testA/, testB/, labels/<split>/, testA_true/ and testB_true/
    (styles: testA_true/style<k>/ and styles.json); edges2palette: labels/, test_true/colour<k>/ and
    colours.json; streets: the pix2pixHD (Cityscapes) layout train_label/, train_inst/, train_img/,
    test_label/, test_inst/, test_img/ (labels 8-bit grayscale PNG of class ids; instances 16-bit
    grayscale PNG of ids, as Cityscapes' instanceIds, which PIL reads back exactly as mode I;16;
    photos RGB), plus train/, test/ A|B and labels/<split>/ as labels2photo (a pix2pix baseline
    on the same scenes). meta.json (written last) describes the set,
    its classes and palettes. progress: tqdm bar (None: only for more than 2000 images).
    shared_colors: labels2photo only, see `generate`; recorded in meta.json.
    """
    _check(name, image_size, shared_colors)
    from tqdm.auto import tqdm

    root = pathlib.Path(root)
    render = _renderer(name, shared_colors)
    if name in UNPAIRED:
        jobs = [("trainA", n_train), ("trainB", n_train), ("testA", n_test), ("testB", n_test)]
    else:
        jobs = [("train", n_train), ("test", n_test)]
    total = sum(n for _, n in jobs)
    bar = tqdm(
        total=total, desc=f"writing {name}", unit="img", disable=not (progress or (progress is None and total > 2000))
    )
    styles_used, colours_used = {}, {}
    for split, count in jobs:
        domain = split[-1] if name in UNPAIRED else None
        out = root / split
        out.mkdir(parents=True, exist_ok=True)
        folders = {} if name == "edges2objects" else {"labels": root / "labels" / split}
        if domain is not None and split.startswith("test"):
            folders["true"] = root / f"{split}_true"
        for f in folders.values():
            f.mkdir(parents=True, exist_ok=True)
        if name == "styles" and split == "testA":
            for k in range(len(STYLE_NAMES)):
                (root / "testA_true" / f"style{k}").mkdir(parents=True, exist_ok=True)
        if name == "edges2palette" and split == "test":
            for k in range(len(PALETTE_NAMES)):
                (root / "test_true" / f"colour{k}").mkdir(parents=True, exist_ok=True)
        if name == "streets":
            for kind in ("label", "inst", "img"):
                (root / f"{split}_{kind}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            if name == "styles":
                s = _render_styles(_rng(seed, split, i), image_size, all_styles=split == "testA")
            else:
                s = render(_rng(seed, split, i), image_size)
            fname = f"{i:05d}.png"
            if name == "colors":
                _save_png(out / fname, s["rgb"])
            elif name in PAIRED:
                _save_png(out / fname, np.concatenate([s["A"], s["B"]], axis=1))
                if name == "streets":
                    _save_png(root / f"{split}_label" / fname, s["labels"])
                    _save_png(root / f"{split}_inst" / fname, s["instances"].astype(np.uint16))
                    _save_png(root / f"{split}_img" / fname, s["B"])
                if name == "edges2palette":
                    colours_used.setdefault(split, []).append(s["colour"])
                    if split == "test":
                        for k, img in enumerate(s["all_outputs"]):
                            _save_png(root / "test_true" / f"colour{k}" / fname, img)
            else:
                other = "B" if domain == "A" else "A"
                _save_png(out / fname, s[domain])
                if "true" in folders:
                    if name == "styles" and domain == "A":
                        for k, img in enumerate(s["all_styles"]):
                            _save_png(root / "testA_true" / f"style{k}" / fname, img)
                    else:
                        _save_png(folders["true"] / fname, s[other])
                if name == "styles" and domain == "B":
                    styles_used.setdefault(split, []).append(s["style"])
            if "labels" in folders:
                _save_png(folders["labels"] / fname, s["labels"])
            bar.update(1)
    bar.close()
    if name == "styles":
        (root / "styles.json").write_text(json.dumps({"names": list(STYLE_NAMES), **styles_used}, indent=1))
    if name == "edges2palette":
        (root / "colours.json").write_text(json.dumps({"names": list(PALETTE_NAMES), **colours_used}, indent=1))
    meta = {
        "name": name,
        "version": VERSION,
        "image_size": image_size,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
        "format": "pix2pixhd"
        if name == "streets"
        else "pix2pix"
        if name in PAIRED
        else "cyclegan"
        if name in UNPAIRED
        else "folder",
        "description": _DESCRIPTIONS[name],
        "classes": _classes(name),
    }
    if shared_colors:
        meta["shared_colors"] = [PHOTO_CLASSES[c] for c in SHARED_COLOR_CLASSES]
    (root / "meta.json").write_text(json.dumps(meta, indent=1))
    return root


def default_cache_dir():
    """$I2ILAB_CACHE, else ~/.cache/i2ilab."""
    return pathlib.Path(os.environ.get("I2ILAB_CACHE") or pathlib.Path.home() / ".cache" / "i2ilab")


def synthetic_root(
    name, image_size=32, n_train=DEFAULT_N_TRAIN, n_test=DEFAULT_N_TEST, seed=0, cache_dir=None, shared_colors=False
):
    """Root of a ready synthetic dataset in the cache folder, written on the first call.

    cache_dir: None = `default_cache_dir()`. The set is written into a temporary folder next to
    its final place and renamed when complete, so concurrent callers (several notebooks, test
    workers) never see a half-written set; the first to finish wins and the others reuse it.
    shared_colors: labels2photo only (see `generate`), cached under its own name.
    """
    _check(name, image_size, shared_colors)
    base = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    base = base / "synthetic"
    variant = "-shared" if shared_colors else ""
    final = base / f"{name}{variant}-s{image_size}-n{n_train}-{n_test}-seed{seed}-v{VERSION}"
    if (final / "meta.json").is_file():
        return final
    base.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=base))
    try:
        write_synthetic(
            name, tmp, n_train=n_train, n_test=n_test, image_size=image_size, seed=seed, shared_colors=shared_colors
        )
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").is_file():  # not a lost race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_meta(root):
    """The meta.json of a synthetic dataset as a dict."""
    path = pathlib.Path(root) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a synthetic dataset written by write_synthetic.")
    return json.loads(path.read_text())


def _read_folder(folder):
    from PIL import Image

    files = sorted(pathlib.Path(folder).glob("*.png"))
    if not files:
        raise FileNotFoundError(f"no PNG files in {folder}.")
    return np.stack([np.asarray(Image.open(f)) for f in files])


def load_labels(root, split):
    """Integer label maps (N, S, S) int32 of `root/labels/<split>/`, in file (= loader) order."""
    return _read_folder(pathlib.Path(root) / "labels" / split).astype(np.int32)


def load_images(root, folder):
    """Images of `root/<folder>/` (e.g. "testA_true", "testA_true/style2") as float32 (N, S, S, 3) in [-1, 1]."""
    return _scaled(_read_folder(pathlib.Path(root) / folder))


def main(argv=None):
    """Command line: write a synthetic dataset, e.g. `python data_scripts/make_synthetic.py day2night --out data/day2night`."""
    import argparse

    parser = argparse.ArgumentParser(description="Write a built-in synthetic dataset in the real datasets' format.")
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--out", default=None, help="output folder (default: the cache folder, see synthetic_root)")
    parser.add_argument("--size", type=int, default=32, help="image size (a multiple of 16, 16..512)")
    parser.add_argument("--n-train", type=int, default=DEFAULT_N_TRAIN)
    parser.add_argument("--n-test", type=int, default=DEFAULT_N_TEST)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.out is None:
        root = synthetic_root(args.name, args.size, args.n_train, args.n_test, args.seed)
    else:
        root = write_synthetic(args.name, args.out, args.n_train, args.n_test, args.size, args.seed, progress=True)
    print(f"{args.name}: written to {root}")
    return 0
