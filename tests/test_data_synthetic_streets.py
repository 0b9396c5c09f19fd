"""The streets synthetic set: touching cars of one class told apart only by their instance ids."""

import json

import numpy as np
import pytest
from PIL import Image

from i2ilab.data import synthetic


def _u8(x):
    return np.round((x + 1) * 127.5).astype(np.int32)


def test_generate_keys_dtypes_and_cityscapes_ids():
    g = synthetic.generate("streets", 8, image_size=32, seed=2)
    assert g["A"].shape == g["B"].shape == (8, 32, 32, 3) and g["B"].dtype == np.float32
    assert g["labels"].dtype == g["instances"].dtype == np.int32
    assert g["labels"].shape == g["instances"].shape == (8, 32, 32)
    labels, inst = g["labels"], g["instances"]
    stuff = ~np.isin(labels, synthetic.STREET_THINGS)
    np.testing.assert_array_equal(inst[stuff], labels[stuff])  # stuff pixels hold their class id
    np.testing.assert_array_equal(inst[~stuff] // synthetic.INSTANCE_FACTOR, labels[~stuff])
    colours = np.asarray(synthetic.STREET_LABEL_COLORS)[labels]
    np.testing.assert_array_equal(_u8(g["A"]), colours)
    for k in range(8):  # 2 to 4 cars per image, each a distinct id
        assert 2 <= len(np.unique(inst[k][labels[k] == 3])) <= 4
    again = synthetic.generate("streets", 3, image_size=32, seed=2)
    np.testing.assert_array_equal(again["instances"], inst[:3])
    assert not np.array_equal(synthetic.generate("streets", 3, image_size=32, seed=2, split="test")["B"], g["B"][:3])


def _car_seams(inst, cars):
    """Horizontally adjacent pixel pairs of two different cars: (row, left column)."""
    meet = (inst[:, 1:] != inst[:, :-1]) & cars[:, 1:] & cars[:, :-1]
    return np.argwhere(meet)


@pytest.mark.parametrize("size", [32, 64])
def test_touching_cars_have_a_dark_seam_only_the_instance_map_shows(size):
    from i2ilab.models import instance_edge_map

    g = synthetic.generate("streets", 16, image_size=size, seed=0)
    edges = np.asarray(instance_edge_map(g["instances"][..., None]))[..., 0]
    label_edges = np.asarray(instance_edge_map(g["labels"][..., None]))[..., 0]
    photo = _u8(g["B"])
    interior = 0
    for k in range(16):
        cars = g["labels"][k] == 3
        seams = _car_seams(g["instances"][k], cars)
        assert len(seams) > 0  # every image has touching cars
        for r, c in seams:
            assert edges[k, r, c] == 1 and edges[k, r, c + 1] == 1  # the instance boundary map marks the seam
            if 0 < r < size - 1 and cars[r - 1, c : c + 2].all() and cars[r + 1, c : c + 2].all():
                interior += 1  # inside the car row, the label map has no boundary there
                assert label_edges[k, r, c] == 0 and label_edges[k, r, c + 1] == 0
            assert photo[k, r, c].max() < 40 and photo[k, r, c + 1].max() < 40  # dark in the photo
        ids = np.unique(g["instances"][k][cars])
        means = np.stack([photo[k][(g["instances"][k] == i) & (photo[k].max(-1) > 40)].mean(0) for i in ids])
        assert len(np.unique(np.round(means), axis=0)) == len(ids)  # every car its own colour
    assert interior >= 16


def test_written_layout_round_trips_exactly(tmp_path):
    root = synthetic.write_synthetic("streets", tmp_path / "streets", n_train=4, n_test=3, image_size=32, seed=5)
    meta = synthetic.read_meta(root)
    assert meta["format"] == "pix2pixhd" and [c["name"] for c in meta["classes"]] == list(synthetic.STREET_CLASSES)
    assert [c["instances"] for c in meta["classes"]] == [False, False, False, True]
    for split, n in (("train", 4), ("test", 3)):
        g = synthetic.generate("streets", n, image_size=32, seed=5, split=split)
        names = [f"{i:05d}.png" for i in range(n)]
        for kind in ("label", "inst", "img"):
            assert sorted(p.name for p in (root / f"{split}_{kind}").iterdir()) == names
        label = [Image.open(root / f"{split}_label" / f) for f in names]
        inst = [Image.open(root / f"{split}_inst" / f) for f in names]
        assert {im.mode for im in label} == {"L"} and {im.mode for im in inst} == {"I;16"}
        np.testing.assert_array_equal(np.stack([np.asarray(im) for im in label]), g["labels"])
        np.testing.assert_array_equal(np.stack([np.asarray(im).astype(np.int32) for im in inst]), g["instances"])
        np.testing.assert_array_equal(synthetic.load_images(root, f"{split}_img"), g["B"])
        pairs = synthetic.load_images(root, split)  # the pix2pix A|B baseline format
        np.testing.assert_array_equal(pairs[:, :, :32], g["A"])
        np.testing.assert_array_equal(synthetic.load_labels(root, split), g["labels"])
    assert json.loads((root / "meta.json").read_text())["n_test"] == 3
