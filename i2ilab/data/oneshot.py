"""OST's data (Benaim & Wolf 2018; sagiebenaim/OneShotTranslation ``drawing_and_style_transfer``):
the B images of a CycleGAN-format folder, and in phase 2 the ONE A image beside each of them.

The reference's training transform, for every image: bicubic resize to load_size, random crop,
random horizontal flip, then a random rotation by up to 7 degrees (torchvision RandomRotation:
nearest neighbour, about the centre, black corners, i.e. -1 here). The one A image is transformed
anew for every B image. Batches are ``(a, b)``, each (B, S, S, 3) float32 in [-1, 1]; phase
``"autoencoder"`` gives ``(b, b)`` (its trainer uses b only). An epoch is one pass over trainB,
as the reference's max(|A|, |B|) = |B|. Deliberate difference: B comes in a shuffled pass per
epoch, where the reference draws a random B image (with replacement) for every iteration.
"""

import math
import pathlib

import tensorflow as tf

from i2ilab.data import loaders
from i2ilab.data.files import list_images, scan_images

#: The reference's ``--rotation_degree``.
ROTATION_DEGREES = 7.0
PHASES = ("autoencoder", "ost")


def one_shot_path(root, one_shot):
    """The one A image: ``one_shot`` itself (a path), or the ``one_shot``-th image (an int) of
    ``root/trainA`` sorted by name (the reference's ``--start K --max_items_A 1``)."""
    if isinstance(one_shot, int) and not isinstance(one_shot, bool):
        files = list_images(pathlib.Path(root) / "trainA", what="split 'trainA': folder")
        if not 0 <= one_shot < len(files):
            raise IndexError(f"one_shot={one_shot}: {root}/trainA has {len(files)} images (0 to {len(files) - 1}).")
        return files[one_shot]
    return pathlib.Path(one_shot).expanduser()


def random_rotation(img, rnd, degrees=ROTATION_DEGREES, fill=-1.0):
    """Rotate a float (S, S, C) image by a uniform angle in [-degrees, degrees] about its centre
    (stateless, from the int64 ``rnd``), nearest neighbour, corners filled with ``fill``."""
    u = tf.random.stateless_uniform([], seed=tf.stack([rnd, tf.constant(0x0057, tf.int64)]))
    angle = (2.0 * u - 1.0) * (degrees * math.pi / 180.0)
    h, w = tf.cast(tf.shape(img)[0], tf.float32), tf.cast(tf.shape(img)[1], tf.float32)
    cy, cx = (h - 1.0) / 2.0, (w - 1.0) / 2.0
    c, s = tf.cos(angle), tf.sin(angle)
    # output pixel (x, y) reads the input at R(angle) ((x, y) - centre) + centre
    transform = tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0.0, 0.0])[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=img[None],
        transforms=transform,
        output_shape=tf.shape(img)[:2],
        fill_value=tf.constant(fill, tf.float32),
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )
    return tf.ensure_shape(out[0], img.shape)


def _one_image_stream(path, *, image_size, load_size, jitter, seed):
    """The image file ``path`` as a one-element dataset (checked as the loaders check files)."""
    files, sizes = scan_images([path], min_size=image_size if (jitter and load_size is None) else None)
    return loaders._image_stream(
        [str(f) for f in files],
        loaders._decode,
        n=1,
        stack=None,
        image_size=image_size,
        load_size=load_size,
        jitter=jitter,
        shuffle=False,
        seed=seed,
        cache=True,
        max_side=max(sizes[0]),
        skip_bad=False,
    )


def _rotated(ds, seed):
    rnd = tf.data.Dataset.random(seed=loaders._sub_seed(seed, 30), rerandomize_each_iteration=True)
    return tf.data.Dataset.zip((ds, rnd)).map(lambda x, r: random_rotation(x, r), num_parallel_calls=loaders.AUTOTUNE)


def oneshot_dataset(
    root,
    split="train",
    image_size=256,
    load_size=286,
    jitter=True,
    batch_size=1,
    shuffle=True,
    seed=None,
    *,
    phase="ost",
    one_shot=0,
    cache=None,
    skip_bad=False,
    drop_remainder=False,
):
    """OST batches ``(a, b)`` from ``root/<split>B`` and the one A image (:func:`one_shot_path`,
    always from trainA).

    jitter: the reference's resize, crop, flip and rotation (module docstring); False resizes
    straight to image_size. Other arguments as :func:`i2ilab.data.unpaired_dataset`.
    """
    if phase not in PHASES:
        raise ValueError(f"oneshot_dataset: phase must be one of {PHASES}, got {phase!r}.")
    loaders._check_args(image_size, load_size, jitter, batch_size)
    options = dict(image_size=image_size, load_size=load_size, jitter=jitter, cache=cache, skip_bad=skip_bad)
    b, _ = loaders._folder_stream(
        pathlib.Path(root) / f"{split}B",
        paired=False,
        shuffle=shuffle,
        seed=loaders._sub_seed(seed, 11),
        what=f"split {split + 'B'!r}: folder",
        **options,
    )
    if jitter:
        b = _rotated(b, loaders._sub_seed(seed, 21))
    if phase == "autoencoder":
        return loaders._batch(b.map(lambda x: (x, x)), batch_size, drop_remainder)
    path = one_shot_path(root, one_shot)
    a = _one_image_stream(
        path, image_size=image_size, load_size=load_size, jitter=jitter, seed=loaders._sub_seed(seed, 10)
    )
    if jitter:
        a = _rotated(a, loaders._sub_seed(seed, 20))
    return loaders._batch(tf.data.Dataset.zip((a.repeat(), b)), batch_size, drop_remainder)


def with_one_shot_first(sample, root, one_shot, image_size, split="test"):
    """A sample batch ``(x, y)`` of phase ``ost`` with x = the one A image, then the first
    ``len(x) - 1`` images of ``root/<split>A`` (resized, in [-1, 1]), so the grids show the
    image trained on and unseen ones."""
    x, y = sample
    n = int(x.shape[0])
    rows = [
        _one_image_stream(one_shot_path(root, one_shot), image_size=image_size, load_size=None, jitter=False, seed=None)
    ]
    if n > 1:
        others = loaders.unpaired_dataset(root, split, image_size, None, jitter=False, batch_size=n - 1, shuffle=False)
        rows.append(others.map(lambda a, b: a).unbatch().take(n - 1))
    stream = rows[0] if n == 1 else rows[0].concatenate(rows[1])
    return tf.stack(list(stream.take(n))), y
