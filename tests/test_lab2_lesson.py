"""Lab 2 (pix2pix), run top to bottom in smoke mode: within budget, and the lesson shows.

The lesson (Isola et al. 2017, Sec. 3.1 and Table 1): on label maps whose textures have a random
phase, L1 alone paints flat means (almost no high-frequency energy); cGAN + L1 draws textures
with about the real photos' energy. Full mode's code path (facades at 256x256) is checked by
building its pipelines and networks on a stand-in facades folder, without training.
"""

import json
import shutil

import pytest

import course_harness as ch

LAB = "lab2_pix2pix"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ch.execute_smoke(LAB, tmp_path_factory.mktemp("lab2"))


@pytest.mark.notebook
def test_smoke_run_within_budget(run):
    ch.check_smoke_run(run, LAB)


@pytest.mark.notebook
def test_cgan_restores_texture_energy(run):
    energy = run.metrics["texture_energy"]
    print({k: round(v, 3) for k, v in energy.items()})
    # Measured (smoke, 600 steps, mean of the last 2 epochs): L1 0.05, L1+cGAN 0.62, cGAN 1.06, D 1px 0.06.
    assert energy["L1"] < 0.2, "L1 alone should paint the random-phase textures (nearly) flat"
    assert energy["L1+cGAN"] > 0.3, "cGAN + L1 should draw textures with a good part of the real energy"
    assert energy["L1+cGAN"] > 5 * energy["L1"]
    assert energy["cGAN"] > 5 * energy["L1"]
    # The 1x1 PixelGAN judges colours, not spatial structure: no sharper than L1 alone (Table 3).
    assert energy["D 1px"] < 0.5 * energy["L1+cGAN"]


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
