"""Lab 2 graded as an instructor grades it: a student's plausible submissions, scores exact.

Each submission is the solution notebook with one change (or, for the delegating ones, every
answer handed to the library). Graded with nbgrader autograde in a course copy whose kernels
write C-level stderr chatter before and after every cell (``course_harness.chatter_ipython_dir``).
Correct variants get full marks (a Keras 2 spelling that warns included), a single mistake costs
exactly its exercise, and answers delegated to the library score 0 with a message.
"""

import course_harness as ch
import pytest

LAB = "lab2_pix2pix"
ALL = {
    "test_unet_down",
    "test_receptive_field",
    "test_patch_discriminator",
    "test_discriminator_loss",
    "test_generator_loss",
}


def submissions():
    sol = ch.solution_notebook(LAB)
    edit, answer = ch.edit_cell, ch.set_answer
    keras2 = edit(sol, "ex_unet_down", "LeakyReLU(negative_slope=0.2)", "LeakyReLU(alpha=0.2)")
    keras2 = edit(keras2, "ex_patch_discriminator", "LeakyReLU(negative_slope=0.2)", "LeakyReLU(alpha=0.2)", count=5)
    variant = answer(
        sol,
        "ex_unet_down",
        """
block = keras.Sequential()
if not outermost:
    block.add(keras.layers.Activation(lambda t: ops.leaky_relu(t, 0.2)))
with_norm = norm == "batch" and not outermost and not innermost
# 4x4 stride 2 "same" pads 1 on each side of an even input, as PyTorch's padding=1
block.add(keras.layers.Conv2D(filters, (4, 4), (2, 2), "same", use_bias=norm == "none", kernel_initializer=init))
if with_norm:
    block.add(keras.layers.BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-5))
return block
""",
    )
    variant = answer(variant, "ex_receptive_field", "return 1 if n_layers == 0 else 9 * 2**n_layers - 2")
    variant = answer(
        variant,
        "ex_discriminator_loss",
        """
d_real = -ops.mean(ops.log_sigmoid(ops.convert_to_tensor(real_logits, "float32")))
d_fake = keras.losses.binary_crossentropy(ops.zeros_like(ops.reshape(fake_logits, (-1, 1))), ops.reshape(fake_logits, (-1, 1)), from_logits=True)
return d_real, ops.mean(d_fake)
""",
    )
    variant = answer(
        variant,
        "ex_generator_loss",
        """
fake_logits = ops.convert_to_tensor(fake_logits, "float32")
gan = ops.mean(ops.logaddexp(0.0, -fake_logits))
l1 = keras.losses.MeanAbsoluteError()(ops.reshape(target, (1, -1)), ops.reshape(generated, (1, -1)))
return [gan, l1]
""",
    )
    return {
        "keras2_spelling": keras2,
        "variant": variant,
        # Keras' BatchNormalization defaults (momentum 0.99, epsilon 1e-3), not PyTorch's
        "bn_defaults": edit(
            sol,
            "ex_unet_down",
            "keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)",
            "keras.layers.BatchNormalization()",
        ),
        "wrong_receptive_field": edit(
            sol, "ex_receptive_field", "[(4, 2)] * n_layers + [(4, 1), (4, 1)]", "[(4, 2)] * n_layers + [(4, 1)]"
        ),
        # LeakyReLU before the norm: the same shapes and parameter counts, other numbers
        "wrong_patchgan_order": edit(
            sol,
            "ex_patch_discriminator",
            "keras.layers.LeakyReLU(negative_slope=0.2)(bn(conv(h,",
            "bn(keras.layers.LeakyReLU(negative_slope=0.2)(conv(h,",
            count=3,
        ),
        "swapped_d_labels": edit(
            sol,
            "ex_discriminator_loss",
            "return ops.mean(ops.softplus(-real_logits)), ops.mean(ops.softplus(fake_logits))",
            "return ops.mean(ops.softplus(real_logits)), ops.mean(ops.softplus(-fake_logits))",
        ),
        "saturating_g_loss": edit(
            sol,
            "ex_generator_loss",
            'gan = ops.mean(ops.softplus(-ops.cast(fake_logits, "float32")))',
            'gan = -ops.mean(ops.softplus(ops.cast(fake_logits, "float32")))',
        ),
        # imports and aliases of the library's objects
        "delegate_import": _delegate_import(sol),
        # wrappers, a subclass, the library's building blocks and its table of answers
        "delegate_wrap": _delegate_wrap(sol),
    }


