"""Lab 3 graded as an instructor grades it: a student's plausible submissions, scores exact.

Each submission is the solution notebook with one change (the variants change every exercise;
the delegating ones hand every answer to the library). Graded with nbgrader autograde in a
course copy whose kernels write C-level stderr chatter before and after every cell
(``course_harness.chatter_ipython_dir``). Correct variants get full marks (a reflection pad
written with ``ops.pad(..., mode="reflect")``, whose unused ``self.pad`` makes Keras warn at
build time, included), a single mistake costs exactly its exercise (an import typo in the LSGAN
cell included: the objective's test uses the library's losses), and answers delegated to the
library score 0 with a message.
"""

import course_harness as ch
import pytest

LAB = "lab3_cyclegan"
ALL = {"test_resnet_block", "test_lsgan", "test_cycle_identity", "test_objective", "test_pool"}
#: The exercises an answer can hand to the library (Exercise 4 composes the others: no library version).
DELEGABLE = ALL - {"test_objective"}


REFLECT_PAD = """
pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
y = ops.relu(self.norm(self.conv1(ops.pad(x, pad, mode="{mode}"))))
y = self.norm(self.conv2(ops.pad(y, pad, mode="{mode}")))
return x + y
"""

MASK_RULE = """
size = buffer.shape[0]
filling = count < size
swap = ops.logical_and(ops.logical_not(filling), u > 0.5)
index = ops.where(filling, count, pick)
stored = buffer[index]
slot = ops.reshape(ops.arange(size) == index, (size, 1, 1, 1))
write = ops.where(ops.logical_or(filling, swap), image, stored)
return ops.where(swap, stored, image), ops.where(slot, write[None], buffer), count + ops.cast(filling, "int32")
"""

PYTHON_IF_RULE = """
pool_size = buffer.shape[0]
if count < pool_size:
    return image, ops.slice_update(buffer, [count, 0, 0, 0], image[None]), count + 1
if u > 0.5:
    return buffer[pick], ops.slice_update(buffer, [pick, 0, 0, 0], image[None]), count
return image, buffer, count
"""


def submissions():
    sol = ch.solution_notebook(LAB)
    edit, answer = ch.edit_cell, ch.set_answer
    # ops.pad instead of self.pad: self.pad is never called, so Keras warns at build time.
    reflect = answer(sol, "ex_resnet_block", REFLECT_PAD.format(mode="reflect"))
    variant = answer(
        sol,
        "ex_resnet_block",
        """
h = self.norm(self.conv1(self.pad(x)))
h = ops.maximum(h, 0.0)
return ops.add(self.norm(self.conv2(self.pad(h))), x)
""",
    )
    variant = ch.set_cell(
        variant,
        "ex_lsgan",
        '''def lsgan_d_loss(real_logits, fake_logits):
    """LSGAN discriminator terms."""
    return ops.mean((real_logits - 1) ** 2), ops.mean(fake_logits * fake_logits)


def lsgan_g_loss(fake_logits):
    return ops.mean(ops.square(ops.subtract(fake_logits, 1.0)))
''',
    )
    variant = ch.set_cell(
        variant,
        "ex_cycle_identity",
        """def cycle_loss(real, reconstructed):
    return ops.mean(ops.abs(ops.subtract(real, reconstructed)))


def identity_loss(real, same):
    return keras.losses.MeanAbsoluteError()(real, same)
""",
    )
    variant = answer(
        variant,
        "ex_objective",
        """
fake_b, fake_a = g_ab(real_a), g_ba(real_b)
adversarial = lsgan_g_loss(d_a(fake_a)) + lsgan_g_loss(d_b(fake_b))
cycle = cycle_loss(real_b, g_ab(fake_a)) + cycle_loss(real_a, g_ba(fake_b))
identity = identity_loss(real_a, g_ba(real_a)) + identity_loss(real_b, g_ab(real_b))
return adversarial + lambda_cycle * (cycle + lambda_identity * identity)
""",
    )
    variant = answer(variant, "ex_pool", MASK_RULE)
    return {
        "reflect_pad_warns": reflect,
        "variant": variant,
        "zero_padding": answer(sol, "ex_resnet_block", REFLECT_PAD.format(mode="constant")),
        "lsgan_import_typo": edit(sol, "ex_lsgan", "def lsgan_d_loss(", "from keras import opz\n\n\ndef lsgan_d_loss("),
        "cycle_squared": edit(
            sol,
            "ex_cycle_identity",
            'ops.mean(ops.abs(ops.cast(reconstructed, "float32") - ops.cast(real, "float32")))',
            'ops.mean(ops.square(ops.cast(reconstructed, "float32") - ops.cast(real, "float32")))',
        ),
        "identity_weight": edit(
            sol, "ex_objective", "total + lambda_cycle * lambda_identity * (", "total + lambda_identity * ("
        ),
        "pool_python_if": answer(sol, "ex_pool", PYTHON_IF_RULE),
        "pool_swap_not_stored": edit(
            sol,
            "ex_pool",
            "write = ops.where(ops.logical_or(filling, swap), image, stored)",
            "write = ops.where(filling, image, stored)",
        ),
        # imports and aliases of the library's objects
        "delegate_import": _delegate_import(sol),
        # a subclass and wrappers that call the library
        "delegate_wrap": _delegate_wrap(sol),
    }


