# %% [markdown]
# # Lab 3: CycleGAN, translation without pairs
#
# pix2pix (Lab 2) learns from pairs: every input comes with the output it should become. For
# most translations such pairs do not exist (horse photos and zebra photos of the same scene,
# a painting and the photo its painter saw). CycleGAN (Zhu, Park, Isola & Efros, 2017) learns
# from two *unpaired* collections, domain A and domain B, with two generators
# $G: A \to B$, $F: B \to A$, two discriminators, and one extra assumption: translating there and
# back should give the input again (**cycle consistency**). In this lab you will
#
# 1. write the pieces: the generator's residual block with reflection padding and instance
#    norm, the least-squares GAN (LSGAN) terms, the cycle-consistency and identity losses, the
#    full generator objective, and the image pool's update rule that feeds the discriminators;
# 2. train CycleGAN made of your pieces (your residual blocks in the generators, your losses and
#    your pool rule inside the library trainer `i2ilab.training.CycleGAN`) and look at
#    A -> B -> A reconstructions;
# 3. measure the translation against the *true* counterpart of every test image (the synthetic
#    dataset has one), and run two small ablations: without the cycle loss (the outputs still
#    look like varied night images, but no longer the input's own night version) and without
#    the identity loss;
# 4. explain why cycle consistency is only a *prior* that leaves the mapping under-constrained
#    (Zhu et al.; Benaim & Wolf).
#
# **Grading.** The exercises are autograded: the visible tests below each exercise check shapes
# and simple cases; hidden tests check the property the exercise teaches against the library's
# version (`i2ilab`) on fixed inputs, with tolerances, so any correct way of writing it passes,
# and a failure says which property failed, with the numbers. The library's version is there
# to check yours: an answer that imports, wraps, subclasses or calls it scores 0 for that
# exercise (the test says so). A test uses the library's version of the *other* exercises'
# functions, so one mistake costs one exercise. The written questions are graded by hand.
# While nbgrader grades your notebook, the training cells skip themselves, so only the
# exercises count there.
#
# **Modes.** With `I2ILAB_SMOKE=1` (any laptop CPU) the lab uses the built-in synthetic
# `day2night` dataset at 32x32 and finishes in about 2-3 minutes on two CPU cores. Without it, the lab runs in
# *full mode*: horse2zebra from tensorflow-datasets at 256x256 with the paper's networks, meant
# for a GPU (tensorflow-datasets downloads the 117 MB archive on first use).

# %%
import os

SMOKE = os.environ.get("I2ILAB_SMOKE") == "1"
GRADING = "NBGRADER_EXECUTION" in os.environ  # nbgrader is grading: skip training and plots
FULL = not (SMOKE or GRADING)

SEED = 0
IMAGE_SIZE = 256 if FULL else 32
LOAD_SIZE = 286 if FULL else None  # full mode: resize to 286, random 256 crop and flip (the paper)
BATCH_SIZE = 1 if FULL else 4
NGF = 64 if FULL else 16  # generator width (the paper: 64)
N_BLOCKS = 9 if FULL else 3  # residual blocks (the paper: 9 at 256x256, 6 at 128x128)
NDF = 64 if FULL else 16  # discriminator width
N_LAYERS = 3 if FULL else 2  # PatchGAN depth: 70x70 patches at 256; 34x34 at 32
POOL_SIZE = 50
LEARNING_RATE = 2e-4 if FULL else 5e-4  # a short CPU run learns faster with a higher rate
# Training length. Full mode: N_EPOCHS at the initial rate + N_EPOCHS_DECAY of linear decay, one
# pass over horse2zebra (1334 pairs) per epoch; the paper trains 100 + 100 epochs. Smoke mode:
# "epochs" of STEPS_PER_EPOCH steps (progress reports).
N_EPOCHS, N_EPOCHS_DECAY = (10, 10) if FULL else (3, 0)
STEPS_PER_EPOCH = None if FULL else 100
ABLATION_EPOCHS = 5 if FULL else 3  # each ablation: same length as the main run in smoke mode
N_TEST = 64  # held-out images per domain used for the plots and numbers
FULL_DATASET = "cycle_gan/horse2zebra"
TFDS_DIR = os.environ.get("I2ILAB_TFDS_DIR")  # None: tensorflow-datasets' default (~/tensorflow_datasets)

# %% [markdown]
# ## 0. Setup
#
# `notebook.start` starts the backend before the first exercise (its start-up log lines are
# kept in `notebook.startup_log()` instead of filling this cell) and shows later log lines and
# warnings as ordinary output, so they never count as a failed test.

# %% nbgrader={"grade": false, "solution": false, "locked": true, "grade_id": "setup", "schema_version": 3} tags=["setup"]
import time

from i2ilab import notebook

START_CPU, START_WALL = time.process_time(), time.time()
notebook.start(seed=SEED, mode="full" if FULL else "smoke", image_size=IMAGE_SIZE)

import json

import keras
import numpy as np
from keras import ops
from matplotlib.figure import Figure

from i2ilab import grading, viz
from i2ilab.layers import InstanceNormalization, ReflectionPadding2D, reference_init
from i2ilab.notebook import to_numpy

