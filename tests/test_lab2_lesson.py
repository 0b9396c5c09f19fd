"""Lab 2 (pix2pix), run top to bottom in smoke mode: within budget, and the lesson shows.

The lesson (Isola et al. 2017, Sec. 3.1 and Table 1): on label maps whose textures have a random
phase, L1 alone paints flat means (almost no high-frequency energy); cGAN + L1 draws textures
with about the real photos' energy. Full mode's code path (facades at 256x256) is checked by
building its pipelines and networks on a stand-in facades folder, without training.
A wrong student piece shows in training: a D loss with the labels swapped (real as fake), plugged
into the library trainer as the lab plugs the student's losses, trains no textures.
"""

import json
import shutil

import course_harness as ch
import numpy as np
import pytest

LAB = "lab2_pix2pix"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ch.execute_smoke(LAB, tmp_path_factory.mktemp("lab2"))


@pytest.mark.timed
@pytest.mark.notebook
def test_smoke_run_within_budget(run):
    ch.check_smoke_run(run, LAB)


@pytest.mark.timed
@pytest.mark.notebook
def test_cgan_restores_texture_energy(run):
    energy = run.metrics["texture_energy"]
    print({k: round(v, 3) for k, v in energy.items()})
    # Measured (smoke, 600 steps, mean of the last 2 epochs, the student's pieces since issue 16): L1 0.05,
    # L1+cGAN 0.49, cGAN 1.01, D 1px 0.06 (library networks before: L1+cGAN 0.62, cGAN 1.06).
    assert energy["L1"] < 0.2, "L1 alone should paint the random-phase textures (nearly) flat"
    assert energy["L1+cGAN"] > 0.3, "cGAN + L1 should draw textures with a good part of the real energy"
    assert energy["L1+cGAN"] > 5 * energy["L1"]
    assert energy["cGAN"] > 5 * energy["L1"]
    # The 1x1 PixelGAN judges colours, not spatial structure: no sharper than L1 alone (Table 3).
    assert energy["D 1px"] < 0.5 * energy["L1+cGAN"]


@pytest.mark.timed
@pytest.mark.notebook
def test_ablations_all_ran(run):
    m = run.metrics
    assert set(m["receptive_fields"]) == {"D 1px", "D 16px", "D 34px"}
    for name in ("L1", "cGAN", "L1+cGAN", "enc-dec L1+cGAN", "D 1px", "D 16px", "D 34px"):
        assert name in m["texture_energy"] and name in m["l1"], name
    # L1 ties the output to the target: without it (cGAN alone) the pixel distance is the worst.
    assert m["l1"]["cGAN"] > m["l1"]["L1"]


@pytest.mark.notebook
def test_full_mode_builds_facades_pipeline(tmp_path):
    """Full mode on a stand-in facades folder (synthetic pairs at 256x256; no download, no training)."""
    from i2ilab.data.synthetic import write_synthetic

    facades = tmp_path / "data" / "pix2pix" / "facades"
    write_synthetic("labels2photo", facades, n_train=2, n_test=2, image_size=256)
    (facades / "SOURCE.json").write_text(json.dumps({"note": "stand-in written by the test"}))
    probe = """
import json
from i2ilab.models import patch_discriminator, unet_generator
x, y = next(iter(train_ds))
g = unet_generator(IMAGE_SIZE, ngf=NGF)
d_shapes = {n: list(patch_discriminator(IMAGE_SIZE, 6, NDF, n).output.shape[1:]) for n in RF_ABLATION}
json.dump({"FULL": FULL, "IMAGE_SIZE": IMAGE_SIZE, "x": list(x.shape), "y": list(y.shape), "test_x": list(test_x.shape),
           "g_out": list(g(x, training=True).shape), "g_params": g.count_params(), "d_shapes": d_shapes,
           "direction": DIRECTION, "root": str(ROOT), "RF_ABLATION": list(RF_ABLATION), "D_LAYERS": D_LAYERS},
          open("full_probe.json", "w"))
"""
    ch.execute_until(LAB, tmp_path / "run", "data-pipeline", probe, I2ILAB_SMOKE=None, I2ILAB_DATA=tmp_path / "data")
    p = json.loads((tmp_path / "run" / LAB / "full_probe.json").read_text())
    assert p["FULL"] and p["IMAGE_SIZE"] == 256 and p["direction"] == "BtoA"
    assert p["root"] == str(facades)
    assert p["x"] == [1, 256, 256, 3] and p["y"] == [1, 256, 256, 3] and p["test_x"] == [2, 256, 256, 3]
    assert p["g_out"] == [1, 256, 256, 3]
    assert p["RF_ABLATION"] == [0, 1, 3, 5] and p["D_LAYERS"] == 3
    assert p["d_shapes"] == {"0": [256, 256, 1], "1": [126, 126, 1], "3": [30, 30, 1], "5": [6, 6, 1]}
    shutil.rmtree(tmp_path / "data")


