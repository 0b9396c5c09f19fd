"""FCN-score: judge label -> photo translations by how well a segmenter labels them.

pix2pix (Isola et al. 2017, section 4.2) trains a segmentation network (FCN-8s) on real Cityscapes
photos, runs it on the generated photos and scores its predictions against the label maps the
photos were generated from: per-pixel accuracy, per-class accuracy and class IoU (Tables 1-3).
Better translations are labelled more accurately; the real photos give the ceiling.

i2ilab keeps the protocol and swaps the network: `segmenter` is a small fully convolutional
encoder-decoder trained here with `train_segmenter` (FCN-8s with ImageNet weights is out of
reach on a CPU and its Caffe weights are Cityscapes-only). Scores are therefore comparable
between models judged by the same segmenter, not with the paper's numbers.

Colour-coded label maps (facades) become integer classes with `colors_to_labels`, given the
palette, or a palette read off the label images with `estimate_palette`. For example, with real
facades photos `photos` and their label maps `label_maps` (N, S, S, 3) in [-1, 1] (the right half of
the pix2pix archive images, the input of "BtoA"), and generated photos `fakes` for test label maps:

    palette = estimate_palette(label_maps, 12)            # CMP facades: 12 classes
    model = train_segmenter(photos, colors_to_labels(label_maps, palette), 12, epochs=50)
    scores = fcn_score(model, fakes, colors_to_labels(test_label_maps, palette), 12)
    real = fcn_score(model, test_photos, colors_to_labels(test_label_maps, palette), 12)  # ceiling

The synthetic "labels2photo" set keeps its integer labels (i2ilab.data.synthetic.generate(...)
["labels"]) and its palette (PHOTO_LABEL_COLORS), so no palette estimate is needed there.
"""

import keras
import numpy as np

from i2ilab.metrics._convert import to_unit_rgb

__all__ = [
    "confusion_matrix",
    "segmentation_scores",
    "colors_to_labels",
    "estimate_palette",
    "segmenter",
    "train_segmenter",
    "predict_labels",
    "fcn_score",
]


def confusion_matrix(labels, predictions, num_classes):
    """Count pixels per (true class, predicted class).

    labels, predictions: integer arrays of one shape (e.g. (N, H, W)). Pixels whose true label
    is outside [0, num_classes) (e.g. an ignore value 255) are left out, as in the pix2pix
    evaluation script. Returns an int64 array (num_classes, num_classes): rows are true classes,
    columns predicted classes.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"confusion_matrix: labels have shape {labels.shape} but predictions {predictions.shape}; "
            "pass one predicted class per labelled pixel."
        )
    labels = labels.reshape(-1).astype(np.int64)
    predictions = predictions.reshape(-1).astype(np.int64)
    keep = (labels >= 0) & (labels < num_classes)
    labels, predictions = labels[keep], predictions[keep]
    if predictions.size and (predictions.min() < 0 or predictions.max() >= num_classes):
        raise ValueError(
            f"confusion_matrix: predictions must lie in [0, {num_classes}) but range over "
            f"[{predictions.min()}, {predictions.max()}]; check num_classes."
        )
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def segmentation_scores(confusion):
    """The three FCN-scores of pix2pix Table 1 from a confusion matrix (rows true, columns predicted).

    Returns a dict of floats and arrays:
    - pixel_accuracy: correctly labelled pixels / all labelled pixels;
    - class_accuracy: mean over classes of (correct pixels of the class / pixels of the class);
    - class_iou: mean over classes of intersection / union;
    - per_class_accuracy, per_class_iou: the per-class values (NaN where undefined);
    - confusion: the matrix itself.
    A class absent from the ground truth has no accuracy and is left out of the mean; a class absent
    from both ground truth and predictions has no IoU and is left out likewise. (The reference script
    adds 1e-12 to the denominators, which counts such classes as 0; the two agree whenever every
    class occurs in the evaluation set, as in Cityscapes.)
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"segmentation_scores: need a square confusion matrix, got shape {confusion.shape}.")
    total = confusion.sum()
    if total == 0:
        raise ValueError("segmentation_scores: the confusion matrix is empty (no labelled pixels).")
    correct = np.diag(confusion)
    true_count = confusion.sum(axis=1)
    union = true_count + confusion.sum(axis=0) - correct
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class_accuracy = np.where(true_count > 0, correct / true_count, np.nan)
        per_class_iou = np.where(union > 0, correct / union, np.nan)
    return {
        "pixel_accuracy": float(correct.sum() / total),
        "class_accuracy": float(np.nanmean(per_class_accuracy)),
        "class_iou": float(np.nanmean(per_class_iou)),
        "per_class_accuracy": per_class_accuracy,
        "per_class_iou": per_class_iou,
        "confusion": confusion.astype(np.int64),
    }


