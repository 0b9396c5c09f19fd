"""Lab 5 (BicycleGAN, pix2pixHD) graded by nbgrader as on an instructor's machine, with C-level
stderr chatter in every cell: the solution and correct variants get full marks, each plausible
single mistake loses exactly its exercise, and answers that delegate to the library score 0 with
a message.

Correct variants: ``ops.tile`` and ``ops.repeat`` spellings of the code injection; the KL as
``0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)``; keras.losses' mean_absolute_error for the latent
regression; ``sqrt(exp(logvar))`` for sigma and ``encoder(fake)[0]`` for the recovered code; a
vectorised coverage (``np.unique`` of the argmins); feature matching written with one flat list
of weighted terms; an edge map built with ``ops.concatenate`` and ``ops.logical_or``.
"""

import course_harness as ch
import pytest

LAB = "lab5_bicyclegan"

pytestmark = pytest.mark.notebook

INJECT_TILE = """
h, w = ops.shape(x)[1], ops.shape(x)[2]
tiled = ops.tile(ops.reshape(ops.cast(z, x.dtype), (-1, 1, 1, ops.shape(z)[-1])), (1, h, w, 1))
return ops.concatenate([x, tiled], axis=-1)
"""

INJECT_REPEAT = """
z4 = ops.expand_dims(ops.expand_dims(ops.cast(z, x.dtype), 1), 1)
z4 = ops.repeat(ops.repeat(z4, ops.shape(x)[1], axis=1), ops.shape(x)[2], axis=2)
return ops.concatenate([x, z4], axis=3)
"""

KL_OTHER = """
mu = ops.convert_to_tensor(mu, "float32")
logvar = ops.convert_to_tensor(logvar, "float32")
return 0.5 * ops.sum(ops.square(mu) + ops.exp(logvar) - 1.0 - logvar)
"""

LATENT_KERAS = "return ops.mean(keras.losses.mean_absolute_error(z, z_recon))"

CVAE_OTHER = """
sigma = ops.sqrt(ops.exp(logvar))
fake = generator([a, mu + sigma * eps])
return fake, {"kl": kl_loss(mu, logvar), "G_L1": ops.mean(ops.abs(b - fake)), "G_GAN": adversarial(discriminator(fake))}
"""

CLR_OTHER = """
fake = generator([a, z])
z_recon = encoder(fake)[0]
return fake, {"z_L1": latent_regression_loss(z, z_recon), "G_GAN2": adversarial(discriminator2(fake))}
"""

COVERAGE_VECTORISED = """
s = np.asarray(samples, np.float64)
t = np.asarray(true_outputs, np.float64)
d = np.abs(s[:, :, None] - t[:, None]).mean(axis=(3, 4, 5))  # (N, K, T)
nearest = d.argmin(axis=2)
return float(np.mean([len(np.unique(row)) / t.shape[1] for row in nearest]))
"""

FM_FLAT = """
terms = []
for maps_f, maps_r in zip(fake_outputs, real_outputs):
    scale = weight * 4.0 / (len(maps_f) - 1) / len(fake_outputs)
    terms += [scale * ops.mean(ops.abs(ops.stop_gradient(r) - f)) for f, r in zip(maps_f[:-1], maps_r[:-1])]
return ops.sum(ops.stack(terms))
"""

EDGES_CONCAT = """
t = ops.convert_to_tensor(instances)
right = ops.concatenate([t[:, :, 1:] != t[:, :, :-1], ops.zeros_like(t[:, :, :1]) > 0], axis=2)
left = ops.concatenate([ops.zeros_like(t[:, :, :1]) > 0, t[:, :, 1:] != t[:, :, :-1]], axis=2)
down = ops.concatenate([t[:, 1:] != t[:, :-1], ops.zeros_like(t[:, :1]) > 0], axis=1)
up = ops.concatenate([ops.zeros_like(t[:, :1]) > 0, t[:, 1:] != t[:, :-1]], axis=1)
return ops.cast(ops.logical_or(ops.logical_or(right, left), ops.logical_or(down, up)), "float32")
"""