def _lab_texture_energy():
    """The lab's own texture_energy function (the notebook cell tagged texture-energy)."""
    import jupytext
    import keras

    nb = jupytext.read(ch.SOURCES / f"{LAB}.py", fmt="py:percent")
    namespace = {"np": np, "keras": keras, "GRADING": True}
    exec(ch.cell_source(nb, "texture-energy"), namespace)  # noqa: S102 (the course's own source)
    return namespace["texture_energy"]


@pytest.mark.slow
def test_swapped_d_labels_train_no_textures():
    """Smoke-size pix2pix (32x32, 400 steps, the lab's data and widths) with the lab's loss
    convention plugged into Pix2Pix: the solution's discriminator_loss draws textures, the same
    loss with real and fake labels swapped leaves them flat (as L1 alone)."""
    import keras
    from keras import ops

    from i2ilab import losses
    from i2ilab.data import paired_dataset, synthetic_root
    from i2ilab.data.synthetic import load_labels
    from i2ilab.models import patch_discriminator, unet_generator
    from i2ilab.training import Pix2Pix

    def discriminator_loss(real_logits, fake_logits):  # the lab's solution
        return ops.mean(ops.softplus(-real_logits)), ops.mean(ops.softplus(fake_logits))

    def swapped_labels(real_logits, fake_logits):  # real pairs labelled 0, generated pairs 1
        return ops.mean(ops.softplus(real_logits)), ops.mean(ops.softplus(-fake_logits))

    def g_gan(fake_logits):
        return ops.mean(ops.softplus(-fake_logits))

    texture_energy = _lab_texture_energy()
    root = synthetic_root("labels2photo", 32, n_train=2048)
    test = paired_dataset(root, "test", direction="AtoB", image_size=32, jitter=False, batch_size=64, shuffle=False)
    test_x, test_y = (ops.convert_to_numpy(t) for t in next(iter(test)))
    labels = load_labels(root, "test")[: len(test_x)]
    real = texture_energy(test_y, labels)
    energy = {}
    for name, d_loss in (("solution", discriminator_loss), ("swapped", swapped_labels)):
        keras.utils.set_random_seed(0)
        trainer = Pix2Pix(
            unet_generator(32, ngf=32),
            patch_discriminator(32, 6, ndf=32, n_layers=1),
            gan_mode=losses.FunctionGANLoss(d_loss, g_gan, name=name),
            seed=0,
        )
        trainer.compile()
        train = paired_dataset(
            root,
            "train",
            direction="AtoB",
            image_size=32,
            load_size=36,
            jitter=True,
            batch_size=2,
            shuffle=True,
            seed=0,
            drop_remainder=True,
        )
        values = []
        measure = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, values=values, trainer=trainer: values.append(
                texture_energy(trainer.translate(test_x), labels) / real
            )
        )
        trainer.fit(train.repeat(), steps_per_epoch=100, epochs=4, verbose=0, callbacks=[measure])
        energy[name] = float(np.mean(values[-2:]))
    print({k: round(v, 3) for k, v in energy.items()})
    # Measured (2 cores, TF): solution 0.43, swapped 0.05 (the L1-only run of the lab: 0.05).
    assert energy["swapped"] < 0.15, "swapped D labels should leave the textures (nearly) flat"
    assert energy["solution"] > 3 * energy["swapped"], energy