# %% [markdown]
# ## 1. The generator: a ResNet with reflection padding and instance norm
#
# CycleGAN's generator (Zhu et al., appendix 7.2, after Johnson et al. 2016) keeps the image
# size: a 7x7 convolution, two stride-2 downsamplings, a stack of **residual blocks** at 1/4 of
# the resolution, two upsamplings and a 7x7 convolution with tanh. A translation that changes
# colours and textures but keeps the layout is close to the identity, and a residual block
# represents "input plus a correction" directly:
#
# $$\text{block}(x) = x + \text{IN}(\text{conv}(\text{pad}(\text{ReLU}(\text{IN}(\text{conv}(\text{pad}(x)))))))$$
#
# - **pad** is *reflection* padding by 1 pixel (the edge pixel is not repeated; zero padding
#   makes dark borders and artefacts at the image edges);
# - **conv** is a 3x3 convolution with 'valid' padding (the reflection already added the border);
# - **IN** is instance normalisation: every channel of every image normalised by its own mean
#   and variance over H and W (no learned scale), so the contrast of one image does not leak
#   into the statistics of another;
# - there is **no ReLU after the sum**: the block can add negative corrections.
#
# ### Exercise 1 (3 points): `ResnetBlock.call`
# The layers are created for you in `__init__`. Write `call` with `keras.ops` / the layers
# (so it runs on TensorFlow and JAX). `self.pad` and `self.norm` hold no weights, so you may
# use each of them twice.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_resnet_block", "schema_version": 3}
class ResnetBlock(keras.layers.Layer):
    """CycleGAN residual block (mirrors ``i2ilab.layers.ResnetBlock``); (B, H, W, filters) -> same."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.pad = ReflectionPadding2D(1)
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="valid", kernel_initializer=reference_init())
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="valid", kernel_initializer=reference_init())
        self.norm = InstanceNormalization()  # epsilon 1e-5, no learned scale or shift

    def call(self, x):
        ### BEGIN SOLUTION
        y = ops.relu(self.norm(self.conv1(self.pad(x))))
        y = self.norm(self.conv2(self.pad(y)))
        return x + y
        ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_resnet_block", "points": 3, "schema_version": 3}
from i2ilab import layers as _layers

x_test = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype(np.float32)


def _make_and_apply_block():
    made = ResnetBlock(16)
    return made, to_numpy(made(x_test))


block, y_test = grading.own_work(
    "Exercise 1 (ResnetBlock.call)", ResnetBlock, _layers.ResnetBlock, run=_make_and_apply_block
)
grading.check(
    y_test.shape == x_test.shape,
    f"a residual block keeps the shape: got {y_test.shape} for an input of shape {x_test.shape}",
)
n_params = sum(int(np.prod(w.shape)) for w in block.trainable_weights)
grading.check(
    n_params == 2 * (3 * 3 * 16 * 16 + 16),
    f"ResnetBlock(16) has two 3x3 convolutions 16 -> 16 with bias: expected {2 * (9 * 256 + 16)} parameters, got {n_params}",
)
grading.check(
    not np.allclose(y_test, x_test), "the block must add a correction to its input: with random weights block(x) == x"
)
# With all convolution weights zero, the correction is zero: the block is the identity (skip
# connection, no ReLU after the sum, so negative inputs survive).
for conv in (block.conv1, block.conv2):
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
grading.assert_close(
    to_numpy(block(x_test)),
    x_test,
    "with all convolution weights zero the correction is 0, so block(x) must be x (the skip connection; no ReLU after the sum)",
    atol=1e-5,
)
print("ResnetBlock: visible tests passed")
### BEGIN HIDDEN TESTS
_x = np.random.default_rng(21).normal(size=(2, 6, 7, 8)).astype(np.float32) * 2.0
_mine, _ref = ResnetBlock(8), _layers.ResnetBlock(8)
_mine(_x), _ref(_x)
_rng = np.random.default_rng(22)
for _m, _r in ((_mine.conv1, _ref.conv1.conv), (_mine.conv2, _ref.conv2.conv)):
    _w = [_rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in _r.get_weights()]
    _r.set_weights(_w)
    _m.set_weights(_w)
grading.assert_close(
    to_numpy(_mine(_x)),
    to_numpy(_ref(_x)),
    "block(x) = x + IN(conv(pad(ReLU(IN(conv(pad(x))))))) with random weights on a (2, 6, 7, 8) input "
    "(reflection padding by 1 pixel, instance norm after each conv, ReLU only in the middle)",
    atol=1e-4,
    rtol=1e-4,
)
### END HIDDEN TESTS

# %% [markdown]
# The library's generator `i2ilab.models.resnet_generator` stacks this block; its `block`
# argument takes the class that makes them, and the training below passes **your**
# `ResnetBlock` (`resnet_generator(..., block=ResnetBlock)`): the generators you train are made
# of your blocks.

# %% [markdown]
# ## 2. The losses
#
# ### LSGAN
# CycleGAN replaces the usual cross-entropy GAN loss by a **least-squares** loss (Mao et al.
# 2017; Zhu et al. Sec. 4), which trains more stably and gives useful gradients even to fakes
# the discriminator rejects confidently. With $D$'s raw outputs (one per patch: a PatchGAN)
# on real images $r$ and on fakes $f$, averaged over all elements:
#
# $$\mathcal{L}_D^{real} = \operatorname{mean}\,(r - 1)^2, \qquad
#   \mathcal{L}_D^{fake} = \operatorname{mean}\, f^2, \qquad
#   \mathcal{L}_G = \operatorname{mean}\,(f - 1)^2 .$$
#
# (The trainer minimises $\frac12(\mathcal{L}_D^{real} + \mathcal{L}_D^{fake})$ for each
# discriminator, to slow it down relative to the generators.)
#
# ### Exercise 2 (2 points): `lsgan_d_loss`, `lsgan_g_loss`
# They mirror `i2ilab.losses.gan_loss("lsgan").d_loss` and `.g_loss`. Return float32 scalars;
# use `keras.ops`. They are the adversarial terms of the training below (wrapped as
# `losses.FunctionGANLoss(lsgan_d_loss, lsgan_g_loss)`).


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_lsgan", "schema_version": 3}
def lsgan_d_loss(real_logits, fake_logits):
    """LSGAN discriminator terms ``(d_real, d_fake)``; logits (B, h, w, 1) each -> two scalars."""
    ### BEGIN SOLUTION
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    return ops.mean(ops.square(real_logits - 1.0)), ops.mean(ops.square(fake_logits))
    ### END SOLUTION


def lsgan_g_loss(fake_logits):
    """LSGAN generator term: ``mean((fake_logits - 1)^2)``, a scalar."""
    ### BEGIN SOLUTION
    return ops.mean(ops.square(ops.cast(fake_logits, "float32") - 1.0))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_lsgan", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses

ones, zeros = np.ones((2, 4, 4, 1), np.float32), np.zeros((2, 4, 4, 1), np.float32)


def _lsgan_simple_cases():
    perfect, worst = lsgan_d_loss(ones, zeros), lsgan_d_loss(zeros, ones)
    return [to_numpy(t) for t in (*perfect, *worst, lsgan_g_loss(ones), lsgan_g_loss(3.0 * ones))]


values = grading.own_work(
    "Exercise 2 (lsgan_d_loss, lsgan_g_loss)",
    (lsgan_d_loss, lsgan_g_loss),
    (_losses.GANLoss.d_loss, _losses.GANLoss.g_loss),
    run=_lsgan_simple_cases,
)
grading.check(
    all(v.shape == () for v in values), f"the LSGAN terms are scalars: got shapes {[v.shape for v in values]}"
)
grading.assert_close(
    values[0:2],
    [0.0, 0.0],
    "lsgan_d_loss(real logits 1, fake logits 0): a perfect D has terms (d_real, d_fake) = (0, 0)",
)
grading.assert_close(
    values[2:4], [1.0, 1.0], "lsgan_d_loss(real logits 0, fake logits 1): the worst D has terms (1, 1)"
)
grading.assert_close(values[4], 0.0, "lsgan_g_loss(fake logits 1): G costs 0 when D calls its fakes real")
grading.assert_close(values[5], 4.0, "lsgan_g_loss(fake logits 3): LSGAN also penalises outputs above 1, (3 - 1)^2 = 4")
print("LSGAN: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(31)
_r = _rng.normal(0.5, 1.5, size=(3, 5, 6, 1)).astype(np.float32)
_f = _rng.normal(-0.2, 1.5, size=(3, 5, 6, 1)).astype(np.float32)
_lib = _losses.gan_loss("lsgan")
_want_real, _want_fake = _lib.d_loss(_r, _f)
_d_real, _d_fake = lsgan_d_loss(_r, _f)
grading.assert_close(
    _d_real,
    _want_real,
    "lsgan_d_loss: d_real = mean((r - 1)^2) over all elements of the real logits (3, 5, 6, 1), the first of the two terms",
    rtol=1e-5,
)
grading.assert_close(
    _d_fake,
    _want_fake,
    "lsgan_d_loss: d_fake = mean(f^2) over all elements of the fake logits, the second term",
    rtol=1e-5,
)
grading.assert_close(
    lsgan_g_loss(_f),
    _lib.g_loss(_f),
    "lsgan_g_loss = mean((f - 1)^2) over all elements of the fake logits (3, 5, 6, 1)",
    rtol=1e-5,
)
_d_real, _d_fake = lsgan_d_loss(_r.astype(np.float64), _f.astype(np.float64))
grading.assert_close([_d_real, _d_fake], [_want_real, _want_fake], "lsgan_d_loss of float64 logits", rtol=1e-5)
grading.assert_close(
    lsgan_g_loss(_f[:1].astype(np.float64)),
    _lib.g_loss(_f[:1]),
    "lsgan_g_loss of float64 logits, a batch of one",
    rtol=1e-5,
)
### END HIDDEN TESTS

# %% [markdown]
# ### Cycle consistency and identity
# Adversarial losses alone only ask $G(A)$ to *look like* domain B. Zhu et al. add the
# **cycle-consistency loss** (their eq. 2): translating there and back must reconstruct the
# input,
#
# $$\mathcal{L}_{cyc} = \operatorname{mean}\,|F(G(a)) - a| + \operatorname{mean}\,|G(F(b)) - b| ,$$
#
# and, for colour-sensitive tasks (their Sec. 5.2, after Taigman et al.), the **identity loss**:
# a generator fed an image that is *already* in its output domain should leave it alone,
#
# $$\mathcal{L}_{idt} = \operatorname{mean}\,|G(b) - b| + \operatorname{mean}\,|F(a) - a| .$$
#
# ### Exercise 3 (2 points): `cycle_loss`, `identity_loss`
# They mirror `i2ilab.losses.cycle_loss(real, reconstructed)` and
# `i2ilab.losses.identity_loss(real, same)`: one term each (the mean absolute difference
# over all elements, batch included), a float32 scalar. The training below uses them for the
# cycle and identity terms.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_cycle_identity", "schema_version": 3}
def cycle_loss(real, reconstructed):
    """``mean(|reconstructed - real|)`` with reconstructed = F(G(real)); (B, H, W, C) each -> scalar."""
    ### BEGIN SOLUTION
    return ops.mean(ops.abs(ops.cast(reconstructed, "float32") - ops.cast(real, "float32")))
    ### END SOLUTION


def identity_loss(real, same):
    """``mean(|same - real|)`` with same = G(real) for a generator *into* real's domain; scalar."""
    ### BEGIN SOLUTION
    return ops.mean(ops.abs(ops.cast(same, "float32") - ops.cast(real, "float32")))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_cycle_identity", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses

