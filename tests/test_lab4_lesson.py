"""Lab 4 (MUNIT), run top to bottom in smoke mode: within budget, and the lesson shows.

The lesson (Huang et al. 2018): decoding one input with several random style codes gives
clearly different outputs (mean pairwise L1 well above zero, a good part of the true diversity
of the four renderings of a scene), where the unimodal CycleGAN gives exactly one output per
input (diversity 0); a style taken from a reference image carries that image's large-area
colours. Thresholds: measured smoke runs (2 cores, TF) with a margin.
The full-mode code path (summer2winter_yosemite at 128x128, the paper's networks) is built on a
stand-in archive folder in the CycleGAN format at 256x256.

The lab trains the student's pieces (AdaIN in the decoders, latent losses and style sampler in
the trainer), so a wrong piece shows in the result: with an AdaIN that ignores gamma and beta,
or a sampler that returns zeros, the outputs for one input collapse to one style (a short
smoke-size run in the test process, the solution's pieces against the wrong ones).
"""

import json

import course_harness as ch
import keras
import numpy as np
import pytest
from keras import ops

LAB = "lab4_munit"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ch.execute_smoke(LAB, tmp_path_factory.mktemp("lab4"))


@pytest.mark.timed
@pytest.mark.notebook
def test_smoke_run_within_budget(run):
    ch.check_smoke_run(run, LAB)


@pytest.mark.timed
@pytest.mark.notebook
def test_munit_outputs_for_one_input_are_diverse_cyclegan_outputs_are_not(run):
    m = run.metrics["metrics"]
    print({k: round(v, 3) for k, v in m.items()})
    assert m["CycleGAN diversity"] == 0.0, "a deterministic generator has one output per input"
    assert m["MUNIT diversity"] > 0.2, "random styles must change the output clearly"
    assert m["MUNIT diversity"] > 0.3 * m["true diversity"]
    assert m["MUNIT styles covered"] >= 1.5, "random styles should reach more than one of the four styles"


@pytest.mark.timed
@pytest.mark.notebook
def test_example_guided_translation_carries_the_reference_style(run):
    m = run.metrics["metrics"]
    assert m["guided style accuracy"] > 0.6, "chance is 1/4"


def _stand_in_archive(out):
    """A summer2winter-shaped folder (trainA/trainB/testA/testB, 256x256 PNGs) that download_dataset accepts."""
    from i2ilab.data.synthetic import write_synthetic

    root = out / "cyclegan" / "summer2winter_yosemite"
    write_synthetic("styles", root, n_train=3, n_test=2, image_size=256, seed=0)
    (root / "SOURCE.json").write_text(json.dumps({"note": "stand-in for a test"}))
    return root


CHECKS = """
import tensorflow as _tf

assert FULL and IMAGE_SIZE == 128 and CYCLE_WEIGHT == 10.0
assert str(ROOT).endswith("cyclegan/summer2winter_yosemite"), ROOT
_a, _b = next(iter(train_ds))
assert tuple(_a.shape) == (1, 128, 128, 3) and tuple(_b.shape) == (1, 128, 128, 3), (_a.shape, _b.shape)
assert -1.0 <= float(_tf.reduce_min(_a)) and float(_tf.reduce_max(_a)) <= 1.0
assert test_a.shape == (2, 128, 128, 3) and renderings is None
_m = build_munit()
assert _m.gen_a.count_params() == 15_026_187, _m.gen_a.count_params()
assert _m.dis_a.count_params() == 8_271_171, _m.dis_a.count_params()
assert [tuple(o.shape[1:3]) for o in _m.dis_a.outputs] == [(8, 8), (4, 4), (2, 2)]
assert _m.recon_x_cyc_w == 10.0
_c = build_cyclegan()
assert _c.g_ab.count_params() == 11_378_179
print("FULL_PIPELINE_OK")
"""


@pytest.mark.notebook
def test_full_mode_pipeline_builds_on_stand_in_archive(tmp_path):
    """Full mode's own cells (download, data pipeline, networks) on a stand-in archive folder."""
    data = tmp_path / "data"
    _stand_in_archive(data)
    nb = ch.solution_notebook(LAB)
    answers = [_answer_source(nb, grade_id) for grade_id in ("ex_adain", "ex_latent_losses", "ex_sample_styles")]
    extra = "\n".join([*answers, ch.cell_source(nb, "data-pipeline"), ch.cell_source(nb, "build-models"), CHECKS])
    executed = ch.execute_until(LAB, tmp_path / "run", "setup", extra, I2ILAB_SMOKE=None, I2ILAB_DATA=data)
    text = "".join(o.get("text", "") for o in executed.cells[-1].get("outputs", []))
    assert "FULL_PIPELINE_OK" in text


