"""Lab 4 (MUNIT) graded by nbgrader as on an instructor's machine, with C-level stderr chatter in
every cell: the solution and correct variants get full marks, each plausible single mistake loses
exactly its exercise, and answers that delegate to the library score 0 with a message.

Correct variants: ops.mean/ops.var/rsqrt and ops.std spellings of AdaIN; keras.losses'
mean_absolute_error for the latent losses; ``np.random.seed(seed); np.random.randn(...)`` and
``default_rng(seed).standard_normal(..., dtype=np.float32)`` for the style sampler (the tests
check the distribution, not the library's stream); a vectorised pairwise distance spelled with
``np.row_stack`` (a DeprecationWarning on stderr, which must not cost the cell).
"""

import course_harness as ch
import pytest

LAB = "lab4_munit"

pytestmark = pytest.mark.notebook


ADAIN_VAR = """
mean = ops.mean(x, axis=(1, 2), keepdims=True)
var = ops.var(x, axis=(1, 2), keepdims=True)
y = (x - mean) * ops.rsqrt(var + epsilon)
return ops.expand_dims(ops.expand_dims(gamma, 1), 1) * y + ops.reshape(beta, (-1, 1, 1, ops.shape(beta)[-1]))
"""

ADAIN_STD = """
x = ops.convert_to_tensor(x, "float32")
mu = ops.mean(x, axis=[1, 2], keepdims=True)
sigma = ops.sqrt(ops.square(ops.std(x, axis=[1, 2], keepdims=True)) + epsilon)
return gamma[:, None, None, :] * ((x - mu) / sigma) + beta[:, None, None, :]
"""

LOSSES_KERAS = """def style_reconstruction_loss(style, style_recon):
    return ops.mean(keras.losses.mean_absolute_error(style, style_recon))


def content_reconstruction_loss(content, content_recon):
    return ops.mean(keras.losses.mean_absolute_error(content, content_recon))
"""

CROSS_OTHER = """
content, _ = gen_a.encode(x_a)
fake = gen_b.decode(content, s_b)
recon = gen_b.encode(fake)
return fake, content_reconstruction_loss(content, recon[0]), style_reconstruction_loss(s_b, recon[1])
"""

SAMPLER_LEGACY = """
np.random.seed(seed)
return np.random.randn(n, style_dim).astype(np.float32)
"""

SAMPLER_DTYPE = "return np.random.default_rng(seed).standard_normal((n, style_dim), dtype=np.float32)"

PAIRWISE_ROW_STACK = """
flat = np.row_stack([np.ravel(o) for o in outputs]).astype(np.float64)  # (K, H * W * C); warns
i, j = np.triu_indices(len(flat), 1)
return float(np.abs(flat[i] - flat[j]).mean())
"""

PAIRWISE_BROADCAST = """
o = np.asarray(outputs, np.float64)
d = np.abs(o[:, None] - o[None]).mean(axis=(2, 3, 4))  # (K, K), zero diagonal
k = len(o)
return float(d.sum() / (k * (k - 1)))  # ordered pairs i != j: the same mean
"""

# One mistake each.
ADAIN_EPS_OUTSIDE = """
x = ops.cast(x, "float32")
mean, var = ops.moments(x, axes=[1, 2], keepdims=True)
return gamma[:, None, None, :] * (x - mean) / (ops.sqrt(var) + epsilon) + beta[:, None, None, :]
"""

STYLE_SQUARED = '    return ops.mean(ops.square(ops.cast(style_recon, "float32") - ops.cast(style, "float32")))'

CROSS_WRONG_DECODER = """
c_a, _ = gen_a.encode(x_a)
x_ab = gen_a.decode(c_a, s_b)
c_a_recon, s_b_recon = gen_b.encode(x_ab)
return x_ab, content_reconstruction_loss(c_a, c_a_recon), style_reconstruction_loss(s_b, s_b_recon)
"""

SAMPLER_UNIFORM = "return np.random.default_rng(seed).random((n, style_dim)).astype(np.float32)"

PAIRWISE_SELF_PAIRS = """
outputs = np.asarray(outputs, np.float64)
k = len(outputs)
return float(np.mean([np.abs(outputs[i] - outputs[j]).mean() for i in range(k) for j in range(k)]))
"""