def _delegate_import(sol):
    nb = ch.set_cell(sol, "ex_unet_down", "from i2ilab.layers import UNetDown")
    nb = ch.set_cell(nb, "ex_receptive_field", "from i2ilab.models import patch_discriminator, receptive_field")
    nb = ch.set_cell(nb, "ex_patch_discriminator", "# imported with receptive_field above")
    nb = ch.set_cell(
        nb,
        "ex_discriminator_loss",
        'from i2ilab import losses\n\ndiscriminator_loss = losses.gan_loss("vanilla").d_loss',
    )
    return ch.set_answer(
        nb,
        "ex_generator_loss",
        """
from i2ilab import losses
return losses.gan_loss("vanilla").g_loss(fake_logits), losses.l1_loss(generated, target)
""",
    )


def _delegate_wrap(sol):
    nb = ch.set_cell(
        sol,
        "ex_unet_down",
        """import i2ilab.layers


class UNetDown(i2ilab.layers.UNetDown):
    pass
""",
    )
    nb = ch.set_answer(
        nb,
        "ex_receptive_field",
        """
from i2ilab.models import RECEPTIVE_FIELDS
return RECEPTIVE_FIELDS[n_layers]
""",
    )
    nb = ch.set_answer(
        nb,
        "ex_patch_discriminator",
        """
from i2ilab.layers import ConvBlock
h = ConvBlock(ndf, 4, strides=2, padding=1, activation="lrelu", use_bias=True)(inputs)
for i in range(1, n_layers):
    h = ConvBlock(ndf * min(2**i, 8), 4, strides=2, padding=1, norm=norm, activation="lrelu")(h)
h = ConvBlock(ndf * min(2**n_layers, 8), 4, strides=1, padding=1, norm=norm, activation="lrelu")(h)
return keras.Model(inputs, ConvBlock(1, 4, strides=1, padding=1, use_bias=True)(h))
""",
    )
    nb = ch.set_answer(
        nb,
        "ex_discriminator_loss",
        """
from i2ilab.losses import GANLoss
return GANLoss("vanilla").d_loss(real_logits, fake_logits)
""",
    )
    return ch.set_answer(
        nb,
        "ex_generator_loss",
        """
from i2ilab import losses
gan = ops.mean(ops.softplus(-ops.cast(fake_logits, "float32")))
return gan, losses.l1_loss(generated, target)
""",
    )


EXPECTED_ZERO = {
    "solution": set(),
    "keras2_spelling": set(),
    "variant": set(),
    "bn_defaults": {"test_unet_down"},
    "wrong_receptive_field": {"test_receptive_field"},
    "wrong_patchgan_order": {"test_patch_discriminator"},
    "swapped_d_labels": {"test_discriminator_loss"},
    "saturating_g_loss": {"test_generator_loss"},
    "delegate_import": ALL,
    "delegate_wrap": ALL,
}


@pytest.mark.notebook
def test_submissions_score_exactly(tmp_path):
    subs = {"solution": ch.solution_notebook(LAB), **submissions()}
    assert set(subs) == set(EXPECTED_ZERO)
    root, grades, full = ch.grade_submissions(tmp_path, LAB, subs)
    assert set(full) == ALL and sum(full.values()) == 10
    ch.check_scores(grades, EXPECTED_ZERO, full)

    bn = ch.feedback(root, LAB, "bn_defaults")["test_unet_down"]
    assert "momentum" in bn and "epsilon" in bn and "0.99" in bn and "0.001" in bn, bn
    order = ch.feedback(root, LAB, "wrong_patchgan_order")["test_patch_discriminator"]
    assert "got" in order and "expected" in order and "largest difference" in order, order
    swapped = ch.feedback(root, LAB, "swapped_d_labels")["test_discriminator_loss"]
    assert "log 2" in swapped or "about 0" in swapped or "about 20" in swapped, swapped

    imported = ch.feedback(root, LAB, "delegate_import")
    for cell in ALL:
        assert "0 points for this exercise" in imported[cell], (cell, imported[cell])
    unet_down = imported["test_unet_down"]
    assert "`UNetDown` is `i2ilab.models.unet.UNetDown` itself" in unet_down, unet_down
    assert "is imported from `i2ilab.losses`" in imported["test_discriminator_loss"], imported[
        "test_discriminator_loss"
    ]
    wrapped = ch.feedback(root, LAB, "delegate_wrap")
    for cell in ALL:
        assert "0 points for this exercise" in wrapped[cell], (cell, wrapped[cell])
    assert "subclasses `i2ilab.models.unet.UNetDown`" in wrapped["test_unet_down"], wrapped["test_unet_down"]
    assert "RECEPTIVE_FIELDS" in wrapped["test_receptive_field"], wrapped["test_receptive_field"]
    assert "calls `i2ilab.layers.ConvBlock" in wrapped["test_patch_discriminator"], wrapped["test_patch_discriminator"]
    assert "calls `i2ilab.losses.l1_loss`" in wrapped["test_generator_loss"], wrapped["test_generator_loss"]