a = np.zeros((2, 4, 4, 3), np.float32)
b = np.full((2, 4, 4, 3), 0.25, np.float32)


def _cycle_identity_simple_cases():
    return [
        to_numpy(t)
        for t in (
            cycle_loss(a, a),
            cycle_loss(a, a + 0.5),
            cycle_loss(a, a - 0.5),
            identity_loss(b, b),
            identity_loss(b, -b),
        )
    ]


values = grading.own_work(
    "Exercise 3 (cycle_loss, identity_loss)",
    (cycle_loss, identity_loss),
    (_losses.cycle_loss, _losses.identity_loss, _losses.l1_loss),
    run=_cycle_identity_simple_cases,
)
grading.check(all(v.shape == () for v in values), f"the losses are scalars: got shapes {[v.shape for v in values]}")
grading.assert_close(values[0], 0.0, "cycle_loss(a, a): a perfect reconstruction costs nothing")
grading.assert_close(values[1], 0.5, "cycle_loss(a, a + 0.5): the mean absolute difference (L1)")
grading.assert_close(values[2], 0.5, "cycle_loss(a, a - 0.5): L1 does not depend on the sign of the error")
grading.assert_close(values[3], 0.0, "identity_loss(b, b): a generator that leaves b alone costs nothing")
grading.assert_close(values[4], 0.5, "identity_loss(b, -b) with b = 0.25: mean |(-0.25) - 0.25|")
print("cycle_loss, identity_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(41)
_x, _y = _rng.uniform(-1, 1, (3, 6, 5, 3)).astype(np.float32), _rng.uniform(-1, 1, (3, 6, 5, 3)).astype(np.float32)
_y = _y * 1.8  # differences above 1: L1, not L2
grading.assert_close(
    cycle_loss(_x, _y),
    _losses.cycle_loss(_x, _y),
    "cycle_loss on (3, 6, 5, 3) images: mean |reconstructed - real| over all elements, batch included",
    rtol=1e-5,
)
grading.assert_close(
    identity_loss(_x, _y),
    _losses.identity_loss(_x, _y),
    "identity_loss on (3, 6, 5, 3) images: mean |same - real| over all elements, batch included",
    rtol=1e-5,
)
grading.assert_close(
    cycle_loss(_x[:1].astype(np.float64), _y[:1]),
    _losses.cycle_loss(_x[:1], _y[:1]),
    "cycle_loss of a float64 and a float32 input, a batch of one",
    rtol=1e-5,
)
grading.assert_close(
    identity_loss(_x.astype(np.float64), _y.astype(np.float64)),
    _losses.identity_loss(_x, _y),
    "identity_loss of float64 inputs",
    rtol=1e-5,
)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 4 (2 points): the full generator objective
# Both generators are trained together on one objective (Zhu et al. eq. 3, plus the identity
# term with weight $\lambda_{cyc} \cdot \lambda_{idt}$, as in the reference code):
#
# $$\mathcal{L}_G(D_B(G(a))) + \mathcal{L}_G(D_A(F(b)))
#   + \lambda_{cyc}\,\big(\mathcal{L}_{cyc}(a, F(G(a))) + \mathcal{L}_{cyc}(b, G(F(b)))\big)
#   + \lambda_{cyc}\lambda_{idt}\,\big(\mathcal{L}_{idt}(b, G(b)) + \mathcal{L}_{idt}(a, F(a))\big)$$
#
# with $\lambda_{cyc} = 10$ and $\lambda_{idt} = 0.5$. $D_A$ judges images of domain A, $D_B$
# of domain B. Write it with your functions above; `g_ab` is $G$, `g_ba` is $F$ (any callables).
# The trainer below computes this same objective inside its train step (it also logs each
# term), from your LSGAN, cycle and identity functions.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_objective", "schema_version": 3}
def generator_objective(real_a, real_b, g_ab, g_ba, d_a, d_b, lambda_cycle=10.0, lambda_identity=0.5):
    """CycleGAN's generator objective (a scalar) for one batch of A images and one of B images."""
    ### BEGIN SOLUTION
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    total = lsgan_g_loss(d_b(fake_b)) + lsgan_g_loss(d_a(fake_a))
    total = total + lambda_cycle * (cycle_loss(real_a, g_ba(fake_b)) + cycle_loss(real_b, g_ab(fake_a)))
    if lambda_identity > 0:
        total = total + lambda_cycle * lambda_identity * (
            identity_loss(real_b, g_ab(real_b)) + identity_loss(real_a, g_ba(real_a))
        )
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_objective", "points": 2, "schema_version": 3}
# This test uses the library's LSGAN, cycle and identity losses in place of yours (Exercises 2
# and 3), so that a mistake there does not cost this exercise too.
from i2ilab import losses as _losses
from i2ilab.training import CycleGAN as _CycleGAN

_lsgan = _losses.gan_loss("lsgan")
with grading.using(
    globals(),
    lsgan_d_loss=_lsgan.d_loss,
    lsgan_g_loss=_lsgan.g_loss,
    cycle_loss=_losses.cycle_loss,
    identity_loss=_losses.identity_loss,
):
    # Stand-ins instead of networks: G doubles, F halves (so F(G(a)) = a: no cycle error), and
    # both discriminators answer 1 ("real") everywhere (no adversarial loss). Only the identity
    # term is left: |G(b) - b| = 0.4 and |F(a) - a| = 0.1, weighted by 10 * 0.5.
    real_a = np.full((1, 2, 2, 3), 0.2, np.float32)
    real_b = np.full((1, 2, 2, 3), 0.4, np.float32)
    double, halve = (lambda x: 2.0 * x), (lambda x: 0.5 * x)
    fooled = lambda x: ops.ones((ops.shape(x)[0], 1, 1, 1))  # noqa: E731
    values = grading.own_work(
        "Exercise 4 (generator_objective)",
        generator_objective,
        _CycleGAN,
        run=lambda: [
            to_numpy(generator_objective(real_a, real_b, double, halve, fooled, fooled, **kw))
            for kw in ({}, {"lambda_identity": 0.0})
        ],
    )
    grading.assert_close(
        values[0],
        5.0 * (0.4 + 0.1),
        "G doubles, F halves, D fooled: only the identity term is left, 10 * 0.5 * (|G(b) - b| + |F(a) - a|) = 5 * (0.4 + 0.1)",
    )
    grading.assert_close(values[1], 0.0, "the same with lambda_identity=0: a perfect cycle and a fooled D cost nothing")
    print("generator_objective: visible tests passed")
    ### BEGIN HIDDEN TESTS
    _rng = np.random.default_rng(51)
    _a, _b = _rng.uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32), _rng.uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32)
    _g = lambda x: ops.tanh(1.5 * x + 0.2)  # noqa: E731
    _f = lambda x: 0.8 * x - 0.1  # noqa: E731
    _da = lambda x: ops.mean(x, axis=-1, keepdims=True) * 2.0  # noqa: E731
    _db = lambda x: ops.max(x, axis=-1, keepdims=True) - 0.3  # noqa: E731
    _terms = {
        "adversarial": _lsgan.g_loss(_db(_g(_a))) + _lsgan.g_loss(_da(_f(_b))),
        "cycle": _losses.cycle_loss(_a, _f(_g(_a))) + _losses.cycle_loss(_b, _g(_f(_b))),
        "identity": _losses.identity_loss(_b, _g(_b)) + _losses.identity_loss(_a, _f(_a)),
    }
    _terms = {k: float(to_numpy(v)) for k, v in _terms.items()}
    for _lc, _li in ((10.0, 0.5), (3.0, 0.0), (0.0, 0.5), (2.0, 2.0)):
        _expected = _terms["adversarial"] + _lc * _terms["cycle"] + _lc * _li * _terms["identity"]
        _got = generator_objective(_a, _b, _g, _f, _da, _db, lambda_cycle=_lc, lambda_identity=_li)
        grading.assert_close(
            _got,
            _expected,
            f"generator_objective with lambda_cycle={_lc}, lambda_identity={_li}: adversarial {_terms['adversarial']:.4f} "
            f"+ {_lc:g} * cycle {_terms['cycle']:.4f} + {_lc:g} * {_li:g} * identity {_terms['identity']:.4f} "
            "(G = g_ab judged by d_b, F = g_ba judged by d_a)",
            rtol=1e-5,
        )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 3. The image pool
