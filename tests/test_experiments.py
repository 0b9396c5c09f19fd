"""experiments.pix2pix_tables: the tiny configuration end to end, the D mapping, tables and checks."""

import json

import keras
import numpy as np
import pytest

from experiments import pix2pix_tables as p2p
from i2ilab.models import receptive_field
from i2ilab.recipes import max_patch_layers


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="ten variants cost minutes on JAX (CPU); test_tiny_run_on_this_backend covers JAX",
)
def test_tiny_run_prints_and_writes_every_row(tmp_path, capsys):
    out = tmp_path / "run"
    assert p2p.main(["--tiny", "--tables", "1,2,3", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    written = json.loads((out / "results.json").read_text())
    # The JSON line is results.json without the text tables.
    assert summary == {k: v for k, v in written.items() if k != "tables_text"}
    assert summary["tables"] == [1, 2, 3] and summary["tiny"] is True
    results = summary["results"]
    # Every variant of every table was trained and scored, plus the ground truth.
    assert set(results) == set(p2p.VARIANTS) | {"real"}
    for key, r in results.items():
        for metric in ("pixel_accuracy", "class_accuracy", "class_iou"):
            assert 0.0 <= r[metric] <= 1.0, (key, metric, r[metric])
        assert len(r["per_class_accuracy"]) == p2p.NUM_CLASSES
        assert r["texture"] >= 0.0 and r["l1"] >= 0.0
    assert results["real"]["l1"] == 0.0 and results["real"]["texture"] == pytest.approx(1.0)
    # Final losses as the trainer logs them: no D for the L1 rows, D losses for the others.
    assert set(results["l1"]["final_losses"]) == {"G_L1"}
    assert {"G_GAN", "G_L1", "D_real", "D_fake"} <= set(results["pg286"]["final_losses"])
    # Table 3 rows carry the D actually used at 32x32: n_layers 0..3.
    assert [results[k]["discriminator"]["n_layers"] for k in ("pg1", "pg16", "l1_cgan", "pg286")] == [0, 1, 2, 3]
    # The text tables: every row with its paper numbers; the checks are booleans.
    text = "\n".join(lines[:-1])
    for table, rows in p2p.ROWS.items():
        assert p2p.TITLES[table] in text
        for name, _ in rows:
            paper = p2p.PAPER[table][name]
            assert any(line.startswith(name) and f"{paper[0]:.3f}" in line for line in text.splitlines()), name
    assert "not run" not in text
    assert all(isinstance(v, bool) for v in summary["checks"].values())
    assert (out / "tables.md").read_text().count("Ground truth") == 1
    from PIL import Image

    grid = Image.open(out / "samples.png")
    # Columns: label map, 10 variants, real photo.
    assert grid.width > 12 * 32


@pytest.mark.slow  # about 60 s on JAX (CPU), 10 s on TensorFlow
def test_tiny_run_on_this_backend():
    summary = p2p.run(tiny=True, tables=(1,), variants=["l1", "l1_cgan"], verbose=0)
    results = summary["results"]
    assert set(results) == {"real", "l1", "l1_cgan"}
    assert summary["versions"]["backend"] == keras.backend.backend()
    assert results["l1"]["discriminator"] is None
    assert results["l1_cgan"]["discriminator"]["receptive_field"] == 34  # the "70x70" D at 32x32
    for r in results.values():
        assert 0.0 <= r["pixel_accuracy"] <= 1.0 and 0.0 <= r["class_iou"] <= 1.0
    assert isinstance(summary["checks"]["L1+cGAN above L1 (Table 1)"], bool)
    assert summary["checks"]["70x70 above 1x1 (Table 3)"] is None
    assert summary["tables_text"].count("not run") == 3  # GAN, cGAN, L1+GAN


@pytest.mark.parametrize("size", p2p.SIZES)
def test_discriminator_mapping_keeps_the_order_and_fits_the_image(size):
    layers = p2p.discriminator_layers(size)
    fields = [receptive_field(layers[f]) for f in (1, 16, 70, 286)]
    assert fields == sorted(set(fields))  # four distinct, increasing receptive fields
    assert max(layers.values()) <= max_patch_layers(size)  # every D has a logit map
    assert fields[0] == 1 and fields[-1] >= size  # the "286" D sees the whole image
    if size == 256:
        assert fields == [1, 16, 70, 286]


def test_tables_show_missing_rows_and_checks_follow_the_scores():
    def r(pixel, iou):
        return {"pixel_accuracy": pixel, "class_accuracy": 0.5, "class_iou": iou, "texture": 1.0, "l1": 0.1}

    results = {"real": r(0.99, 0.9), "l1": r(0.8, 0.5), "l1_cgan": r(0.9, 0.7), "pg1": r(0.85, 0.75)}
    checks = p2p.ordering_checks(results)
    assert checks["L1+cGAN above L1 (Table 1)"] is True
    assert checks["70x70 above 1x1 (Table 3)"] is False  # higher pixel accuracy but lower IoU
    assert checks["70x70 above 286x286 (Table 3)"] is None
    text = p2p.format_tables(results, (1, 3), 64)
    lines = text.splitlines()
    assert sum("not run" in line for line in lines) == 5  # GAN, cGAN, L1+GAN, 16x16, 286x286
    l1_line = next(line for line in lines if line.startswith("L1 "))
    assert "0.800" in l1_line and "0.420" in l1_line


def test_bad_arguments_exit_with_a_message(capsys):
    assert p2p.main(["--tiny", "--variants", "l1,l2"]) == 2
    assert "l2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p2p.parse_args(["--size", "48"])
    with pytest.raises(ValueError, match="tables"):
        p2p.run(tiny=True, tables=(4,))


def test_high_frequency_energy_of_flat_and_textured_images():
    flat = np.full((2, 8, 8, 3), 0.3, np.float32)
    stripes = np.zeros((1, 8, 8, 3), np.float32)
    stripes[:, :, ::2] = 1.0
    assert p2p.high_frequency_energy(flat) == 0.0
    assert p2p.high_frequency_energy(stripes) > 0.1