# One mistake each.
INJECT_Z_FIRST = """
tiled = ops.broadcast_to(ops.cast(z, x.dtype)[:, None, None, :], (*ops.shape(x)[:3], ops.shape(z)[-1]))
return ops.concatenate([tiled, x], axis=-1)
"""

KL_MEAN = """
mu, logvar = ops.cast(mu, "float32"), ops.cast(logvar, "float32")
return -0.5 * ops.mean(1.0 + logvar - ops.square(mu) - ops.exp(logvar))
"""

LATENT_SQUARED = 'return ops.mean(ops.square(ops.cast(z_recon, "float32") - ops.cast(z, "float32")))'

CVAE_VARIANCE = """
z = mu + ops.exp(logvar) * eps
fake = generator([a, z])
return fake, {"G_GAN": adversarial(discriminator(fake)), "G_L1": ops.mean(ops.abs(fake - b)), "kl": kl_loss(mu, logvar)}
"""

CLR_LOGVAR = """
fake = generator([a, z])
_, logvar = encoder(fake)
return fake, {"G_GAN2": adversarial(discriminator2(fake)), "z_L1": latent_regression_loss(z, logvar)}
"""

COVERAGE_OF_SAMPLES = """
s = np.asarray(samples, np.float64)
t = np.asarray(true_outputs, np.float64)
d = np.abs(s[:, :, None] - t[:, None]).mean(axis=(3, 4, 5))
return float(np.mean([len(set(row.tolist())) / s.shape[1] for row in d.argmin(axis=2)]))
"""

FM_WITH_LOGITS = """
total = 0.0
for maps_f, maps_r in zip(fake_outputs, real_outputs):
    for f, r in zip(maps_f, maps_r):
        total = total + weight / len(fake_outputs) * 4.0 / (len(maps_f) - 1) * ops.mean(ops.abs(f - ops.stop_gradient(r)))
return total
"""

EDGES_ONE_SIDE = """
t = ops.convert_to_tensor(instances)
dx = ops.cast(t[:, :, 1:] != t[:, :, :-1], "float32")
dy = ops.cast(t[:, 1:] != t[:, :-1], "float32")
ex = ops.pad(dx, [[0, 0], [0, 0], [0, 1], [0, 0]])
ey = ops.pad(dy, [[0, 0], [0, 1], [0, 0], [0, 0]])
return ops.maximum(ex, ey)
"""

# Every answer handed to the library.
DELEGATED = {
    "ex_inject_z": """from i2ilab.models.bicyclegan import TileConcat


def inject_z(x, z):
    return TileConcat()(x, z)
""",
    "ex_kl": "from i2ilab.losses import kl_loss\n",
    "ex_latent": """from i2ilab import losses


def latent_regression_loss(z, z_recon):
    return losses.l1_loss(z_recon, z)
""",
    "ex_cvae": """from i2ilab.training.bicyclegan import cvae_gan_terms


def cvae_gan_half(generator, discriminator, a, b, mu, logvar, eps, adversarial):
    return cvae_gan_terms(generator, discriminator, a, b, mu, logvar, eps, adversarial, training=False)
""",
    "ex_clr": """from i2ilab.training import bicyclegan


def clr_gan_half(generator, encoder, discriminator2, a, z, adversarial):
    return bicyclegan.clr_gan_terms(generator, encoder, discriminator2, a, z, adversarial, training=False)
""",
    "ex_coverage": """from i2ilab.metrics import multimodal_scores


def coverage(samples, true_outputs):
    return multimodal_scores(samples, true_outputs)["coverage"]
""",
    "ex_feature_matching": "from i2ilab.losses import feature_matching_loss\n",
    "ex_edge_map": """from i2ilab.models import instance_edge_map


def edge_map(instances):
    return instance_edge_map(instances)
""",
}

