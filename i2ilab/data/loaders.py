"""tf.data loaders for the pix2pix, CycleGAN and colorization datasets.

Every loader returns a batched `tf.data.Dataset` of 2-tuples of float32 NHWC images (pix2pixHD's
label maps: one-hot float32 and int32 ids):
- paired_dataset: (input, target), each (B, S, S, 3) in [-1, 1]   (pix2pix, arXiv:1611.07004)
- unpaired_dataset / tfds_unpaired: (A, B), each (B, S, S, 3) in [-1, 1]   (CycleGAN, arXiv:1703.10593)
- colorization_dataset: (L / 50 - 1 (B, S, S, 1), ab / 110 (B, S, S, 2))   (arXiv:1603.08511)
- label_instance_dataset: ((one-hot labels (B, S, S, L), instance ids (B, S, S, 1) int32), photo
  (B, S, S, 3) in [-1, 1])   (pix2pixHD, arXiv:1711.11585; labels resized nearest-neighbour)

Preprocessing follows the references' "resize_and_crop" with flips (REFERENCE.md, shared
defaults): bicubic resize to load_size x load_size (antialiased, like PIL's bicubic used by the
reference), rounding to uint8 as PIL does, random crop image_size x image_size, random horizontal
flip, scaling to [-1, 1]; pix2pix uses the same crop and flip for A and B. jitter=False resizes
straight to image_size. load_size=None crops at the file's own resolution (the reference's "crop"
mode), so every image must be at least image_size on each side.
Deliberate difference: the resize is TensorFlow's antialiased bicubic (in float, clipped once),
not PIL's; on smooth images the two agree to 2/255 (tested), on pixel noise they differ more.

Speed: headers are checked once with PIL before the pipeline is built (see files.py), files are
decoded in parallel (AUTOTUNE), the resized uint8 images are cached in memory when they fit in
AUTO_CACHE_BYTES (cropping and flipping happen after the cache, so each epoch gets new crops),
and batches are prefetched. With a seed, the order, the crops and the flips are reproducible run
after run and still change from epoch to epoch.

Under the JAX backend TensorFlow serves only these pipelines; call
``i2ilab.backend.hide_gpus_from_tensorflow()`` before building the first one so that it does not
reserve the GPUs' memory (``i2ilab train`` does).
"""

import pathlib
import warnings

import tensorflow as tf

from i2ilab import color
from i2ilab.data.files import DataError, list_images, name_key, scan_images

AUTOTUNE = tf.data.AUTOTUNE


# Cache decoded, resized uint8 images in memory when cache=None and they take at most this.
AUTO_CACHE_BYTES = 1 << 30


def _check_args(image_size, load_size, jitter, batch_size):
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if jitter and load_size is not None and load_size < image_size:
        raise ValueError(
            f"load_size={load_size} is smaller than image_size={image_size}: the random crop needs "
            f"load_size >= image_size (the references use 286 for 256), or load_size=None to crop at the "
            "files' own resolution, or jitter=False to resize straight to image_size."
        )
    if jitter and load_size is not None and load_size > 1.5 * image_size:
        warnings.warn(
            f"load_size={load_size} is much larger than image_size={image_size}: each random crop shows only "
            f"{image_size / load_size:.0%} of the image's width. The references use load_size = image_size * "
            f"286 / 256 (here load_size={round(image_size * 286 / 256)}).",
            stacklevel=3,
        )


def _sub_seed(seed, k):
    """Independent, reproducible seeds for the shuffles and crop streams of one loader."""
    return None if seed is None else (int(seed) * 1_000_003 + 7919 * (k + 1)) % (2**31 - 1)


def _resize_u8(img, size):
    """uint8 (h, w, c) -> uint8 (size, size, c): antialiased bicubic, clipped and rounded like PIL."""
    x = tf.image.resize(tf.cast(img, tf.float32), [size, size], method="bicubic", antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)