#
# The discriminators are updated on a **history** of generated images, not only on the latest
# ones (Shrivastava et al. 2017; Zhu et al. Sec. 4): a discriminator that only sees the newest
# fakes can chase the generator around in circles. The pool holds up to 50 past fakes; for
# each new fake, in batch order:
#
# - while the pool holds fewer than `pool_size` images: store the new fake (in the next free
#   slot) and return it;
# - once full, with probability 1/2 (here: when `u > 0.5`) return a randomly chosen stored fake
#   (at index `pick`) and store the new fake in its place; otherwise return the new fake.
#
# The reference code keeps a Python list and draws with `random.uniform`. Here the pool runs
# *inside* the compiled train step (`tf.function`, `jax.jit`), where there are no Python lists
# of tensors to append to and no Python `if` on a tensor's value: the traced program must be
# the same for every step. So the library's `i2ilab.training.ImagePool` keeps the state in two
# Keras variables (`buffer` (pool_size, H, W, C) and `count`), draws `u` and `pick` with
# `keras.random`, and applies a **pure function** once per image:
#
# ```
# output, buffer, count = pool_update(buffer, count, image, u, pick)
# ```
#
# ### Exercise 5 (3 points): `pool_update`
# Write that rule for one new fake `image` (H, W, C): `buffer` (pool_size, H, W, C) holds the
# stored fakes (slots `count` and above are still empty), `count` is an int32 scalar, `u` a
# float scalar in [0, 1) and `pick` an int32 scalar in [0, pool_size). Return the image for
# the discriminator and the *new* buffer and count (tensors are immutable: build new ones).
# Use `keras.ops` only and no Python `if` on tensor values: compute the candidates and choose
# with `ops.where` (a boolean scalar broadcasts). Useful: `buffer.shape[0]` (the pool size,
# a Python int), `ops.take` or `buffer[index]`, `ops.slice_update(buffer, [index, 0, 0, 0],
# new[None])` or a one-hot mask with `ops.where`. Your rule is what the pools run in the
# training below (`CycleGAN(..., pool_rule=pool_update)`).


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_pool", "schema_version": 3}
def pool_update(buffer, count, image, u, pick):
    """One new fake through the image pool: (output (H, W, C), new buffer, new count)."""
    ### BEGIN SOLUTION
    pool_size = buffer.shape[0]
    filling = count < pool_size
    swap = ops.logical_and(ops.logical_not(filling), u > 0.5)
    index = ops.where(filling, count, pick)
    stored = ops.take(buffer, index, axis=0)
    output = ops.where(swap, stored, image)
    write = ops.where(ops.logical_or(filling, swap), image, stored)
    buffer = ops.slice_update(buffer, [index, 0, 0, 0], write[None])
    return output, buffer, count + ops.cast(filling, "int32")
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_pool", "points": 3, "schema_version": 3}
from i2ilab.training import pool as _pool


