"""Lab 1 (colorization), run top to bottom in smoke mode: within budget, and the lesson shows.

The lesson (Zhang et al. 2016, Sec. 2.1): on shapes whose colour the grey image cannot tell,
L2 regression predicts the mean of the plausible colours (greyish), L1 the per-channel median
(more colourful, still muted), classification over ab bins decoded by its mode a vivid colour;
where the colour is determined (background) every loss gets it right.
"""

import pytest

import course_harness as ch

LAB = "lab1_colorization"
#: Seconds the smoke run may take (CI: 2 cores); I2ILAB_NOTEBOOK_BUDGET_S overrides it on a slow shared machine.
BUDGET_S = ch.budget("I2ILAB_NOTEBOOK_BUDGET_S", 300.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ch.execute_smoke(LAB, tmp_path_factory.mktemp("lab1"))


@pytest.mark.notebook
def test_smoke_run_within_budget(run):
    print(f"{LAB}: smoke run {run.seconds:.0f} s wall, {run.cpu_seconds:.0f} s CPU (kernel)")
    assert run.metrics, "the notebook wrote no lesson_metrics.json"
    assert run.metrics["mode"] == "smoke" and run.metrics["image_size"] == 32
    assert run.seconds <= BUDGET_S, f"smoke run took {run.seconds:.0f} s > {BUDGET_S:g} s (I2ILAB_NOTEBOOK_BUDGET_S)"


@pytest.mark.notebook
def test_l2_desaturates_ambiguous_colours(run):
    m = run.metrics
    print({k: round(v, 3) for k, v in m["chroma_ratio"].items()})
    assert m["region"] == "ambiguous shapes"
    ratio = m["chroma_ratio"]
    assert ratio["L2"] < 0.35, "L2 should keep well under half of the true chroma on ambiguous shapes"
    assert ratio["L1"] > ratio["L2"] + 0.1, "L1 (median) should be more colourful than L2 (mean)"
    assert ratio["class mode"] > 0.6 and ratio["class mode"] > ratio["L1"], "the mode of the bin distribution is vivid"


@pytest.mark.notebook
def test_determined_colours_are_right(run):
    chroma = run.metrics["mean_chroma"]
    truth = chroma["ground truth"]["background"]
    for name in ("L2", "L1"):
        assert abs(chroma[name]["background"] - truth) < 0.25 * truth, (name, chroma[name], truth)
