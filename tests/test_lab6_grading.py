"""Lab 6 (the unpaired family) graded by nbgrader as on an instructor's machine, with C-level
stderr chatter in every cell: the solution and correct variants get full marks, each plausible
single mistake loses exactly its exercise, and answers that delegate to the library score 0 with
a message.

Correct variants: the distance loss over all pairs i != j (the same mean, the matrix is
symmetric) and as a Python loop over the pairs; PatchNCE as the authors write it (l_pos, l_neg
with the diagonal masked, a cross-entropy with target 0) and with ``log_softmax``; a
counterpart retrieval with a loop of ``np.linalg.norm(..., ord=1)``; the KL as ``mean(h * h)``.
"""

import course_harness as ch
import pytest

LAB = "lab6_unpaired"

pytestmark = pytest.mark.notebook

DIST_ALL_PAIRS = """
def d(x):
    f = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], -1))
    return ops.mean(ops.abs(ops.expand_dims(f, 0) - ops.expand_dims(f, 1)), axis=2)

s = (d(source) - source_stats[0]) / source_stats[1]
t = (d(translated) - target_stats[0]) / target_stats[1]
n = ops.shape(s)[0]
off = 1.0 - ops.eye(n, dtype="float32")
return ops.sum(off * ops.abs(s - t)) / ops.sum(off)
"""

DIST_LOOP = """
n = source.shape[0]
terms = []
for i in range(n):
    for j in range(i + 1, n):
        ds = ops.mean(ops.abs(ops.cast(source[i], "float32") - ops.cast(source[j], "float32")))
        dt = ops.mean(ops.abs(ops.cast(translated[i], "float32") - ops.cast(translated[j], "float32")))
        terms.append(ops.abs((ds - source_stats[0]) / source_stats[1] - (dt - target_stats[0]) / target_stats[1]))
return ops.mean(ops.stack(terms))
"""

NCE_AUTHORS = """
q = ops.cast(feat_q, "float32")
k = ops.stop_gradient(ops.cast(feat_k, "float32"))
l_pos = ops.sum(q * k, axis=1, keepdims=True)
qb = ops.reshape(q, (batch_size, -1, q.shape[-1]))
kb = ops.reshape(k, (batch_size, -1, q.shape[-1]))
l_neg = ops.matmul(qb, ops.transpose(kb, (0, 2, 1)))
p = ops.shape(qb)[1]
l_neg = ops.where(ops.eye(p, dtype="bool")[None], -10.0, l_neg)
logits = ops.concatenate([l_pos, ops.reshape(l_neg, (-1, p))], axis=1) / nce_t
return ops.logsumexp(logits, axis=1) - logits[:, 0]
"""

NCE_LOG_SOFTMAX = """
q = ops.reshape(ops.cast(feat_q, "float32"), (batch_size, -1, ops.shape(feat_q)[-1]))
k = ops.reshape(ops.stop_gradient(ops.cast(feat_k, "float32")), (batch_size, -1, ops.shape(feat_k)[-1]))
scores = ops.log_softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))) / nce_t, axis=-1)
return -ops.reshape(ops.diagonal(scores, axis1=1, axis2=2), (-1,))
"""

RETRIEVAL_LOOP = """
hits = 0
for i, out in enumerate(outputs):
    d = [np.linalg.norm((np.asarray(out) - np.asarray(t)).ravel(), ord=1) for t in truths]
    hits += int(np.argmin(d) == i)
return hits / len(outputs)
"""

KL_PRODUCT = 'h = ops.cast(h, "float32")\nreturn ops.mean(h * h)'

# One mistake each.
DIST_SOURCE_STATS = """
def d(x):
    f = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], -1))
    return ops.mean(ops.abs(f[:, None] - f[None]), axis=-1)

mu, sigma = source_stats
gap = ops.abs((d(source) - mu) / sigma - (d(translated) - mu) / sigma)
n = ops.shape(gap)[0]
upper = ops.cast(ops.arange(n)[:, None] < ops.arange(n)[None, :], "float32")
return ops.sum(upper * gap) / ops.sum(upper)
"""

DIST_WITH_DIAGONAL = """
def d(x):
    f = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], -1))
    return ops.mean(ops.abs(f[:, None] - f[None]), axis=-1)

gap = ops.abs((d(source) - source_stats[0]) / source_stats[1] - (d(translated) - target_stats[0]) / target_stats[1])
return ops.mean(gap)
"""