def feed_pool(rule, values, us, picks, pool_size=3):
    """Feed constant (2, 2, 1) images of ``values`` through ``rule``, starting from an empty pool.

    Returns the outputs' values, the counts after each image and the final buffer's values."""
    buffer, count = ops.zeros((pool_size, 2, 2, 1)), ops.convert_to_tensor(0, "int32")
    outputs, counts = [], []
    for value, u, pick in zip(values, us, picks, strict=True):
        image = ops.full((2, 2, 1), float(value))
        output, buffer, count = rule(
            buffer, count, image, ops.convert_to_tensor(u, "float32"), ops.convert_to_tensor(pick, "int32")
        )
        grading.check(
            tuple(ops.shape(output)) == (2, 2, 1) and tuple(ops.shape(buffer)) == (pool_size, 2, 2, 1),
            f"pool_update returns the output (H, W, C) = (2, 2, 1) and the buffer ({pool_size}, 2, 2, 1): got shapes "
            f"{tuple(ops.shape(output))}, {tuple(ops.shape(buffer))}",
        )
        outputs.append(float(to_numpy(output)[0, 0, 0]))
        counts.append(int(to_numpy(count)))
    return outputs, counts, to_numpy(buffer)[:, 0, 0, 0].tolist()


# Images 1..6 into a pool of 3: 1, 2, 3 fill it; 4 has u <= 0.5 (returned as is); 5 swaps with
# slot 1 (returns 2), 6 swaps with slot 1 again (returns 5).
case = dict(values=[1, 2, 3, 4, 5, 6], us=[0.9, 0.9, 0.9, 0.1, 0.7, 0.7], picks=[0, 0, 0, 1, 1, 1])
outputs, counts, final = grading.own_work(
    "Exercise 5 (pool_update)",
    pool_update,
    (_pool.pool_update, _pool.ImagePool),
    run=lambda: feed_pool(pool_update, **case),
)
grading.check(
    outputs[:3] == [1, 2, 3],
    f"while the pool fills up every new fake is returned as is: images 1, 2, 3 gave {outputs[:3]}",
)
grading.check(
    counts[:3] == [1, 2, 3],
    f"count goes up by one per stored image while the pool fills: counts after 1, 2, 3 were {counts[:3]}",
)
grading.check(outputs[3] == 4, f"full pool, u = 0.1 <= 0.5: the new fake 4 is returned, got {outputs[3]}")
grading.check(
    outputs[4] == 2, f"full pool, u = 0.7 > 0.5: the stored fake at pick = 1 (image 2) is returned, got {outputs[4]}"
)
grading.check(
    outputs[5] == 5, f"... and the new fake takes its place: the next swap at pick = 1 returns 5, got {outputs[5]}"
)
grading.check(counts[3:] == [3, 3, 3], f"a full pool's count stays pool_size = 3: got {counts[3:]}")
grading.check(
    final == [1, 6, 3],
    f"final buffer: 1, 2, 3 stored in slots 0, 1, 2, then slot 1 replaced by 5 and by 6: expected [1, 6, 3], got {final}",
)

# The rule runs inside the compiled train step: compile it as the trainer does.
if keras.backend.backend() == "jax":
    import jax

    _compiled = jax.jit(pool_update)
elif keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    _compiled = tf.function(pool_update, autograph=False)
else:
    _compiled = pool_update
try:
    compiled_outputs = feed_pool(_compiled, **case)
except Exception as error:  # noqa: BLE001 (the message is the feedback)
    raise grading.GradingError(
        "pool_update must run inside a compiled train step (tf.function / jax.jit), where tensors have no value "
        f"yet: use ops.where instead of a Python `if` on count or u, and return new tensors. Compiling it failed with "
        f"{type(error).__name__}: {str(error)[:300]}"
    ) from None
