"""labels2photo with shared_colors=True: texture, not colour, tells wall, bush and road apart."""

import json

import numpy as np
import pytest

from i2ilab.data import synthetic

SHARED = synthetic.SHARED_COLOR_CLASSES


def _u8(x):
    return (np.asarray(x) + 1.0) * 127.5


def test_default_set_is_unchanged_and_shared_set_differs_only_in_the_shared_classes():
    default = synthetic.generate("labels2photo", 24, image_size=32, seed=5)
    explicit = synthetic.generate("labels2photo", 24, image_size=32, seed=5, shared_colors=False)
    shared = synthetic.generate("labels2photo", 24, image_size=32, seed=5, shared_colors=True)
    for key in default:
        np.testing.assert_array_equal(default[key], explicit[key])
    # Same random draws: same layouts and label colours; sky, window and pole pixels identical.
    np.testing.assert_array_equal(shared["labels"], default["labels"])
    np.testing.assert_array_equal(shared["A"], default["A"])
    other = ~np.isin(default["labels"], SHARED)
    np.testing.assert_array_equal(shared["B"][other], default["B"][other])
    assert np.abs(shared["B"][~other] - default["B"][~other]).mean() > 0.1


def _regions(data):
    """(texture features, mean colour, class) of every shared-class region with an interior.

    Texture features: mean absolute grey difference to the right, below and up-right neighbour,
    over pixels whose neighbours are in the same region (horizontal stripes vary downwards only,
    45-degree stripes are constant along the up-right diagonal, dots vary along all three).
    """
    feats, colours, classes = [], [], []
    for img, labels in zip(data["B"], data["labels"], strict=False):
        grey = img.mean(axis=-1)
        centre = grey[1:-1, 1:-1]
        for cls in SHARED:
            mask = labels == cls
            inner = mask[1:-1, 1:-1] & mask[1:-1, 2:] & mask[2:, 1:-1] & mask[:-2, 2:]
            if inner.sum() < 20:
                continue
            steps = (grey[1:-1, 2:], grey[2:, 1:-1], grey[:-2, 2:])
            feats.append([np.abs(s - centre)[inner].mean() for s in steps])
            colours.append(img[mask].mean(axis=0))
            classes.append(cls)
    return np.array(feats), np.array(colours), np.array(classes)


def _nearest_centroid_accuracy(features, classes):
    """Fit class centroids on the first half of the regions, classify the second half."""
    half = len(classes) // 2
    centroids = np.stack([features[:half][classes[:half] == c].mean(axis=0) for c in SHARED])
    distances = np.linalg.norm(features[half:, None, :] - centroids[None], axis=-1)
    return float(np.mean(np.asarray(SHARED)[distances.argmin(axis=1)] == classes[half:]))


@pytest.mark.parametrize("size", [32, 64])
def test_colour_no_longer_identifies_the_shared_classes_but_texture_does(size):
    n = 240 if size == 32 else 80
    default = synthetic.generate("labels2photo", n, image_size=size, seed=0)
    shared = synthetic.generate("labels2photo", n, image_size=size, seed=0, shared_colors=True)
    d_tex, d_col, d_cls = _regions(default)
    s_tex, s_col, s_cls = _regions(shared)
    assert len(s_cls) > 150 and set(s_cls) == set(SHARED)
    # Region mean colours: one colour for the three classes (within a few 0..255 units, shading
    # and the highlight aside) where the default set has three far-apart colours.
    s_means = _u8([s_col[s_cls == c].mean(axis=0) for c in SHARED])
    d_means = _u8([d_col[d_cls == c].mean(axis=0) for c in SHARED])
    spread = lambda m: max(np.linalg.norm(a - b) for a in m for b in m)  # noqa: E731
    assert spread(s_means) < 10.0
    assert spread(d_means) > 60.0
    np.testing.assert_allclose(s_means.mean(axis=0), 255 * synthetic._PHOTO_SHARED_BASE, atol=8.0)
    # A colour classifier is near chance (1/3) on the shared set and perfect on the default set;
    # a texture classifier is near perfect on both.
    assert _nearest_centroid_accuracy(d_col, d_cls) > 0.97
    assert _nearest_centroid_accuracy(s_col, s_cls) < 0.55
    assert _nearest_centroid_accuracy(s_tex, s_cls) > 0.95


def test_shared_textures_have_zero_mean():
    # Dots are mostly "off" (-1): their mean is subtracted so that the class mean is the shared base.
    assert synthetic._texture_mean("dots") == pytest.approx(-0.49, abs=0.01)
    assert synthetic._texture_mean("stripes") == 0.0


def test_written_sets_record_the_option_and_cache_apart(tmp_path):
    shared_root = synthetic.synthetic_root(
        "labels2photo", 16, n_train=3, n_test=2, cache_dir=tmp_path, shared_colors=True
    )
    default_root = synthetic.synthetic_root("labels2photo", 16, n_train=3, n_test=2, cache_dir=tmp_path)
    assert shared_root != default_root
    assert json.loads((shared_root / "meta.json").read_text())["shared_colors"] == ["wall", "bush", "road"]
    assert "shared_colors" not in json.loads((default_root / "meta.json").read_text())
    expected = synthetic.generate("labels2photo", 3, image_size=16, seed=0, shared_colors=True)
    np.testing.assert_array_equal(synthetic.load_labels(shared_root, "train"), expected["labels"])
    photos = synthetic.load_images(shared_root, "train")[..., 16:, :]  # A|B: the right half is B
    np.testing.assert_allclose(photos, expected["B"], atol=1e-6)


def test_shared_colors_is_a_labels2photo_option_only():
    with pytest.raises(ValueError, match="shared_colors"):
        synthetic.generate("colors", 1, shared_colors=True)
    with pytest.raises(ValueError, match="shared_colors"):
        synthetic.synthetic_root("day2night", 16, n_train=1, n_test=1, shared_colors=True)