# Two submissions of four independent mistakes each (every test that needs another exercise's
# function uses the library's, so each mistake costs exactly its own exercise).
MISTAKES = {
    "mistakes_a": {
        "ex_inject_z": INJECT_Z_FIRST,  # z's channels before x's
        "ex_kl": KL_MEAN,  # a mean, not the reference's sum
        "ex_clr": CLR_LOGVAR,  # regresses z on logvar instead of mu
        "ex_feature_matching": FM_WITH_LOGITS,  # matches the logits too
    },
    "mistakes_b": {
        "ex_latent": LATENT_SQUARED,  # squared error instead of |d|
        "ex_cvae": CVAE_VARIANCE,  # exp(logvar) (the variance) instead of the std
        "ex_coverage": COVERAGE_OF_SAMPLES,  # share of samples, not of true outputs
        "ex_edge_map": EDGES_ONE_SIDE,  # marks one pixel of each differing pair
    },
}


def submissions():
    sol = ch.solution_notebook(LAB)
    variants = ch.set_answer(sol, "ex_inject_z", INJECT_TILE)
    variants = ch.set_answer(variants, "ex_kl", KL_OTHER)
    variants = ch.set_answer(variants, "ex_latent", LATENT_KERAS)
    variants = ch.set_answer(variants, "ex_cvae", CVAE_OTHER)
    variants = ch.set_answer(variants, "ex_clr", CLR_OTHER)
    variants = ch.set_answer(variants, "ex_coverage", COVERAGE_VECTORISED)
    variants = ch.set_answer(variants, "ex_feature_matching", FM_FLAT)
    variants = ch.set_answer(variants, "ex_edge_map", EDGES_CONCAT)
    variants2 = ch.set_answer(sol, "ex_inject_z", INJECT_REPEAT)
    delegates = sol
    for grade_id, source in DELEGATED.items():
        delegates = ch.set_cell(delegates, grade_id, source)
    subs = {"solution": sol, "variants": variants, "variants2": variants2, "delegates": delegates}
    for name, answers in MISTAKES.items():
        nb = sol
        for grade_id, code in answers.items():
            nb = ch.set_answer(nb, grade_id, code)
        subs[name] = nb
    return subs


EXPECTED_ZERO = {
    "solution": set(),
    "variants": set(),
    "variants2": set(),
    "delegates": {f"test_{g[3:]}" for g in DELEGATED},
    **{name: {f"test_{g[3:]}" for g in answers} for name, answers in MISTAKES.items()},
}


def test_lab5_grades_properties_one_mistake_one_exercise_and_own_work(tmp_path):
    root, grades, full = ch.grade_submissions(tmp_path, LAB, submissions())
    assert full == {
        "test_inject_z": 2,
        "test_kl": 2,
        "test_latent": 1,
        "test_cvae": 3,
        "test_clr": 2,
        "test_coverage": 2,
        "test_feature_matching": 2,
        "test_edge_map": 2,
    }
    ch.check_scores(grades, EXPECTED_ZERO, full)
    for grade_id, name in (
        ("test_inject_z", "Exercise 1 (inject_z)"),
        ("test_kl", "Exercise 2 (kl_loss)"),
        ("test_latent", "Exercise 3 (latent_regression_loss)"),
        ("test_cvae", "Exercise 4 (cvae_gan_half)"),
        ("test_clr", "Exercise 5 (clr_gan_half)"),
        ("test_coverage", "Exercise 6 (coverage)"),
        ("test_feature_matching", "Exercise 7 (feature_matching_loss)"),
        ("test_edge_map", "Exercise 8 (edge_map)"),
    ):
        cell = ch.graded_cell(root, LAB, "delegates", grade_id)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert errors, grade_id
        text = errors[0]["evalue"]
        assert name in text and "0 points for this exercise" in text, (grade_id, text)