NCE_BATCH_NEGATIVES = """
q = ops.cast(feat_q, "float32")
k = ops.stop_gradient(ops.cast(feat_k, "float32"))
logits = ops.matmul(q, ops.transpose(k)) / nce_t
return ops.logsumexp(logits, axis=-1) - ops.diagonal(logits)
"""

NCE_KEYS_TRAINED = """
q = ops.cast(feat_q, "float32")
k = ops.cast(feat_k, "float32")
qb = ops.reshape(q, (batch_size, -1, ops.shape(q)[-1]))
kb = ops.reshape(k, (batch_size, -1, ops.shape(k)[-1]))
logits = ops.einsum("bnd,bmd->bnm", qb, kb) / nce_t
return ops.reshape(ops.logsumexp(logits, axis=-1) - ops.diagonal(logits, axis1=1, axis2=2), (-1,))
"""

RETRIEVAL_PER_TRUTH = """
o = np.asarray(outputs, np.float64)
t = np.asarray(truths, np.float64)
d = np.abs(o[:, None] - t[None]).mean(axis=(2, 3, 4))
return float((d.argmin(axis=0) == np.arange(len(t))).mean())
"""

KL_SUM = 'return ops.sum(ops.square(ops.cast(h, "float32")))'

# Every answer handed to the library.
DELEGATED = {
    "ex_distance": "from i2ilab.losses import normalized_distance_loss as distance_loss\n",
    "ex_nce": """from i2ilab import losses


def patch_nce_loss(feat_q, feat_k, batch_size, nce_t=0.07):
    return losses.patch_nce_loss(feat_q, feat_k, batch_size, nce_t)
""",
    "ex_retrieval": """from i2ilab.metrics import counterpart_retrieval as _library_retrieval


def counterpart_retrieval(outputs, truths):
    return _library_retrieval(outputs, truths)
""",
    "ex_kl": "from i2ilab.losses import unit_kl_loss as shared_latent_kl\n",
}

# Two submissions of two independent mistakes each.
MISTAKES = {
    "mistakes_a": {
        "ex_distance": DIST_SOURCE_STATS,  # the outputs standardised with the source's statistics
        "ex_nce": NCE_BATCH_NEGATIVES,  # negatives from every image of the batch
    },
    "mistakes_b": {
        "ex_retrieval": RETRIEVAL_PER_TRUTH,  # the nearest output of each truth
        "ex_kl": KL_SUM,  # a sum, not the authors' mean
    },
    "mistakes_c": {
        "ex_distance": DIST_WITH_DIAGONAL,  # the pairs i = j count too
        "ex_nce": NCE_KEYS_TRAINED,  # the keys are not constants
    },
}


def submissions():
    sol = ch.solution_notebook(LAB)
    variants = ch.set_answer(sol, "ex_distance", DIST_ALL_PAIRS)
    variants = ch.set_answer(variants, "ex_nce", NCE_AUTHORS)
    variants = ch.set_answer(variants, "ex_retrieval", RETRIEVAL_LOOP)
    variants = ch.set_answer(variants, "ex_kl", KL_PRODUCT)
    variants2 = ch.set_answer(sol, "ex_distance", DIST_LOOP)
    variants2 = ch.set_answer(variants2, "ex_nce", NCE_LOG_SOFTMAX)
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


def test_lab6_grades_properties_one_mistake_one_exercise_and_own_work(tmp_path):
    root, grades, full = ch.grade_submissions(tmp_path, LAB, submissions())
    assert full == {"test_distance": 3, "test_nce": 3, "test_retrieval": 2, "test_kl": 1}
    ch.check_scores(grades, EXPECTED_ZERO, full)
    for grade_id, name in (
        ("test_distance", "Exercise 1 (distance_loss)"),
        ("test_nce", "Exercise 2 (patch_nce_loss)"),
        ("test_retrieval", "Exercise 3 (counterpart_retrieval)"),
        ("test_kl", "Exercise 4 (shared_latent_kl)"),
    ):
        cell = ch.graded_cell(root, LAB, "delegates", grade_id)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert errors, grade_id
        text = errors[0]["evalue"]
        assert name in text and "0 points for this exercise" in text, (grade_id, text)
    # a mistake's feedback names the property that failed
    fb = ch.feedback(root, LAB, "mistakes_a")
    assert "target" in fb["test_distance"] or "sigma" in fb["test_distance"], fb["test_distance"]
    assert "other image" in fb["test_nce"], fb["test_nce"]
    assert "keys" in ch.feedback(root, LAB, "mistakes_c")["test_nce"]