grading.check(
    compiled_outputs == (outputs, counts, final),
    f"compiled, pool_update gives other results than run directly: {compiled_outputs} vs {(outputs, counts, final)}",
)
print("pool_update: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(61)
_size, _shape = 4, (3, 5, 2)
_buffer_mine = _buffer_ref = ops.zeros((_size,) + _shape)
_count_mine = _count_ref = ops.convert_to_tensor(0, "int32")
for _step in range(14):
    _image = ops.convert_to_tensor(_rng.normal(size=_shape).astype(np.float32))
    _u = ops.convert_to_tensor(np.float32(_rng.choice([0.05, 0.3, 0.49, 0.51, 0.8, 0.99])))
    _pick = ops.convert_to_tensor(np.int32(_rng.integers(0, _size)))
    _before = f"image {_step} (count {int(to_numpy(_count_ref))} of {_size}, u {float(to_numpy(_u)):.2f}, pick {int(to_numpy(_pick))})"
    _out_mine, _buffer_mine, _count_mine = _compiled(_buffer_mine, _count_mine, _image, _u, _pick)
    _out_ref, _buffer_ref, _count_ref = _pool.pool_update(_buffer_ref, _count_ref, _image, _u, _pick)
    grading.assert_close(_out_mine, _out_ref, f"{_before}: the output for the discriminator")
    grading.assert_close(_buffer_mine, _buffer_ref, f"{_before}: the buffer after the update")
    grading.check(
        int(to_numpy(_count_mine)) == int(to_numpy(_count_ref)),
        f"{_before}: count after the update: got {int(to_numpy(_count_mine))}, expected {int(to_numpy(_count_ref))}",
    )
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The data
#
# The built-in `day2night` set renders the same random scenes (sky, ground, squares, circles,
# triangles) twice: with a flat **day** palette (domain A) and a dark **night** palette
# (domain B). Training uses the two domains *unpaired* (they are shuffled independently), but
# for every test image the set keeps its **true counterpart** in the other domain
# (`testA_true/`, `testB_true/`), so we can measure how correct a translation is, which is
# impossible on horse2zebra. Full mode trains on horse2zebra through
# `i2ilab.data.tfds_unpaired` (random 286 -> 256 crops and flips, as the paper).

# %% tags=["data-pipeline"]
from i2ilab.data import synthetic_root, tfds_unpaired, unpaired_dataset
from i2ilab.data.synthetic import load_images, load_labels, read_meta

if FULL:
    with notebook.full_mode_data():  # offline: one message saying how to run smoke mode
        train_ds = tfds_unpaired(
            FULL_DATASET,
            split="train",
            data_dir=TFDS_DIR,
            image_size=IMAGE_SIZE,
            load_size=LOAD_SIZE,
            batch_size=BATCH_SIZE,
            seed=SEED,
            download=True,
            drop_remainder=True,
        )
        test_ds = tfds_unpaired(
            FULL_DATASET,
            split="test",
            data_dir=TFDS_DIR,
            image_size=IMAGE_SIZE,
            jitter=False,
            batch_size=N_TEST,
            shuffle=False,
            download=True,
        )
    test_a, test_b = (to_numpy(t) for t in next(iter(test_ds)))
    true_b = true_a = test_labels = None  # horse2zebra has no true counterparts
elif not GRADING:
    ROOT = synthetic_root("day2night", IMAGE_SIZE)
    # Fixed 32x32 images, 512 per domain: no random crops needed. drop_remainder keeps the batch
    # size static, which the image pool needs.
    train_ds = unpaired_dataset(
        ROOT, image_size=IMAGE_SIZE, jitter=False, batch_size=BATCH_SIZE, seed=SEED, drop_remainder=True
    )
    test_a, test_b = load_images(ROOT, "testA")[:N_TEST], load_images(ROOT, "testB")[:N_TEST]
    true_b, true_a = load_images(ROOT, "testA_true")[:N_TEST], load_images(ROOT, "testB_true")[:N_TEST]
    test_labels = load_labels(ROOT, "testA")[:N_TEST]  # 0 sky, 1 ground, 2 square, 3 circle, 4 triangle
if not GRADING:
    print(f"test images: A {test_a.shape}, B {test_b.shape}")
    columns = {"A (test)": test_a, "B (test)": test_b}
    if true_b is not None:
        columns = {"A (test)": test_a, "true A -> B": true_b, "B (test)": test_b, "true B -> A": true_a}
    viz.show_grid(columns, max_rows=3)

# %% [markdown]
# ## 5. Training CycleGAN
#
# `build_cyclegan` makes the two ResNet generators out of **your** `ResnetBlock` (the library
# factory `resnet_generator(..., block=ResnetBlock)` stacks them) and two PatchGAN
# discriminators (instance norm, unconditional: they judge single images), and wraps them in
# the trainer `i2ilab.training.CycleGAN` with **your** pieces: your LSGAN terms
# (`losses.FunctionGANLoss(lsgan_d_loss, lsgan_g_loss)`), your `cycle_loss` and
# `identity_loss`, and your `pool_update` as the rule of both image pools. The trainer runs the
# step of the reference: the generators' objective of Exercise 4, made of your loss functions
# (one optimizer for both generators), then the discriminators on the image pools' output.
# Every run starts from the same weights (fixed seed) and sees the same batches.
#
# Smoke mode trains small networks (16 channels, 3 residual blocks) for 300 steps of batch 4
# (well under a minute on two CPU cores): enough to translate the sky and ground and most shapes'
# colours, not enough for crisp shapes. Full mode trains the paper's networks with the reference
# schedule (constant rate, then linear decay to 0, `i2ilab.callbacks.LinearDecay`).

# %% tags=["build-models"]
from i2ilab import losses
from i2ilab.callbacks import LinearDecay
from i2ilab.models import patch_discriminator, resnet_generator
from i2ilab.training import CycleGAN, default_adam


def build_cyclegan(lambda_cycle=10.0, lambda_identity=0.5):
    """A fresh, compiled CycleGAN trainer made of your pieces (same initial weights for every call)."""
    keras.utils.set_random_seed(SEED)
    g_ab = resnet_generator(IMAGE_SIZE, ngf=NGF, n_blocks=N_BLOCKS, block=ResnetBlock, name="g_ab")
    g_ba = resnet_generator(IMAGE_SIZE, ngf=NGF, n_blocks=N_BLOCKS, block=ResnetBlock, name="g_ba")
    d_a = patch_discriminator(IMAGE_SIZE, 3, ndf=NDF, n_layers=N_LAYERS, norm="instance", name="d_a")
    d_b = patch_discriminator(IMAGE_SIZE, 3, ndf=NDF, n_layers=N_LAYERS, norm="instance", name="d_b")
    trainer = CycleGAN(
        g_ab,
        g_ba,
        d_a,
        d_b,
        lambda_cycle=lambda_cycle,
        lambda_identity=lambda_identity,
        pool_size=POOL_SIZE,
        seed=SEED,
        gan_mode=losses.FunctionGANLoss(lsgan_d_loss, lsgan_g_loss, name="your LSGAN"),  # Exercise 2
        cycle_loss=cycle_loss,
        identity_loss=identity_loss,  # Exercise 3
        pool_rule=pool_update,  # Exercise 5
    )
    trainer.compile(g_optimizer=default_adam(LEARNING_RATE), d_optimizer=default_adam(LEARNING_RATE))
    return trainer


def train(trainer, epochs, decay_epochs=0):
    """Fit for ``epochs`` (+ ``decay_epochs`` with linear LR decay); one line per epoch; returns the Keras History."""
    t0 = time.time()
    callbacks = [LinearDecay(epochs, decay_epochs)] if decay_epochs else []
    data = train_ds.repeat() if STEPS_PER_EPOCH else train_ds
    history = trainer.fit(
        data,
        steps_per_epoch=STEPS_PER_EPOCH,
        epochs=epochs + decay_epochs,
        callbacks=callbacks + [notebook.EpochLog()],
        verbose=0,
    )
    print(f"trained in {time.time() - t0:.0f} s")
    return history


if not GRADING:
    probe = build_cyclegan()
    print(
        f"generator: {probe.g_ab.count_params():,} parameters, discriminator: {probe.d_a.count_params():,}, "
        f"PatchGAN output {probe.d_a.output_shape[1:3]} per image"
    )
    del probe

# %%
runs, histories = {}, {}
if GRADING:
    print("nbgrader is grading: training skipped")
else:
    runs["CycleGAN"] = build_cyclegan()
    histories["CycleGAN"] = train(runs["CycleGAN"], N_EPOCHS, N_EPOCHS_DECAY)

# %% [markdown]
# ### A -> B -> A
# Each row: a day image, its translation to night, the translation back (the cycle), then the
# same from the night side; the last column is the true night version of the day image.

# %%
if not GRADING:
    columns = runs["CycleGAN"].sample_columns(test_a[:6], test_b[:6])
    if true_b is not None:
        columns["true_B"] = true_b[:6]
    viz.show_grid(columns, max_rows=6)
    viz.show(viz.plot_losses(histories["CycleGAN"], title="CycleGAN losses (epoch means)"))

# %% [markdown]
# ## 6. Measuring the translation
#
# - **translation error**: mean |G(a) - true counterpart| (and the same for F), in [-1, 1]
#   units. Two baselines: the input itself (**identity baseline**: "translate" by doing nothing)
#   and the **mean night image** (an output that ignores its input);
# - **shape colour accuracy**: the fraction of shape pixels whose nearest palette colour is the
#   right one for their class (squares, circles and triangles each have their own night colour);
# - **counterpart retrieval**: for how many test images is the nearest (L1) of all 64 true
#   night images the image's own counterpart? High when the output depends on its input the
#   right way, chance level (1/64) when it ignores it;
# - **output spread**: the mean pairwise distance between the outputs for 16 *different*
#   inputs, relative to that between 16 real night images (0: every input gives the same
#   output, i.e. mode collapse; about 1: as varied as real night images);
# - **cycle error** mean |F(G(a)) - a| and **identity error** mean |G(b) - b| (a night image
#   through the day -> night generator should come out unchanged).
#
# In full mode (horse2zebra has no true counterparts) only the last three are measured.

# %%
from i2ilab.metrics import mean_pairwise_distance


def shape_colour_accuracy(images, labels, palette):
    """Fraction of shape pixels (label >= 2) whose nearest palette colour (K, 3) in [0, 1] is their class's."""
    rgb = (np.asarray(images) + 1.0) / 2.0
    nearest = np.argmin(((rgb[..., None, :] - palette) ** 2).sum(-1), axis=-1)
    shapes = labels >= 2
    return float((nearest[shapes] == labels[shapes]).mean())


def counterpart_retrieval(outputs, truths):
    """Fraction of outputs whose nearest truth (mean L1, among all N) is their own counterpart; chance 1/N."""
    distances = np.abs(outputs[:, None] - truths[None]).mean(axis=(2, 3, 4))
    return float((distances.argmin(axis=1) == np.arange(len(outputs))).mean())


def output_spread(outputs, reals, n=16):
    """Mean pairwise L1 between the outputs for n different inputs / the same for n real images."""
    return mean_pairwise_distance(outputs[:n]) / mean_pairwise_distance(reals[:n])


def evaluate(trainer):
    """The numbers of one trained CycleGAN on the test images (dict name -> float)."""
    fake_b, fake_a = trainer.translate(test_a), trainer.translate(test_b, direction="BtoA")
    numbers = {}
    if true_b is not None:
        night = np.array([c["night"] for c in read_meta(ROOT)["classes"]], np.float32) / 255.0
        numbers = {
            "translation error A->B": float(np.abs(fake_b - true_b).mean()),
            "translation error B->A": float(np.abs(fake_a - true_a).mean()),
            "shape colour accuracy": shape_colour_accuracy(fake_b, test_labels, night),
            "counterpart retrieval": counterpart_retrieval(fake_b, true_b),
        }
    numbers.update(
        {
            "output spread": output_spread(fake_b, test_b),
            "cycle error": float(np.abs(trainer.translate(fake_b, direction="BtoA") - test_a).mean()),
            "identity error": float(np.abs(trainer.translate(test_b) - test_b).mean()),
        }
    )
    return numbers


if not GRADING:
    table = {"CycleGAN": evaluate(runs["CycleGAN"])}
    if true_b is not None:
        mean_night = load_images(ROOT, "trainB").mean(axis=0, keepdims=True)
        baselines = {
            "identity baseline (output = input)": float(np.abs(test_a - true_b).mean()),
            "mean night image (ignores the input)": float(np.abs(mean_night - true_b).mean()),
        }
        for name, value in baselines.items():
            print(f"{name:>40s}: translation error A->B {value:.3f}")
    for name, value in table["CycleGAN"].items():
        print(f"{name:>40s}: {value:.3f}")

# %% [markdown]
# ## 7. Ablations: without the cycle loss, without the identity loss
#
# Same networks, same initial weights, same data, same number of steps; one term removed:
#
# - **GAN alone** ($\lambda_{cyc} = 0$, which also removes the identity term, whose weight is
#   $\lambda_{cyc}\lambda_{idt}$): the paper's "GAN alone" row (Zhu et al. Sec. 5.1.4, Table 4);
# - **no identity loss** ($\lambda_{idt} = 0$): the paper's default for most tasks; the
#   reference's FAQ reports that without it the colours can get *inverted* early in training
#   and never recover ("The color gets inverted from the beginning of training", #249).

# %%
if not GRADING:
    runs["GAN alone (no cycle)"] = build_cyclegan(lambda_cycle=0.0, lambda_identity=0.0)
    histories["GAN alone (no cycle)"] = train(runs["GAN alone (no cycle)"], ABLATION_EPOCHS)

# %%
if not GRADING:
    runs["no identity loss"] = build_cyclegan(lambda_identity=0.0)
    histories["no identity loss"] = train(runs["no identity loss"], ABLATION_EPOCHS)

# %%
if not GRADING:
    for name in ("GAN alone (no cycle)", "no identity loss"):
        table[name] = evaluate(runs[name])
    columns = {"input A": test_a[:6]}
    for name, trainer in runs.items():
        columns[f"{name}: A->B"] = trainer.translate(test_a[:6])
    if true_b is not None:
        columns["true A->B"] = true_b[:6]
    viz.show_grid(columns, max_rows=6)
    # The identity loss in action: night images through the day -> night generator.
    columns = {"input B": test_b[:6]}
    for name, trainer in runs.items():
        columns[f"{name}: G(B)"] = trainer.translate(test_b[:6])
    viz.show_grid(columns, max_rows=6)

    names = list(table)
    keys = list(table["CycleGAN"])
    plotted = [
        k for k in ("translation error A->B", "counterpart retrieval", "output spread", "identity error") if k in keys
    ]
    print(f"{'':>24s}" + "".join(f"{n:>22s}" for n in names))
    for key in keys:
        print(f"{key:>24s}" + "".join(f"{table[n][key]:22.3f}" for n in names))
    fig = Figure(figsize=(3.4 * len(plotted), 3.2), layout="constrained")
    for i, key in enumerate(plotted):
        ax = fig.add_subplot(1, len(plotted), i + 1)
        ax.bar(range(len(names)), [table[n][key] for n in names], color=["C0", "C3", "C2"][: len(names)])
        if key == "translation error A->B":
            ax.axhline(
                baselines["mean night image (ignores the input)"], color="k", ls="--", lw=1, label="mean night image"
            )
            ax.legend(fontsize=7)
        ax.set_xticks(range(len(names)), [n.split(" (")[0] for n in names], rotation=20, fontsize=7)
        ax.set_title(key, fontsize=9)
    viz.show(fig)

# %% [markdown]
# ## 8. Questions
#
# ### Question 1 (3 points): what the ablations show
# Describe what happens to the translations without the cycle loss, using the images and the
# numbers (translation error, counterpart retrieval, output spread, cycle error). Is it a mode
# collapse (every input mapped to the same output)? Why does an adversarial loss alone allow
# this? What did removing the identity loss change here, and what does the identity loss do in
# general (Zhu et al. Sec. 5.2; the reference's FAQ)?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_ablations", "points": 3, "schema_version": 3}
# **Model answer.** Without the cycle loss the outputs stop depending on the input the right
# way: they are plausible night pictures (dark sky and ground, bright blobs in shape colours),
# but the blobs no longer sit where the input's shapes are, nor have their shapes' colours
# (shape colour accuracy about 0.13 against 0.5). It is *not* a mode collapse here: the output
# spread stays about 0.9 (CycleGAN: about 1.0), so different inputs still give outputs as
# different from each other as real night images are; they are just not the input's own night
# version. The translation error is more than twice that of CycleGAN (about 0.31 against 0.14)
# and worse than the mean night image (about 0.23), which ignores the input; almost no output
# is nearest to its own true counterpart (counterpart retrieval about 0.03, near the chance
# level 1/64, against about 0.67), and the cycle error is more than twice CycleGAN's because
# nothing asks F to undo G. The adversarial loss only asks that each output *look like* some
# sample of domain B, judged image by image: a generator that maps every input to one
# convincing night image (the collapse Zhu et al. show for "GAN alone" on Cityscapes labels,
# Sec. 5.1.4 and Fig. 7), or, as here, to varied night images unrelated to the input,
# satisfies it. The cycle
# loss ties the output to its input: F must recover a from G(a), so G(a) must keep a's
# information.
#
# Removing the identity loss changed the day -> night translation error little in this short
# run (about 0.15 against 0.14), but the generator then re-tints images that are already night
# images: its identity error roughly doubles (about 0.22 against 0.11) and the night inputs
# come out with changed shape colours (fewer shapes get their right colour in the translation
# too). The identity loss asks each generator to be the identity on its
# own output domain, a preference for keeping colours when there is no reason to change them.
# Zhu et al. use it for painting -> photo, where without it a day painting can become a sunset
# photo (the tint survives the cycle, so the cycle loss does not object), and the reference's
# FAQ recommends it when the colours get inverted early in training, another colour change
# that the cycle can undo and so never penalises.

# %% [markdown]
# ### Question 2 (3 points): cycle consistency is only a prior
# Zhu et al. call the unpaired problem "highly under-constrained". Explain why cycle
# consistency does not determine the mapping: give a mapping that is cycle-consistent and
# produces perfect-looking outputs but is *wrong*. Then explain, following Benaim & Wolf
# (2017) and Galanti, Wolf & Benaim (2018), why CycleGAN nevertheless usually finds the
# intended mapping, and what that implies for datasets where the intended mapping is not the
# simplest one. (The synthetic set `day2night_ambiguous` in `i2ilab.data.synthetic` is built
# for this: red and blue circles by day, cyan and yellow circles by night.)

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_prior", "points": 3, "schema_version": 3}
# **Model answer.** The adversarial losses constrain only the *distribution* of G(A) (it must
# match that of B); cycle consistency asks F to be G's inverse. Any bijection between the two
# domains that maps the distribution of A onto that of B satisfies both: for example, G could
# swap the night colours of squares and triangles (a day square becomes a night triangle-
# coloured square) and F swap them back. Every output looks like a real night image, the cycle
# is perfect, and the translation is wrong. Zhu et al. say as much: with enough capacity a
# network can map the inputs to any permutation of the target images, and cycle consistency
# only "reduces the space of possible mapping functions". Benaim & Wolf (2017) show that a
# one-sided constraint (preserving pairwise distances between samples) can replace the cycle,
# and Galanti, Wolf & Benaim (2018) argue that what makes these methods work is *minimal
# complexity*: among the mappings that match the distributions, small networks trained with
# SGD find the simplest one (few layers, locally smooth), and the semantically right mapping is
# usually the simplest. So the real prior is the architecture plus simplicity, and cycle
# consistency mainly removes the degenerate, input-ignoring solutions. When the intended
# mapping is not the simplest one (in `day2night_ambiguous`, red -> cyan and blue -> yellow is
# true, but the swap red -> yellow, blue -> cyan is closer in RGB and equally cycle-consistent),
# CycleGAN has no way to know and learns the simpler, wrong correspondence: with this lab's
# smoke networks, after 600 steps about 85% of the red circles' pixels came out yellow and of
# the blue ones cyan, with or without the identity loss (which, if anything, favours the
# colour-preserving swap). Only paired data, labels or a different prior can break the tie.

# %% [markdown]
# ## 9. The lesson in numbers
# The cell below writes the key numbers to `lesson_metrics.json` (the course's tests check
# them). What a longer run adds: on two CPU cores, about 4-5 minutes of training (~1400 steps)
# gets almost every shape its right night colour and sharp edges; the paper's networks on
# horse2zebra need a GPU and about 100k-270k steps (100 + 100 epochs). Zhu et al. show the
# adversarial loss alone collapsing on Cityscapes (the same label map whatever the input,
# Sec. 5.1.4 and Fig. 7); in this lab's short smoke runs it did not collapse (output spread
# about 0.9), it lost the correspondence to the input.

# %%
if not GRADING:
    lesson = {
        "mode": "full" if FULL else "smoke",
        "image_size": IMAGE_SIZE,
        "epochs": {name: len(h.epoch) for name, h in histories.items()},
        "steps_per_epoch": STEPS_PER_EPOCH,
        "metrics": table,
        "cpu_seconds": time.process_time() - START_CPU,
        "wall_seconds": time.time() - START_WALL,
    }
    if true_b is not None:
        lesson["baselines"] = baselines
    with open("lesson_metrics.json", "w") as f:
        json.dump(lesson, f, indent=1)
    print(json.dumps({k: v for k, v in lesson.items() if k != "metrics"}, indent=1))