# Every answer handed to the library (cross_domain_losses has no library twin: kept).
DELEGATED = {
    "ex_adain": """from i2ilab.layers import AdaIN


def adain(x, gamma, beta, epsilon=1e-5):
    return AdaIN(epsilon=epsilon)(x, gamma, beta)
""",
    "ex_latent_losses": """from i2ilab import losses
from i2ilab.losses import style_reconstruction_loss


def content_reconstruction_loss(content, content_recon):
    return losses.l1_loss(content_recon, content)
""",
    "ex_sample_styles": """import types

from i2ilab.training import MUNIT


def sample_styles(n, style_dim, seed=0):
    return MUNIT.sample_styles(types.SimpleNamespace(style_dim=style_dim, style_sampler=None), n, seed)
""",
    "ex_pairwise": "from i2ilab.metrics import mean_pairwise_distance\n",
}


def submissions():
    sol = ch.solution_notebook(LAB)
    variants = ch.set_answer(sol, "ex_adain", ADAIN_VAR)
    variants = ch.set_cell(variants, "ex_latent_losses", LOSSES_KERAS)
    variants = ch.set_answer(variants, "ex_cross_domain", CROSS_OTHER)
    variants = ch.set_answer(variants, "ex_sample_styles", SAMPLER_LEGACY)
    variants = ch.set_answer(variants, "ex_pairwise", PAIRWISE_ROW_STACK)
    variants2 = ch.set_answer(sol, "ex_adain", ADAIN_STD)
    variants2 = ch.set_answer(variants2, "ex_sample_styles", SAMPLER_DTYPE)
    variants2 = ch.set_answer(variants2, "ex_pairwise", PAIRWISE_BROADCAST)
    style_squared = ch.edit_cell(
        sol,
        "ex_latent_losses",
        '    return ops.mean(ops.abs(ops.cast(style_recon, "float32") - ops.cast(style, "float32")))',
        STYLE_SQUARED,
    )
    delegates = sol
    for grade_id, source in DELEGATED.items():
        delegates = ch.set_cell(delegates, grade_id, source)
    return {
        "solution": sol,
        "variants": variants,
        "variants2": variants2,
        "adain_eps_outside_sqrt": ch.set_answer(sol, "ex_adain", ADAIN_EPS_OUTSIDE),
        "style_loss_squared": style_squared,
        "cross_decodes_with_gen_a": ch.set_answer(sol, "ex_cross_domain", CROSS_WRONG_DECODER),
        "sampler_uniform": ch.set_answer(sol, "ex_sample_styles", SAMPLER_UNIFORM),
        "pairwise_with_self_pairs": ch.set_answer(sol, "ex_pairwise", PAIRWISE_SELF_PAIRS),
        "delegates": delegates,
    }


EXPECTED_ZERO = {
    "solution": set(),
    "variants": set(),
    "variants2": set(),
    "adain_eps_outside_sqrt": {"test_adain"},
    "style_loss_squared": {"test_latent_losses"},  # test_cross_domain uses the library's losses
    "cross_decodes_with_gen_a": {"test_cross_domain"},
    "sampler_uniform": {"test_sample_styles"},
    "pairwise_with_self_pairs": {"test_pairwise"},
    "delegates": {"test_adain", "test_latent_losses", "test_sample_styles", "test_pairwise"},
}


def test_lab4_grades_properties_one_mistake_one_exercise_and_own_work(tmp_path):
    root, grades, full = ch.grade_submissions(tmp_path, LAB, submissions())
    assert full == {
        "test_adain": 3,
        "test_latent_losses": 2,
        "test_cross_domain": 2,
        "test_sample_styles": 1,
        "test_pairwise": 2,
    }
    ch.check_scores(grades, EXPECTED_ZERO, full)

    for grade_id, name in (
        ("test_adain", "Exercise 1 (adain)"),
        ("test_sample_styles", "Exercise 4 (sample_styles)"),
        ("test_pairwise", "Exercise 5 (mean_pairwise_distance)"),
        ("test_latent_losses", "Exercise 2"),
    ):
        cell = ch.graded_cell(root, LAB, "delegates", grade_id)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert errors, grade_id
        text = errors[0]["evalue"]
        assert name in text and "0 points for this exercise" in text, (grade_id, text)
    # The warning of a correct spelling is output, not a failure: it went to stdout.
    pairwise = ch.graded_cell(root, LAB, "variants", "test_pairwise")
    outputs = pairwise.get("outputs", [])
    assert not [o for o in outputs if o.get("name") == "stderr"]
    assert "DeprecationWarning" in "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
