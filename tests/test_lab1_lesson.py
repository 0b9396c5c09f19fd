"""Lab 1 (colorization), run top to bottom in smoke mode: within budget, and the lesson shows.

The lesson (Zhang et al. 2016, Sec. 2.1): on shapes whose colour the grey image cannot tell,
L2 regression predicts the mean of the plausible colours (greyish), L1 the per-channel median
(more colourful, still muted), classification over ab bins decoded by its mode a vivid colour;
where the colour is determined (background) every loss gets it right. Full mode's code path
(photos at 256x256) is checked by building its pipeline and network on a stand-in photo folder,
without training.
"""

import json
import shutil

import course_harness as ch
import pytest

LAB = "lab1_colorization"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ch.execute_smoke(LAB, tmp_path_factory.mktemp("lab1"))


@pytest.mark.timed
@pytest.mark.notebook
def test_smoke_run_within_budget(run):
    ch.check_smoke_run(run, LAB)


@pytest.mark.timed
@pytest.mark.notebook
def test_l2_desaturates_ambiguous_colours(run):
    m = run.metrics
    print({k: round(v, 3) for k, v in m["chroma_ratio"].items()})
    assert m["region"] == "ambiguous shapes"
    ratio = m["chroma_ratio"]
    # Measured (smoke, 800 steps): L2 0.14, L1 0.34, class mean 0.10, annealed 0.16, mode 1.00.
    assert ratio["L2"] < 0.35, "L2 should keep well under half of the true chroma on ambiguous shapes"
    assert ratio["L1"] > ratio["L2"] + 0.1, "L1 (median) should be more colourful than L2 (mean)"
    assert ratio["class mode"] > 0.6 and ratio["class mode"] > ratio["L1"], "the mode of the bin distribution is vivid"


@pytest.mark.timed
@pytest.mark.notebook
def test_determined_colours_are_right(run):
    chroma = run.metrics["mean_chroma"]
    truth = chroma["ground truth"]["background"]
    for name in ("L2", "L1"):
        assert abs(chroma[name]["background"] - truth) < 0.25 * truth, (name, chroma[name], truth)


@pytest.mark.notebook
def test_full_mode_builds_photo_pipeline(tmp_path):
    """Full mode on a stand-in photo folder (synthetic images at 256x256; no download, no training)."""
    from i2ilab.data.synthetic import write_synthetic

    photos = tmp_path / "data" / "cyclegan" / "summer2winter_yosemite"
    write_synthetic("colors", tmp_path / "written", n_train=16, n_test=2, image_size=256)
    photos.mkdir(parents=True)
    shutil.move(tmp_path / "written" / "train", photos / "trainA")
    shutil.move(tmp_path / "written" / "test", photos / "testA")
    (photos / "SOURCE.json").write_text(json.dumps({"note": "stand-in written by the test"}))
    probe = """
import json
from i2ilab.models import unet_generator
l_batch, ab_batch = next(iter(train_ds))
g = unet_generator(IMAGE_SIZE, in_channels=1, out_channels=2, ngf=NGF)
json.dump({"FULL": FULL, "IMAGE_SIZE": IMAGE_SIZE, "l": list(l_batch.shape), "ab": list(ab_batch.shape),
           "test_l": list(test_l.shape), "labels": test_labels is None, "out": list(g(l_batch[:1]).shape),
           "root": str(ROOT), "splits": [TRAIN_SPLIT, TEST_SPLIT]}, open("full_probe.json", "w"))
"""
    ch.execute_until(LAB, tmp_path / "run", "data-pipeline", probe, I2ILAB_SMOKE=None, I2ILAB_DATA=tmp_path / "data")
    p = json.loads((tmp_path / "run" / LAB / "full_probe.json").read_text())
    assert p["FULL"] and p["IMAGE_SIZE"] == 256 and p["root"] == str(photos) and p["splits"] == ["trainA", "testA"]
    assert p["l"] == [16, 256, 256, 1] and p["ab"] == [16, 256, 256, 2] and p["test_l"] == [2, 256, 256, 1]
    assert p["labels"] and p["out"] == [1, 256, 256, 2]


@pytest.mark.slow
@pytest.mark.tf_only
def test_a_wrong_student_loss_changes_what_the_lab_trains():
    """The lab trains the student's own loss: an "l1_loss" that squares (a plausible mistake)
    makes the L1 colorizer as grey as L2's on the ambiguous shapes, where the correct one is not."""
    import keras
    import numpy as np
    from keras import ops

    from i2ilab.data import colorization_dataset, l_ab_to_rgb, synthetic_root
    from i2ilab.data.synthetic import load_labels
    from i2ilab.metrics import srgb_to_lab
    from i2ilab.models import unet_generator
    from i2ilab.training import Colorizer

    def own_l1(x, y):
        return ops.mean(ops.abs(ops.cast(x, "float32") - ops.cast(y, "float32")))

    def squared_l1(x, y):
        return ops.mean(ops.square(ops.cast(x, "float32") - ops.cast(y, "float32")))

    root = synthetic_root("colors", 32, n_train=4096)
    train = colorization_dataset(
        root,
        "train",
        image_size=32,
        load_size=36,
        jitter=True,
        batch_size=32,
        shuffle=True,
        seed=0,
        drop_remainder=True,
    )
    test_l, test_ab = (
        np.asarray(t) for t in next(iter(colorization_dataset(root, "test", image_size=32, batch_size=64)))
    )
    ambiguous = np.isin(load_labels(root, "test")[: len(test_l)], (1, 2))

    def chroma_ratio(loss):
        keras.utils.set_random_seed(0)
        trainer = Colorizer(unet_generator(32, in_channels=1, out_channels=2, ngf=16), loss=loss)
        trainer.compile(g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))
        trainer.fit(train.repeat(), steps_per_epoch=400, epochs=1, verbose=0)
        chroma = [
            np.hypot(*np.moveaxis(srgb_to_lab(img)[..., 1:], -1, 0))
            for img in (trainer.translate(test_l), np.asarray(l_ab_to_rgb(test_l, test_ab)))
        ]
        return chroma[0][ambiguous].mean() / chroma[1][ambiguous].mean()

    right, wrong = chroma_ratio(own_l1), chroma_ratio(squared_l1)
    print(f"chroma kept on ambiguous shapes: own l1 {right:.3f}, squared 'l1' {wrong:.3f}")
    assert right > wrong + 0.08, (right, wrong)