def _answer_source(nb, grade_id):
    """The solution's answer cell ``grade_id`` (build_munit uses the student's functions)."""
    cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1, grade_id
    return cells[0].source


def _solution_pieces():
    """The solution notebook's adain, latent losses, sample_styles and mean_pairwise_distance."""
    nb = ch.solution_notebook(LAB)
    namespace = {"np": np, "ops": ops}
    for grade_id in ("ex_adain", "ex_latent_losses", "ex_sample_styles", "ex_pairwise"):
        exec(_answer_source(nb, grade_id), namespace)  # noqa: S102 (the course's own solution cells)
    return namespace


def _no_style_adain(x, gamma, beta, epsilon=1e-5):
    """A plausible mistake: instance-normalises but forgets to apply gamma and beta."""
    x = ops.cast(x, "float32")
    mean, var = ops.moments(x, axes=[1, 2], keepdims=True)
    return (x - mean) / ops.sqrt(var + epsilon)


def _zero_sampler(n, style_dim, seed=0):
    """A plausible mistake: the codes' shape and dtype but no randomness."""
    return np.zeros((n, style_dim), np.float32)


def _trained_diversity(pieces, data, test_a, adain=None, sampler=None, steps=32):
    """The lab's smoke networks trained ``steps`` steps of batch 4 with the given pieces, then the
    lab's diversity: mean pairwise L1 of 6 outputs per input, random styles from the sampler."""
    from i2ilab.models import multiscale_discriminator, munit_generator
    from i2ilab.training import MUNIT, default_adam

    sample_styles = sampler or pieces["sample_styles"]
    keras.utils.set_random_seed(0)
    gens = [
        munit_generator(32, dim=16, style_dim=8, n_res=2, mlp_dim=64, adain=adain or pieces["adain"]) for _ in range(2)
    ]
    diss = [multiscale_discriminator(32, dim=16, n_layer=2, num_scales=2) for _ in range(2)]
    trainer = MUNIT(
        *gens,
        *diss,
        seed=0,
        style_sampler=sample_styles,
        style_reconstruction_loss=pieces["style_reconstruction_loss"],
        content_reconstruction_loss=pieces["content_reconstruction_loss"],
    )
    trainer.compile(g_optimizer=default_adam(4e-4), d_optimizer=default_adam(4e-4))
    n = steps * 4
    history = trainer.fit(data["A"][:n], data["B"][:n], batch_size=4, epochs=1, verbose=0).history
    outputs = np.stack([trainer.translate(test_a, seed=100 + k) for k in range(6)], axis=1)
    score = float(np.mean([pieces["mean_pairwise_distance"](o) for o in outputs]))
    return score, {k: float(v[-1]) for k, v in history.items()}


@pytest.mark.slow
def test_a_wrong_adain_or_sampler_collapses_munit_to_one_style():
    from i2ilab.data import generate

    pieces = _solution_pieces()
    data = generate("styles", 128, image_size=32, seed=0, split="train")
    test_a = generate("styles", 8, image_size=32, seed=1, split="test")["A"]
    right, right_logs = _trained_diversity(pieces, data, test_a)
    no_style, no_style_logs = _trained_diversity(pieces, data, test_a, adain=_no_style_adain)
    zeros, _ = _trained_diversity(pieces, data, test_a, sampler=_zero_sampler)
    print(
        f"diversity: solution {right:.4f}, AdaIN without gamma/beta {no_style:.2e}, zero sampler {zeros:.2e}; "
        f"recon_s {right_logs['recon_s']:.3f} vs {no_style_logs['recon_s']:.3f}"
    )
    assert right > 0.05, f"the solution's pieces: random styles must change the output (diversity {right:.4f})"
    assert no_style < 1e-3, f"AdaIN without gamma/beta: the decoder cannot hear the style (diversity {no_style:.2e})"
    assert zeros < 1e-6, f"a zero sampler: one style only (diversity {zeros:.2e})"
    assert right > 50 * max(no_style, zeros, 1e-6)
