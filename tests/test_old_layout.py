"""Files written by the layout before the library layer moved (tests/fixtures/old_layout, made
at commit e0a336e by its make.py) still load, and the run resumes exactly."""

import importlib.util
import json
import shutil

import keras
import numpy as np
import pytest
from conftest import REPO

from i2ilab import cli

OLD = REPO / "tests" / "fixtures" / "old_layout"
_spec = importlib.util.spec_from_file_location("old_layout_make", OLD / "make.py")
make = importlib.util.module_from_spec(_spec)  # the fixture's own script: its ARGS
_spec.loader.exec_module(make)


def _load(path):
    import i2ilab.models  # noqa: F401  (registers the custom layers and MUNITGenerator)

    return keras.saving.load_model(path, compile=False)


def test_old_munit_keras_files_load_and_compute_the_same():
    expected = dict(np.load(OLD / "outputs.npz"))
    gen = _load(OLD / "munit_gen.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gen(expected["x"], training=False)), expected["gen"], atol=1e-5
    )
    logits = _load(OLD / "munit_dis.keras")(expected["x"], training=False)
    for i, got in enumerate(logits):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected[f"dis{i}"], atol=1e-5)


def test_old_run_folder_exports_load():
    config = json.loads((OLD / "run" / "config.json").read_text())
    for name, file in config["networks"].items():
        net = _load(OLD / "run" / file)
        assert net.name == name and net.input_shape[1:3] == (16, 16)


@pytest.mark.tf_only
def test_old_checkpoint_resumes_exactly(tmp_path, monkeypatch):
    """Resuming the 1-epoch run for a second epoch writes the checkpoint of an unbroken run."""
    monkeypatch.setenv("I2ILAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    shutil.copytree(OLD / "run", run)
    assert cli.main([*make.ARGS, "--epochs", "2", "--out", str(run), "--resume"]) == 0
    with np.load(OLD / "expected_epoch2.npz") as want, np.load(run / "checkpoints" / "ckpt-epoch0002.npz") as got:
        assert sorted(want.files) == sorted(got.files)
        meta_want, meta_got = (json.loads(str(f["__meta__"])) for f in (want, got))
        for key in ("format", "trainer", "pool_shapes", "metadata"):
            assert meta_got[key] == meta_want[key], key
        # variable paths carry Keras' per-process name counters (seed_generator_1): compare counts
        assert {k: len(v) for k, v in meta_got["paths"].items()} == {k: len(v) for k, v in meta_want["paths"].items()}
        for key in want.files:
            if key != "__meta__":
                np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
