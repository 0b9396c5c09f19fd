"""Lab 6 (what constrains an unpaired translation?), run top to bottom in smoke mode: within
budget, and the lesson shows.

The lesson (Benaim & Wolf 2017; Park et al. 2020): on day2night, where every test image's true
counterpart is known, a GAN alone gives night scenes unrelated to their inputs (counterpart
retrieval near chance); each prior (cycle, distance, patchwise contrast) ties the output to
its input, at different costs per step. Part 2 (Benaim & Wolf 2018): from one A image, OST's
translation of it is better than the input itself. Thresholds: measured smoke runs (2 cores,
TF) with a margin; the measured values are in the assertions' comments. The full-mode code
path (horse2zebra at 256x256, the papers' networks) is built on a stand-in tfds loader.
"""

import json

import course_harness as ch
import pytest

LAB = "lab6_unpaired"
MODELS = ("GAN alone", "CycleGAN", "DistanceGAN", "CUT")
ROWS = (*MODELS, "identity (no training)", "mean night image")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ch.execute_smoke(LAB, tmp_path_factory.mktemp("lab6"))


@pytest.mark.timed
@pytest.mark.notebook
def test_smoke_run_within_budget(run):
    ch.check_smoke_run(run, LAB, metric_keys=ROWS)


@pytest.mark.timed
@pytest.mark.notebook
def test_each_prior_ties_the_output_to_its_input(run):
    """Thresholds hold on every trajectory measured (seeds 0-3 on the 2-core machine, TF: the
    seed stands for the rounding differences between machines, which change a GAN's path)."""
    m = run.metrics["metrics"]
    print(json.dumps(m, indent=1), json.dumps(run.metrics["cut_nce"]))
    gan, cycle, dist, cut = (m[k] for k in MODELS)
    # measured (seeds 0 / 1 / 2 / 3): retrieval GAN alone 0.14 / 0.16 / 0.14 / 0.02, CycleGAN
    # 0.48 / 0.70 / 0.70 / 0.72, DistanceGAN 0.39 / 0.42 / 0.28 / 0.30, CUT 0.23 / 0.25 / 0.48 /
    # 0.03; translation error GAN alone 0.25 / 0.31 / 0.30 / 0.30, CycleGAN 0.18 / 0.17 / 0.22 /
    # 0.13, DistanceGAN 0.19 / 0.18 / 0.21 / 0.20, CUT 0.25 / 0.31 / 0.24 / 0.20; CUT's PatchNCE
    # by epoch 2.57 -> 1.50, 2.62 -> 1.65, 2.71 -> 1.40 (seeds 0, 1, 3; CUT's seed 2 numbers
    # are from before its one-forward step, which changes its path, not its values).
    assert gan["counterpart retrieval"] < 0.25, "a GAN alone keeps little of its input"
    assert cycle["counterpart retrieval"] > max(0.35, 2.5 * gan["counterpart retrieval"]), "the cycle ties most"
    assert dist["counterpart retrieval"] > max(0.2, 1.5 * gan["counterpart retrieval"]), "distances tie too"
    assert cycle["translation error"] < 0.85 * gan["translation error"]
    assert dist["translation error"] < 0.9 * gan["translation error"]
    # CUT's prior acts through features it learns (F starts random): at 600 steps its retrieval
    # ranges from near chance to 0.48, so only what holds on every run is asserted.
    assert cut["translation error"] < 0.45 * m["identity (no training)"]["translation error"], "CUT makes night images"
    nce = run.metrics["cut_nce"]
    assert nce[-1] < 0.9 * nce[0], f"CUT's PatchNCE falls: {nce}"
    assert m["identity (no training)"]["translation error"] > 2 * cycle["translation error"]
    # costs: CycleGAN trains two generators and two discriminators, the others one of each
    assert cycle["parameters"] > 1.7 * gan["parameters"] and dist["parameters"] == gan["parameters"]
    assert cycle["seconds per step"] > 1.4 * gan["seconds per step"]