def colors_to_labels(images, palette, chunk_pixels=1 << 20):
    """Map colour-coded label images to integer classes by the nearest palette colour.

    images: (..., 3), either integer RGB in 0..255 (as read from disk) or float in [-1, 1] (the
    library convention). palette: (K, 3) RGB in 0..255; class k has colour palette[k]. Nearest in
    Euclidean RGB distance, so JPEG-blurred colours (facades) still land on their class.
    Returns int32 labels of shape images.shape[:-1].
    """
    palette = np.asarray(palette, dtype=np.float32)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"colors_to_labels: palette must be (num_classes, 3) RGB in 0..255, got {palette.shape}.")
    pixels = 255.0 * to_unit_rgb(images, "colors_to_labels").reshape(-1, 3)
    return _nearest_colour(pixels, palette, chunk_pixels).reshape(np.shape(images)[:-1])


def _nearest_colour(pixels, palette, chunk_pixels=1 << 20):
    """Index of the nearest palette row for each row of pixels (P, 3); both in 0..255."""
    labels = np.empty(pixels.shape[0], dtype=np.int32)
    palette_sq = (palette**2).sum(axis=1)
    for start in range(0, pixels.shape[0], chunk_pixels):
        chunk = pixels[start : start + chunk_pixels]
        # |x - p|^2 = |x|^2 - 2 x.p + |p|^2; |x|^2 is the same for every p and drops out of argmin.
        labels[start : start + chunk_pixels] = np.argmin(palette_sq - 2.0 * chunk @ palette.T, axis=1)
    return labels


