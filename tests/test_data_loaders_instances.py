"""label_instance_dataset: pix2pixHD's label / instance / photo folders as tf.data batches."""

import shutil

import numpy as np
import pytest
from PIL import Image

from i2ilab.data import DataError, label_instance_dataset, synthetic


@pytest.fixture(scope="module")
def streets(tmp_path_factory):
    return synthetic.write_synthetic("streets", tmp_path_factory.mktemp("streets"), n_train=6, n_test=4, image_size=32)


def test_shapes_dtypes_and_exact_ids_without_jitter(streets):
    ds = label_instance_dataset(streets, "test", image_size=32, n_classes=4, batch_size=4, shuffle=False, jitter=False)
    (labels, inst), image = next(iter(ds))
    assert labels.shape == (4, 32, 32, 4) and labels.dtype == "float32"
    assert inst.shape == (4, 32, 32, 1) and inst.dtype == "int32"
    assert image.shape == (4, 32, 32, 3) and image.dtype == "float32"
    np.testing.assert_array_equal(labels.numpy().sum(-1), 1.0)  # one-hot
    g = synthetic.generate("streets", 4, image_size=32, seed=0, split="test")
    np.testing.assert_array_equal(labels.numpy().argmax(-1), g["labels"])
    np.testing.assert_array_equal(inst.numpy()[..., 0], g["instances"])
    np.testing.assert_array_equal(image.numpy(), g["B"])


def test_nearest_resize_and_one_crop_for_labels_instances_and_photo(streets):
    """Resized to 40 and cropped to 32: the ids stay ids, and the photo's seams lie on the
    instance edges of the same crop (one offset and flip for all three)."""
    from i2ilab.models import instance_edge_map

    ds = label_instance_dataset(streets, "train", image_size=32, n_classes=4, batch_size=6, load_size=40, seed=3)
    (labels, inst), image = next(iter(ds))
    g = synthetic.generate("streets", 6, image_size=32, seed=0, split="train")
    assert set(np.unique(inst)) <= set(np.unique(g["instances"]))  # nearest: no blended ids
    np.testing.assert_array_equal(labels.numpy().sum(-1), 1.0)
    ids, classes = inst.numpy()[..., 0], labels.numpy().argmax(-1)
    stuff = ids < synthetic.INSTANCE_FACTOR
    np.testing.assert_array_equal(ids[stuff], classes[stuff])  # labels and instances cropped alike
    np.testing.assert_array_equal(ids[~stuff] // synthetic.INSTANCE_FACTOR, classes[~stuff])
    photo = np.round((image.numpy() + 1) * 127.5)
    edges = np.asarray(instance_edge_map(inst))[..., 0]
    seam = (photo.max(-1) < 25) & (classes == 3)  # the photo's dark car seams
    assert seam.sum() > 0 and edges[seam].mean() > 0.9
    sky = classes == 0
    assert photo[sky][:, 2].mean() > photo[sky][:, 0].mean() + 30  # the sky of the photo is where the labels say
    # A second pass draws new crops.
    (labels2, _), _ = next(iter(ds))
    assert not np.array_equal(labels2.numpy(), labels.numpy())


def test_no_instance_gives_labels_only(streets, tmp_path):
    root = tmp_path / "noinst"
    shutil.copytree(streets, root, ignore=shutil.ignore_patterns("*_inst"))
    ds = label_instance_dataset(root, "test", image_size=32, n_classes=4, batch_size=2, jitter=False, instances=False)
    labels, image = next(iter(ds))
    assert labels.shape == (2, 32, 32, 4) and image.shape == (2, 32, 32, 3)
    with pytest.raises(DataError, match=r"test_inst not found"):
        label_instance_dataset(root, "test", image_size=32, n_classes=4, jitter=False)


def test_cityscapes_names_pair_up(tmp_path):
    for kind, ending in (("label", "_gtFine_labelIds"), ("inst", "_gtFine_instanceIds"), ("img", "_leftImg8bit")):
        (tmp_path / f"train_{kind}").mkdir()
        for city in ("aachen_000000_000019", "bremen_000001_000019"):
            if kind == "img":
                array = np.full((16, 16, 3), 200, np.uint8)
            elif kind == "inst":
                array = np.full((16, 16), 26001, np.uint16)
            else:
                array = np.full((16, 16), 26, np.uint8)
            Image.fromarray(array).save(tmp_path / f"train_{kind}" / f"{city}{ending}.png")
    ds = label_instance_dataset(tmp_path, "train", image_size=16, n_classes=35, batch_size=2, jitter=False)
    (labels, inst), _ = next(iter(ds))
    assert labels.shape == (2, 16, 16, 35) and np.all(labels.numpy()[..., 26] == 1) and np.all(inst.numpy() == 26001)


def test_bad_input_names_the_folder_or_file(streets, tmp_path):
    root = tmp_path / "bad"
    shutil.copytree(streets, root)
    with pytest.raises(DataError, match=r"label id 3 >= n_classes 3.*--n-classes 4"):
        label_instance_dataset(root, "test", image_size=32, n_classes=3, jitter=False)
    with pytest.raises(DataError, match=r"val_label not found"):
        label_instance_dataset(root, "val", image_size=32, n_classes=4, load_size=36)
    (root / "test_inst" / "00002.png").rename(root / "test_inst" / "00099.png")
    with pytest.raises(
        DataError, match=r"test_inst holds 4 files and .*test_label 4, with different names \(e\.g\. 00002, 00099\)"
    ):
        label_instance_dataset(root, "test", image_size=32, n_classes=4, jitter=False)
    (root / "test_inst" / "00099.png").unlink()
    with pytest.raises(DataError, match=r"test_inst holds 3 files"):
        label_instance_dataset(root, "test", image_size=32, n_classes=4, jitter=False)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "train_label" / "00001.png")
    with pytest.raises(DataError, match=r"00001: the label map, instance map and photo differ in size"):
        label_instance_dataset(root, "train", image_size=32, n_classes=4, jitter=False)