@pytest.mark.timed
@pytest.mark.notebook
def test_one_shot_translation_beats_the_input(run):
    ost = run.metrics["ost"]
    print(json.dumps(ost, indent=1))
    # measured: see the comments of the lab's Question 3
    assert ost["OST"]["error on the one image"] < 0.6 * ost["identity (no training)"]["error on the one image"]


FAKE_TFDS = '''
import numpy as _np
import tensorflow as _tf
import tensorflow_datasets as _tfds

_calls = []


def _fake_load(name, split, data_dir=None, download=False, as_supervised=False, **kwargs):
    """Stand-in for tfds.load: a few random uint8 images of a size other than 256, (image, label) pairs."""
    _calls.append((name, split, download, as_supervised))
    n = {"trainA": 9, "trainB": 8, "testA": 2, "testB": 3}[split]  # 4 pairs of 2: 6 distances each
    images = _np.random.default_rng(len(_calls)).integers(0, 256, (n, 300, 280, 3), dtype=_np.uint8)
    return _tf.data.Dataset.from_tensor_slices((images, _np.zeros(n, _np.int64)))


_tfds.load = _fake_load
'''

CHECKS = """
assert FULL and IMAGE_SIZE == 256 and N_BLOCKS == 9 and NUM_PATCHES == 256
assert sorted(c[1] for c in _calls[:4]) == ["testA", "testB", "trainA", "trainB"], _calls
assert all(c[0] == "cycle_gan/horse2zebra" and c[3] for c in _calls), _calls
_a, _b = next(iter(training_data("DistanceGAN")))
assert tuple(_a.shape) == (2, 256, 256, 3) and tuple(_b.shape) == (2, 256, 256, 3), (_a.shape, _b.shape)
_a, _b = next(iter(training_data("CUT")))
assert tuple(_a.shape) == (1, 256, 256, 3), _a.shape
assert test_a.shape == (3, 256, 256, 3) and true_b is None
assert all(s > 0 for s in stats_a + stats_b), (stats_a, stats_b)
_c = build("CycleGAN")
assert _c.g_ab.count_params() == 11_378_179 and _c.d_a.count_params() == 2_764_737
_u = build("CUT")
assert _u.generator.count_params() == 11_378_179 and _u.discriminator.count_params() == 2_764_737
assert _u.patch_sampler.count_params() == 560_384, _u.patch_sampler.count_params()
assert _u.nce_loss is patch_nce_loss and _u.num_patches == 256
_d = build("DistanceGAN")
assert _d.g_ab.count_params() == 11_378_179 and _d.lambda_distance_a == 1.0 and _d.distance_loss is distance_loss
assert build("GAN alone").lambda_distance_a == 0.0
_p1, _make = build_ost()
assert _p1.enc_b.count_params() == 378_496 and _p1.enc_shared.count_params() == 7_080_960
assert _p1.dec_shared.count_params() == 7_080_960 and _p1.dec_b.count_params() == 378_243
_p2 = _make()
assert _p2.enc_a.count_params() == 378_496 and _p2.dec_a.count_params() == 378_243
assert _p1.kl_loss is shared_latent_kl and _p2.kl_loss is shared_latent_kl and _p2.enc_b is _p1.enc_b
print("FULL_PIPELINE_OK")
"""


@pytest.mark.notebook
def test_full_mode_pipeline_builds_on_stand_in_horse2zebra(tmp_path):
    """Full mode's own cells (data pipeline, networks) run on a stand-in tensorflow-datasets loader."""
    nb = ch.solution_notebook(LAB)
    answers = [
        c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("ex_")
    ]
    assert len(answers) == 4
    extra = "\n".join(
        [
            *answers,
            FAKE_TFDS,
            ch.cell_source(nb, "data-pipeline"),
            ch.cell_source(nb, "build-models"),
            ch.cell_source(nb, "ost").split("if GRADING:")[0],
            CHECKS,
        ]
    )
    executed = ch.execute_until(LAB, tmp_path, "setup", extra, I2ILAB_SMOKE=None)
    text = "".join(o.get("text", "") for o in executed.cells[-1].get("outputs", []))
    assert "FULL_PIPELINE_OK" in text