def estimate_palette(images, num_colors, min_separation=40.0, bin_size=8):
    """Read the palette of colour-coded label images off the images themselves.

    For label maps whose palette is not at hand (e.g. the pix2pix facades archive, JPEG-compressed
    colour codes). Colours are counted on a grid of `bin_size` levels per channel; the most frequent
    colours at least `min_separation` apart (RGB units 0..255) are taken as the palette, then each is
    refined to the mean of the pixels within min_separation / 2 of it. Boundary pixels blurred by
    JPEG are rare per bin and do not become palette entries. images: as in `colors_to_labels`.
    Returns float32 (num_colors, 3) in 0..255, ordered by frequency (most frequent first), so the
    class numbering is arbitrary but fixed for a given set of images; check it (e.g. plot it) before
    naming classes.
    """
    pixels = 255.0 * to_unit_rgb(images, "estimate_palette").reshape(-1, 3)
    bins = np.clip(pixels // bin_size, 0, 255 // bin_size).astype(np.int64)
    levels = 255 // bin_size + 1
    keys = (bins[:, 0] * levels + bins[:, 1]) * levels + bins[:, 2]
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.zeros((unique.size, 3))
    np.add.at(sums, inverse, pixels)
    centres = sums / counts[:, None]
    chosen = []
    for index in np.argsort(-counts, kind="stable"):
        if all(np.linalg.norm(centres[index] - centres[c]) >= min_separation for c in chosen):
            chosen.append(index)
            if len(chosen) == num_colors:
                break
    if len(chosen) < num_colors:
        raise ValueError(
            f"estimate_palette: found only {len(chosen)} colours at least {min_separation} apart, "
            f"asked for {num_colors}; lower min_separation or check num_colors."
        )
    palette = centres[chosen]
    nearest = _nearest_colour(pixels, palette.astype(np.float32))
    distance = np.linalg.norm(pixels - palette[nearest], axis=1)
    for k in range(num_colors):
        close = (nearest == k) & (distance < min_separation / 2)
        if close.any():
            palette[k] = pixels[close].mean(axis=0)
    return palette.astype(np.float32)


def _conv_block(x, filters, name):
    for i in range(2):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def segmenter(num_classes, image_size=None, in_channels=3, width=32, depth=2, name="segmenter"):
    """A small fully convolutional encoder-decoder with skips for the FCN-score.

    Input (B, S, S, in_channels) images in [-1, 1], S divisible by 2**depth; output logits
    (B, S, S, num_classes) (no softmax). Each level: two conv3x3-BN-ReLU, max-pool 2; the decoder
    upsamples (nearest + conv, no transposed convolutions, which are slow on JAX CPU) and
    concatenates the encoder features of the same size. width doubles per level.
    Deliberately small where pix2pix uses FCN-8s (see the module docstring).
    """
    inputs = keras.Input((image_size, image_size, in_channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = _conv_block(x, width * 2**level, f"down{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _conv_block(x, width * 2**depth, "bottleneck")
    for level in reversed(range(depth)):
        x = keras.layers.UpSampling2D(2, name=f"up{level}")(x)
        x = keras.layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv_block(x, width * 2**level, f"dec{level}")
    logits = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _check_pair(images, labels, num_classes, where):
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    if images.ndim != 4 or labels.shape != images.shape[:3]:
        raise ValueError(
            f"{where}: need images (N, H, W, C) and integer labels (N, H, W) of the same N, H, W; "
            f"got {images.shape} and {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{where}: labels must be integer class maps, got dtype {labels.dtype}; "
            "convert colour-coded maps with colors_to_labels(images, palette)."
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"{where}: labels range over [{labels.min()}, {labels.max()}], outside [0, {num_classes}); "
            "check num_classes."
        )
    return images, labels.astype(np.int32)


def train_segmenter(
    images,
    labels,
    num_classes,
    model=None,
    epochs=10,
    batch_size=16,
    learning_rate=1e-3,
    validation_data=None,
    verbose="auto",
):
    """Train a segmenter on real photos and their integer label maps with `model.fit`.

    images: (N, H, W, C) float in [-1, 1]; labels: (N, H, W) integers in [0, num_classes).
    model: a keras.Model mapping images to per-pixel logits (default `segmenter(num_classes,
    in_channels=C)`). Adam(learning_rate), sparse categorical cross-entropy on logits, shuffled
    batches. validation_data: optional (images, labels). Returns the trained model; the history is
    on `model.history`.
    """
    images, labels = _check_pair(images, labels, num_classes, "train_segmenter")
    if model is None:
        model = segmenter(num_classes, in_channels=images.shape[-1])
    if validation_data is not None:
        validation_data = _check_pair(*validation_data, num_classes, "train_segmenter(validation_data)")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy")],
    )
    model.fit(
        images,
        labels,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        validation_data=validation_data,
        verbose=verbose,
    )
    return model


def predict_labels(model, images, batch_size=16, verbose=0):
    """Per-pixel argmax classes of a segmenter: images (N, H, W, C) in [-1, 1] -> int32 (N, H, W)."""
    logits = model.predict(np.asarray(images, dtype=np.float32), batch_size=batch_size, verbose=verbose)
    return np.argmax(logits, axis=-1).astype(np.int32)


def fcn_score(model, images, labels, num_classes, batch_size=16, verbose=0):
    """FCN-score of (generated) photos against the label maps they were generated from.

    model: a segmenter trained on real photos (`train_segmenter`); images: (N, H, W, C) in [-1, 1]
    at the label maps' size (resize first, as the pix2pix script does); labels: (N, H, W) integers.
    Returns `segmentation_scores` of the confusion matrix summed over all images: pixel_accuracy,
    class_accuracy, class_iou (pix2pix Table 1 columns), per-class arrays and the confusion matrix.
    """
    images, labels = _check_pair(images, labels, num_classes, "fcn_score")
    predictions = predict_labels(model, images, batch_size=batch_size, verbose=verbose)
    return segmentation_scores(confusion_matrix(labels, predictions, num_classes))
