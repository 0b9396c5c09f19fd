"""FCN-score pieces: confusion counts and scores by hand, palette mapping, a segmenter that learns."""

import numpy as np
import pytest

from i2ilab.metrics import (
    colors_to_labels,
    confusion_matrix,
    estimate_palette,
    fcn_score,
    predict_labels,
    segmentation_scores,
    segmenter,
    train_segmenter,
)

PALETTE = np.array([[0, 0, 170], [0, 0, 255], [255, 85, 0], [0, 255, 255], [170, 255, 85]], np.uint8)


def test_confusion_and_scores_on_a_hand_made_example():
    labels = np.array([[0, 0, 1], [1, 2, 255]])
    predictions = np.array([[0, 1, 1], [2, 2, 0]])
    confusion = confusion_matrix(labels, predictions, 3)
    # The 255 pixel is ignored; pairs (0,0) (0,1) (1,1) (1,2) (2,2).
    np.testing.assert_array_equal(confusion, [[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    scores = segmentation_scores(confusion)
    assert scores["pixel_accuracy"] == pytest.approx(3 / 5)
    np.testing.assert_allclose(scores["per_class_accuracy"], [1 / 2, 1 / 2, 1])
    assert scores["class_accuracy"] == pytest.approx(2 / 3)
    # IoU: class 0: 1 / (2 + 1 - 1); class 1: 1 / (2 + 2 - 1); class 2: 1 / (1 + 2 - 1).
    np.testing.assert_allclose(scores["per_class_iou"], [1 / 2, 1 / 3, 1 / 2])
    assert scores["class_iou"] == pytest.approx(4 / 9)


def test_confusion_matches_a_pixel_loop_and_absent_classes_drop_out():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(3, 9, 7))  # class 4 never occurs in the labels
    predictions = rng.integers(0, 5, size=(3, 9, 7))
    predictions[predictions == 3] = 0  # class 3 never predicted
    expected = np.zeros((6, 6), np.int64)
    for t, p in zip(labels.ravel(), predictions.ravel(), strict=False):
        expected[t, p] += 1
    confusion = confusion_matrix(labels, predictions, 6)
    np.testing.assert_array_equal(confusion, expected)
    scores = segmentation_scores(confusion)
    # Class 4: predicted but never true -> no accuracy, IoU 0. Class 5: neither -> both undefined.
    assert np.isnan(scores["per_class_accuracy"][4]) and scores["per_class_iou"][4] == 0
    assert np.isnan(scores["per_class_accuracy"][5]) and np.isnan(scores["per_class_iou"][5])
    recall = [expected[c, c] / expected[c].sum() for c in range(4)]
    iou = [expected[c, c] / (expected[c].sum() + expected[:, c].sum() - expected[c, c]) for c in range(5)]
    assert scores["class_accuracy"] == pytest.approx(np.mean(recall))
    assert scores["class_iou"] == pytest.approx(np.mean(iou))
    assert scores["pixel_accuracy"] == pytest.approx(np.mean(labels == predictions))


def test_confusion_rejects_predictions_outside_the_classes():
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(np.zeros((2, 2), int), np.full((2, 2), 3), 3)


def _random_label_maps(rng, n, size, num_classes):
    """Label maps made of a background class plus random rectangles of other classes."""
    labels = np.zeros((n, size, size), np.int32)
    for image in labels:
        for _ in range(4):
            y, x = rng.integers(0, size - 4, 2)
            h, w = rng.integers(3, size // 2, 2)
            image[y : y + h, x : x + w] = rng.integers(1, num_classes)
    return labels


def test_colors_to_labels_maps_noisy_colours_back_to_classes():
    rng = np.random.default_rng(1)
    labels = _random_label_maps(rng, 3, 24, len(PALETTE))
    colours = PALETTE[labels].astype(np.int32) + rng.integers(-30, 31, size=labels.shape + (3,))
    colours = np.clip(colours, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(colors_to_labels(colours, PALETTE), labels)
    # The same images as library floats in [-1, 1].
    np.testing.assert_array_equal(colors_to_labels(colours / 127.5 - 1.0, PALETTE), labels)
    # Small chunks give the same answer.
    np.testing.assert_array_equal(colors_to_labels(colours, PALETTE, chunk_pixels=100), labels)


def test_estimate_palette_recovers_the_colours_of_blurred_noisy_label_maps():
    rng = np.random.default_rng(2)
    labels = _random_label_maps(rng, 20, 32, len(PALETTE))
    colours = PALETTE[labels].astype(np.float64)
    # Blur boundaries as JPEG does (intermediate colours), then add noise.
    colours = (colours + np.roll(colours, 1, axis=2)) / 2.0
    colours += rng.normal(0, 3, colours.shape)
    colours = np.clip(np.round(colours), 0, 255).astype(np.uint8)
    palette = estimate_palette(colours, len(PALETTE))
    # Each true colour has exactly one estimate within 3 units.
    distances = np.linalg.norm(palette[:, None, :] - PALETTE[None, :, :].astype(np.float64), axis=-1)
    assert sorted(distances.argmin(axis=1)) == list(range(len(PALETTE)))
    assert distances.min(axis=1).max() < 3.0
    with pytest.raises(ValueError, match="min_separation"):
        estimate_palette(colours, 40)


# Every test uses the same small segmenter, so that JAX compiles each weight initializer once.
SMALL = {"width": 8, "depth": 1}


def test_segmenter_is_fully_convolutional_with_logits():
    model = segmenter(3, **SMALL)
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 32, 32, 3)
    assert model(np.zeros((1, 16, 24, 3), np.float32)).shape == (1, 16, 24, 3)
    assert [layer.name for layer in model.layers if "pool" in layer.name] == ["pool0"]


def _colour_coded_photos(rng, labels):
    """'Photos' whose class is told by colour, with noise: a trivially separable segmentation task."""
    base = np.array([[-0.8, -0.8, -0.8], [0.8, -0.6, -0.6], [-0.6, 0.8, -0.6]], np.float32)
    return base[labels] + rng.normal(0, 0.15, labels.shape + (3,)).astype(np.float32)


def test_train_segmenter_learns_colour_to_class_and_fcn_score_tells_good_from_bad():
    rng = np.random.default_rng(3)
    labels = _random_label_maps(rng, 48, 16, 3)
    photos = _colour_coded_photos(rng, labels)
    model = train_segmenter(
        photos, labels, 3, model=segmenter(3, **SMALL), epochs=12, batch_size=8, learning_rate=3e-3, verbose=0
    )
    test_labels = _random_label_maps(rng, 16, 16, 3)
    good = fcn_score(model, _colour_coded_photos(rng, test_labels), test_labels, 3)
    assert good["pixel_accuracy"] > 0.95
    assert good["class_iou"] > 0.85
    # "Translations" that ignore the layout (grey images) score far lower.
    bad = fcn_score(model, np.zeros_like(photos[:16]), test_labels, 3)
    assert bad["pixel_accuracy"] < good["pixel_accuracy"] - 0.3
    assert bad["class_iou"] < 0.5
    assert predict_labels(model, photos[:2]).shape == (2, 16, 16)


def test_fcn_score_and_training_check_their_inputs():
    model = segmenter(3, **SMALL)
    with pytest.raises(ValueError, match="same N, H, W"):
        fcn_score(model, np.zeros((2, 8, 8, 3)), np.zeros((2, 4, 4), int), 3)
    with pytest.raises(ValueError, match="colors_to_labels"):
        train_segmenter(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8)), 3, model=model)
    with pytest.raises(ValueError, match="num_classes"):
        train_segmenter(np.zeros((2, 8, 8, 3)), np.full((2, 8, 8), 3), 3, model=model)


def test_fcn_score_on_the_synthetic_labels_to_photo_set():
    from i2ilab.data.synthetic import PHOTO_LABEL_COLORS, generate

    train = generate("labels2photo", 128, image_size=32, seed=0, split="train")
    test = generate("labels2photo", 32, image_size=32, seed=0, split="test")
    # The colour-coded input maps decode to the kept integer labels.
    np.testing.assert_array_equal(colors_to_labels(train["A"], PHOTO_LABEL_COLORS), train["labels"])
    model = train_segmenter(
        train["B"], train["labels"], 6, model=segmenter(6, **SMALL), epochs=8, learning_rate=2e-3, verbose=0
    )
    real = fcn_score(model, test["B"], test["labels"], 6)
    # Photos of other layouts (what a translator that ignores its input would give) score far lower.
    mismatched = fcn_score(model, np.roll(test["B"], 1, axis=0), test["labels"], 6)
    assert real["pixel_accuracy"] > 0.85
    assert mismatched["pixel_accuracy"] < real["pixel_accuracy"] - 0.25
    assert mismatched["class_iou"] < real["class_iou"] - 0.2