def _delegate_import(sol):
    nb = ch.set_cell(sol, "ex_resnet_block", "from i2ilab.layers import ResnetBlock")
    nb = ch.set_cell(
        nb,
        "ex_lsgan",
        'from i2ilab import losses\n\nlsgan_d_loss = losses.gan_loss("lsgan").d_loss\n'
        'lsgan_g_loss = losses.gan_loss("lsgan").g_loss',
    )
    nb = ch.set_cell(nb, "ex_cycle_identity", "from i2ilab.losses import cycle_loss, identity_loss")
    return ch.set_cell(nb, "ex_pool", "from i2ilab.training.pool import pool_update")


def _delegate_wrap(sol):
    nb = ch.set_cell(
        sol,
        "ex_resnet_block",
        '''import i2ilab.layers


class ResnetBlock(i2ilab.layers.ResnetBlock):
    """The library's block under the lab's name."""
''',
    )
    nb = ch.set_cell(
        nb,
        "ex_lsgan",
        """from i2ilab.losses import GANLoss

_LSGAN = GANLoss("lsgan")


def lsgan_d_loss(real_logits, fake_logits):
    return _LSGAN.d_loss(real_logits, fake_logits)


def lsgan_g_loss(fake_logits):
    return _LSGAN.g_loss(fake_logits)
""",
    )
    nb = ch.set_cell(
        nb,
        "ex_cycle_identity",
        """from i2ilab import losses


def cycle_loss(real, reconstructed):
    return losses.l1_loss(reconstructed, real)


def identity_loss(real, same):
    return losses.identity_loss(real, same)
""",
    )
    return ch.set_cell(
        nb,
        "ex_pool",
        """from i2ilab.training import pool as _my_pool


def pool_update(buffer, count, image, u, pick):
    return _my_pool.pool_update(buffer, count, image, u, pick)
""",
    )


EXPECTED_ZERO = {
    "solution": set(),
    "reflect_pad_warns": set(),
    "variant": set(),
    "zero_padding": {"test_resnet_block"},
    "lsgan_import_typo": {"test_lsgan"},
    "cycle_squared": {"test_cycle_identity"},
    "identity_weight": {"test_objective"},
    "pool_python_if": {"test_pool"},
    "pool_swap_not_stored": {"test_pool"},
    "delegate_import": DELEGABLE,
    "delegate_wrap": DELEGABLE,
}


def _streams(root, student, grade_id):
    cell = ch.graded_cell(root, LAB, student, grade_id)
    return {o.get("name", o.output_type) for o in cell.outputs}, "".join(o.get("text", "") for o in cell.outputs)


@pytest.mark.notebook
def test_submissions_score_exactly(tmp_path):
    subs = {"solution": ch.solution_notebook(LAB), **submissions()}
    assert set(subs) == set(EXPECTED_ZERO)
    root, grades, full = ch.grade_submissions(tmp_path, LAB, subs)
    assert set(full) == ALL and sum(full.values()) == 12
    ch.check_scores(grades, EXPECTED_ZERO, full)

    # The warning of the unused self.pad (and the simulated C-level chatter) came as stdout, not stderr.
    names, text = _streams(root, "reflect_pad_warns", "test_resnet_block")
    assert "stderr" not in names and "ResnetBlock: visible tests passed" in text, (names, text[-2000:])

    # Feedback: delegation says so; failures name the property and the numbers.
    imported = ch.feedback(root, LAB, "delegate_import")
    assert "0 points for this exercise" in imported["test_cycle_identity"]
    assert "`cycle_loss` is `i2ilab.losses.cycle_loss` itself" in imported["test_cycle_identity"]
    assert (
        "imported from `i2ilab.training.pool`" in imported["test_pool"]
        or "is `i2ilab.training.pool.pool_update` itself" in imported["test_pool"]
    )
    wrapped = ch.feedback(root, LAB, "delegate_wrap")
    assert "subclasses `i2ilab.layers.ResnetBlock`" in wrapped["test_resnet_block"]
    assert "calls `i2ilab.losses.GANLoss.d_loss`" in wrapped["test_lsgan"]
    assert "calls `i2ilab.losses.l1_loss`" in wrapped["test_cycle_identity"]
    assert "calls `i2ilab.training.pool.pool_update`" in wrapped["test_pool"]
    assert all("0 points for this exercise" in wrapped[k] for k in DELEGABLE)
    zero_pad = ch.feedback(root, LAB, "zero_padding")["test_resnet_block"]
    assert "reflection padding" in zero_pad and "largest difference" in zero_pad, zero_pad
    compiled = ch.feedback(root, LAB, "pool_python_if")["test_pool"]
    assert "must run inside a compiled train step" in compiled and "ops.where" in compiled, compiled
    not_stored = ch.feedback(root, LAB, "pool_swap_not_stored")["test_pool"]
    assert "the next swap at pick = 1 returns 5, got 2" in not_stored, not_stored
    typo = ch.feedback(root, LAB, "lsgan_import_typo")
    assert "opz" in typo["test_lsgan"] or "lsgan_d_loss" in typo["test_lsgan"], typo["test_lsgan"]