def _decode(path):
    img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    img.set_shape([None, None, 3])
    return img


def _decode_pair(path):
    """An A|B file -> uint8 (2, h, w/2, 3): A and B stacked, so one crop and flip serve both."""
    img = _decode(path)
    half = tf.shape(img)[1] // 2
    return tf.stack([img[:, :half], img[:, half : 2 * half]])


def _random_crop_flip(img, rnd, size):
    """Crop size x size at a random offset and flip left-right with probability 1/2 (stateless, from rnd).

    img: uint8 (h, w, 3) or a stack (k, h, w, 3) cropped and flipped alike.
    """
    u = tf.random.stateless_uniform([3], seed=tf.stack([rnd, tf.constant(0x5EED, tf.int64)]))
    shape = tf.shape(img)[-3:-1]
    tf.debugging.assert_greater_equal(
        tf.reduce_min(shape),
        size,
        message=f"an image is smaller than the {size}x{size} crop: use a load_size >= image_size",
    )
    oy = tf.cast(tf.floor(u[0] * tf.cast(shape[0] - size + 1, tf.float32)), tf.int32)
    ox = tf.cast(tf.floor(u[1] * tf.cast(shape[1] - size + 1, tf.float32)), tf.int32)
    img = img[..., oy : oy + size, ox : ox + size, :]
    return tf.cond(u[2] < 0.5, lambda: tf.reverse(img, axis=[-2]), lambda: img)


def _decoded(items, prepare, *, n, shuffle, cache, skip_bad, seed):
    """``items`` mapped through ``prepare``: shuffled as paths when not cached, else cached once
    and shuffled as decoded images; ``skip_bad`` drops items that fail to decode."""
    if shuffle and not cache:
        items = items.shuffle(min(n, 4096), seed=_sub_seed(seed, 0), reshuffle_each_iteration=True)
    ds = items.map(prepare, num_parallel_calls=AUTOTUNE)
    if skip_bad:
        ds = ds.ignore_errors(log_warning=True)
    if cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(n, seed=_sub_seed(seed, 0), reshuffle_each_iteration=True)
    return ds


def _finished(ds, finish, *, jitter, image_size, seed):
    """``finish`` applied to every element, after the random crop and flip when ``jitter``."""
    if jitter:
        rnd = tf.data.Dataset.random(seed=_sub_seed(seed, 1), rerandomize_each_iteration=True)
        return tf.data.Dataset.zip((ds, rnd)).map(
            lambda x, r: finish(_random_crop_flip(x, r, image_size)), num_parallel_calls=AUTOTUNE
        )
    return ds.map(finish, num_parallel_calls=AUTOTUNE)


def _image_stream(
    items,
    load_fn,
    *,
    n,
    stack,
    image_size,
    load_size,
    jitter,
    shuffle,
    seed,
    cache,
    max_side,
    skip_bad,
    convert=None,
):
    """Unbatched dataset of float32 images in [-1, 1] from `items` (paths or images).

    stack: None for (S, S, 3) images, k for (k, S, S, 3) stacks (an A|B pair: k = 2).
    max_side: the largest side a cached image can have (for the cache size estimate).
    convert: optional per-pixel map uint8 (h, w, 3) -> float32 (h, w, 3) applied after the resize and
    before the cache (instead of the scaling to [-1, 1]), so its cost is paid once, not every epoch;
    being per pixel, it commutes with the crop and flip.
    """
    items = items if isinstance(items, tf.data.Dataset) else tf.data.Dataset.from_tensor_slices(items)
    if not jitter:
        side = image_size
    else:
        side = load_size if load_size is not None else max_side
    if cache is None:
        bytes_per_value = 1 if convert is None else 4
        cache = n * side * side * 3 * (stack or 1) * bytes_per_value <= AUTO_CACHE_BYTES
    resize_to = image_size if not jitter else load_size

    def prepare(item):
        img = load_fn(item)
        img = img if resize_to is None else _resize_u8(img, resize_to)
        return img if convert is None else convert(img)

    ds = _decoded(items, prepare, n=n, shuffle=shuffle, cache=cache, skip_bad=skip_bad, seed=seed)

    def to_float(img):
        img = tf.cast(img, tf.float32) / 127.5 - 1.0 if convert is None else img
        img.set_shape(([stack] if stack else []) + [image_size, image_size, 3])
        return img

    return _finished(ds, to_float, jitter=jitter, image_size=image_size, seed=seed)


def _crop_hint(image_size):
    load = round(image_size * 286 / 256)
    return f"pass load_size (e.g. load_size={load}) to resize before cropping, or a smaller image_size"


#: Images whose smaller side is below this fraction of the size they are resized to get a warning.
UPSCALE_WARNING = 0.5


def _warn_upscaled(folder, sizes, paired, resize_to):
    """Warn once per folder when images are much smaller than the size they are resized to."""
    if resize_to is None:
        return
    sides = [min(w // 2 if paired else w, h) for w, h in sizes]
    small = [s for s in sides if s < UPSCALE_WARNING * resize_to]
    if small:
        warnings.warn(
            f"{folder}: {len(small)} of {len(sides)} images are much smaller than the {resize_to}x{resize_to} "
            f"they are resized to (smallest side {min(small)} px), so they are upscaled and blurry; use an "
            "image size (--image-size) near the images' own size.",
            stacklevel=4,
        )


def _folder_stream(
    folder, *, paired, image_size, load_size, jitter, shuffle, seed, cache, skip_bad, what, convert=None
):
    files = list_images(folder, what=what)
    min_size = image_size if (jitter and load_size is None) else None
    files, sizes = scan_images(
        files, paired=paired, min_size=min_size, skip_bad=skip_bad, fix_hint=_crop_hint(image_size)
    )
    max_side = max(max(w // 2 if paired else w, h) for w, h in sizes)
    _warn_upscaled(folder, sizes, paired, image_size if not jitter else load_size)
    stream = _image_stream(
        [str(f) for f in files],
        _decode_pair if paired else _decode,
        n=len(files),
        stack=2 if paired else None,
        image_size=image_size,
        load_size=load_size,
        jitter=jitter,
        shuffle=shuffle,
        seed=seed,
        cache=cache,
        max_side=max_side,
        skip_bad=skip_bad,
        convert=convert,
    )
    return stream, len(files)


def _batch(ds, batch_size, drop_remainder):
    return ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def paired_dataset(
    root,
    split="train",
    direction="AtoB",
    image_size=256,
    load_size=286,
    jitter=True,
    batch_size=1,
    shuffle=True,
    seed=None,
    *,
    cache=None,
    skip_bad=False,
    drop_remainder=False,
):
    """pix2pix data: `root/<split>/*.jpg|png`, each image A|B side by side (e.g. 512x256).

    Returns a dataset of (input, target), each (B, S, S, 3) float32 in [-1, 1], S = image_size;
    direction "AtoB" gives (A, B), "BtoA" gives (B, A). jitter: resize to load_size, random crop,
    random flip, identical for A and B (pix2pix appendix, training details; REFERENCE.md). Files are read in sorted
    order when shuffle=False. cache: None = in memory when it fits AUTO_CACHE_BYTES, True/False to
    force. skip_bad: skip unreadable, odd-width or too-small files with a warning instead of raising.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}.")
    _check_args(image_size, load_size, jitter, batch_size)
    stream, _ = _folder_stream(
        pathlib.Path(root) / split,
        paired=True,
        image_size=image_size,
        load_size=load_size,
        jitter=jitter,
        shuffle=shuffle,
        seed=seed,
        cache=cache,
        skip_bad=skip_bad,
        what=f"split {split!r}: folder",
    )
    first, second = (0, 1) if direction == "AtoB" else (1, 0)
    ds = stream.map(lambda x: (x[first], x[second]), num_parallel_calls=AUTOTUNE)
    return _batch(ds, batch_size, drop_remainder)


def _zip_unpaired(stream_a, n_a, stream_b, n_b):
    """Pair two independently shuffled streams; an epoch has max(n_a, n_b) pairs (the reference's length).

    The shorter domain repeats (and reshuffles on each pass), so the pairing changes every epoch.
    """
    if n_a >= n_b:
        return tf.data.Dataset.zip((stream_a, stream_b.repeat()))
    return tf.data.Dataset.zip((stream_a.repeat(), stream_b))


def unpaired_dataset(
    root,
    split="train",
    image_size=256,
    load_size=286,
    jitter=True,
    batch_size=1,
    shuffle=True,
    seed=None,
    *,
    cache=None,
    skip_bad=False,
    drop_remainder=False,
):
    """CycleGAN data: `root/<split>A/` and `root/<split>B/` image folders (trainA, trainB, testA, testB).

    Returns a dataset of (A, B), each (B, S, S, 3) float32 in [-1, 1]. A and B are shuffled
    independently (different seeds, reshuffled each epoch), so which A meets which B changes every
    epoch; an epoch has max(len A, len B) pairs, the shorter domain repeating. Jitter as in
    `paired_dataset`, drawn independently per image.
    """
    _check_args(image_size, load_size, jitter, batch_size)
    streams = []
    for k, domain in enumerate("AB"):
        streams += _folder_stream(
            pathlib.Path(root) / (split + domain),
            paired=False,
            image_size=image_size,
            load_size=load_size,
            jitter=jitter,
            shuffle=shuffle,
            seed=_sub_seed(seed, 10 + k),
            cache=cache,
            skip_bad=skip_bad,
            what=f"split {split + domain!r}: folder",
        )
    return _batch(_zip_unpaired(*streams), batch_size, drop_remainder)


def tfds_unpaired(
    name="cycle_gan/horse2zebra",
    split="train",
    data_dir=None,
    image_size=256,
    load_size=286,
    jitter=True,
    batch_size=1,
    shuffle=True,
    seed=None,
    *,
    download=False,
    cache=None,
    drop_remainder=False,
):
    """`unpaired_dataset` over tensorflow-datasets (`cycle_gan/NAME`, splits trainA/trainB/testA/testB).

    Nothing is downloaded unless download=True (tensorflow-datasets then fetches and prepares the
    archive into data_dir). Returns (A, B) batches like `unpaired_dataset`.
    """
    _check_args(image_size, load_size, jitter, batch_size)
    import tensorflow_datasets as tfds

    streams = []
    for k, domain in enumerate("AB"):
        try:
            src = tfds.load(name, split=split + domain, data_dir=data_dir, download=download, as_supervised=True)
        except Exception as e:  # tfds raises AssertionError / DatasetNotFoundError / ValueError
            raise DataError(
                f"tensorflow-datasets {name!r}, split {split + domain!r}, is not available in data_dir="
                f"{data_dir!r} ({type(e).__name__}: {e}). Pass download=True to let tensorflow-datasets "
                "download and prepare it, or fetch the archive with data_scripts/download_cyclegan.py and "
                "use unpaired_dataset(root)."
            ) from e
        n = int(src.cardinality())
        if n == 0:
            raise DataError(f"tensorflow-datasets {name!r}, split {split + domain!r}, is empty.")
        images = src.map(lambda img, label: img, num_parallel_calls=AUTOTUNE)
        side = load_size or 256
        streams += [
            _image_stream(
                images,
                lambda img: img,
                n=n if n > 0 else 4096,
                stack=None,
                image_size=image_size,
                load_size=load_size,
                jitter=jitter,
                shuffle=shuffle,
                seed=_sub_seed(seed, 10 + k),
                cache=cache if n > 0 else bool(cache),
                max_side=side,
                skip_bad=False,
            ),
            n,
        ]
    return _batch(_zip_unpaired(*streams), batch_size, drop_remainder)


def colorization_dataset(
    root,
    split="train",
    image_size=256,
    load_size=286,
    jitter=True,
    batch_size=1,
    shuffle=True,
    seed=None,
    *,
    cache=None,
    skip_bad=False,
    drop_remainder=False,
):
    """Colorization data: RGB images in `root/<split>/` -> (L, ab) in Lab (pix2pix colorization model).

    Returns a dataset of (L / 50 - 1 (B, S, S, 1) in [-1, 1], ab / 110 (B, S, S, 2) in about
    [-1, 1]). Jitter as in `paired_dataset`; the Lab conversion happens once per image, after the
    resize and before the cache (it is per pixel, so it commutes with the crop and flip).
    """
    _check_args(image_size, load_size, jitter, batch_size)

    def to_scaled_lab(rgb_u8):
        return tf.concat(color.scale_l_ab(color.rgb_to_lab_tf(tf.cast(rgb_u8, tf.float32) / 255.0)), axis=-1)

    stream, _ = _folder_stream(
        pathlib.Path(root) / split,
        paired=False,
        image_size=image_size,
        load_size=load_size,
        jitter=jitter,
        shuffle=shuffle,
        seed=seed,
        cache=cache,
        skip_bad=skip_bad,
        what=f"split {split!r}: folder",
        convert=to_scaled_lab,
    )
    ds = stream.map(lambda lab: (lab[..., :1], lab[..., 1:]), num_parallel_calls=AUTOTUNE)
    return _batch(ds, batch_size, drop_remainder)


def _matched_files(root, split, kinds, skip_bad, min_size):
    """``({kind: files}, largest side)`` of ``root/<split>_<kind>/``: checked (files.scan_images),
    matched by name and size, in sorted order."""
    found = {}
    for kind in kinds:
        folder = pathlib.Path(root) / f"{split}_{kind}"
        files = list_images(folder, what=f"split {split!r}: folder")
        files, sizes = scan_images(files, min_size=min_size, skip_bad=skip_bad, fix_hint=_crop_hint(min_size or 0))
        found[kind] = {name_key(f): (f, size) for f, size in zip(files, sizes, strict=True)}
    keys = [sorted(found[kind]) for kind in kinds]
    if skip_bad:
        keys = [sorted(set.intersection(*(set(k) for k in keys)))] * len(kinds)
    first = keys[0]
    for kind, names in zip(kinds[1:], keys[1:], strict=True):
        if names != first:
            odd = sorted(set(first) ^ set(names))[:3]
            raise DataError(
                f"{pathlib.Path(root) / f'{split}_{kind}'} holds {len(names)} files and "
                f"{pathlib.Path(root) / f'{split}_{kinds[0]}'} {len(first)}, with different names "
                f"(e.g. {', '.join(odd)}); give every label map its {'instance map and ' if len(kinds) == 3 else ''}"
                "photo of the same name."
            )
    for key in first:
        sizes = {kind: found[kind][key][1] for kind in kinds}
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{found[kind][key][0]} {w}x{h}" for kind, (w, h) in sizes.items())
            raise DataError(
                f"{key}: the label map, instance map and photo differ in size ({detail}); resize them alike."
            )
    largest = max(max(size) for _, size in found[kinds[0]].values())
    return {kind: [found[kind][k][0] for k in first] for kind in kinds}, largest


def _largest_label(paths):
    """(largest id, its file) over 8-bit label maps, read with PIL in parallel."""
    import concurrent.futures

    import numpy as np
    from PIL import Image

    def top(path):
        with Image.open(path) as img:
            return int(np.asarray(img).max())

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        tops = list(pool.map(top, paths))
    k = int(np.argmax(tops))
    return tops[k], paths[k]


def _resize_nearest(x, size):
    return tf.image.resize(x, [size, size], method="nearest")


def label_instance_dataset(
    root,
    split="train",
    image_size=256,
    n_classes=35,
    batch_size=1,
    shuffle=True,
    seed=0,
    jitter=True,
    instances=True,
    load_size=286,
    *,
    cache=None,
    skip_bad=False,
    drop_remainder=False,
):
    """pix2pixHD data (the Cityscapes layout of its ``aligned_dataset``): ``root/<split>_label/``
    (8-bit PNG class ids), ``root/<split>_inst/`` (instance ids, 16-bit PNG as Cityscapes'
    instanceIds: stuff = class id, things class_id * 1000 + k) and ``root/<split>_img/`` (photos),
    matched by name (Cityscapes' ``_gtFine_labelIds`` / ``_gtFine_instanceIds`` / ``_leftImg8bit``
    endings are ignored).

    Returns batches ``((labels, instances), image)``: labels (B, S, S, n_classes) float32 one-hot,
    instances (B, S, S, 1) int32, image (B, S, S, 3) float32 in [-1, 1]; ``instances=False`` (the
    reference's ``--no_instance``) gives ``(labels, image)`` and reads no ``_inst`` folder. Labels
    and instances are resized nearest-neighbour, the photo bicubic (as :func:`paired_dataset`);
    jitter crops and flips all three alike. Raises DataError naming the folder or file for a
    missing folder, unmatched files, or a label id >= n_classes (every label map is read once to
    check it).
    """
    _check_args(image_size, load_size, jitter, batch_size)
    if not isinstance(n_classes, int) or not 1 <= n_classes <= 256:
        raise ValueError(f"n_classes must be an int from 1 to 256 (8-bit label maps), got {n_classes!r}.")
    kinds = ("label", "inst", "img") if instances else ("label", "img")
    files, largest_side = _matched_files(
        root, split, kinds, skip_bad, image_size if jitter and load_size is None else None
    )
    largest, where = _largest_label(files["label"])
    if largest >= n_classes:
        raise DataError(
            f"{where}: label id {largest} >= n_classes {n_classes}; pass the dataset's number of label ids, "
            f"n_classes >= {largest + 1} (--n-classes {largest + 1} on the command line; Cityscapes has 35)."
        )
    n = len(files["label"])
    resize_to = image_size if not jitter else load_size

    def prepare(*paths):
        label = tf.io.decode_png(tf.io.read_file(paths[0]), channels=1, dtype=tf.uint8)
        img = _decode(paths[-1])
        parts = [tf.cast(label, tf.int32)]
        if instances:
            parts.append(tf.cast(tf.io.decode_png(tf.io.read_file(paths[1]), channels=1, dtype=tf.uint16), tf.int32))
        if resize_to is not None:
            parts = [_resize_nearest(p, resize_to) for p in parts]
            img = _resize_u8(img, resize_to)
        return tf.concat([tf.cast(img, tf.int32), *parts], axis=-1)

    side = resize_to or largest_side
    if cache is None:
        cache = n * side * side * (3 + len(kinds) - 1) * 4 <= AUTO_CACHE_BYTES
    items = tf.data.Dataset.from_tensor_slices(tuple([str(f) for f in files[k]] for k in kinds))
    ds = _decoded(items, prepare, n=n, shuffle=shuffle, cache=cache, skip_bad=skip_bad, seed=seed)

    def split_parts(stack):
        stack.set_shape([image_size, image_size, 3 + len(kinds) - 1])
        image = tf.cast(stack[..., :3], tf.float32) / 127.5 - 1.0
        one_hot = tf.one_hot(stack[..., 3], n_classes, dtype=tf.float32)
        if instances:
            return (one_hot, stack[..., 4:5]), image
        return one_hot, image

    ds = _finished(ds, split_parts, jitter=jitter, image_size=image_size, seed=seed)
    return _batch(ds, batch_size, drop_remainder)
