# %% [markdown]
# # Lab 2: pix2pix, a conditional GAN for paired image-to-image translation
#
# Isola et al. (2017), "Image-to-Image Translation with Conditional Adversarial Networks",
# translate a label map into a photo (and maps into aerial views, edges into shoes, ...) with
# one recipe: a **U-Net** generator, a **PatchGAN** discriminator that judges small patches,
# and the objective **cGAN + lambda * L1**. In this lab you will
#
# 1. build the pieces yourself: a U-Net encoder block (`UNetDown`), the PatchGAN
#    (`patch_discriminator`) and its receptive field (`receptive_field`), and the two losses
#    (`discriminator_loss`, `generator_loss`);
# 2. train pix2pix with the library trainer (`i2ilab.training.Pix2Pix`) on label maps -> photos;
# 3. reproduce the paper's ablations side by side: **L1 vs cGAN vs L1 + cGAN** (its Table 1),
#    **U-Net vs encoder-decoder** (Table 2) and the **discriminator's receptive field** (Table 3);
# 4. measure why L1 alone blurs: the texture (high-frequency) energy of the outputs;
# 5. explain in writing why L1 blurs and what the PatchGAN assumes about images.
#
# **Grading.** Exercises are autograded (visible tests check shapes, parameter counts and simple
# cases; hidden tests compare with `i2ilab` on fixed inputs). Written answers are graded by
# hand. While nbgrader grades, the training cells skip themselves.
#
# **Modes.** With `I2ILAB_SMOKE=1` the lab trains on the built-in synthetic label -> photo set at
# 32x32 and finishes in a few minutes on a CPU. Without it (full mode, for a GPU), it trains on
# the CMP **facades** dataset at 256x256 (labels -> photo, the archive's `BtoA` direction), as the
# paper does: six models of 40,000 steps at batch 1 (an estimate, not a measurement: a few hours
# on one GPU; lower `STEPS` for a first look).

# %%
import os

SMOKE = os.environ.get("I2ILAB_SMOKE") == "1"
GRADING = "NBGRADER_EXECUTION" in os.environ  # nbgrader is grading: skip training and plots
FULL = not (SMOKE or GRADING)

SEED = 0
IMAGE_SIZE = 256 if FULL else 32
BATCH_SIZE = 1 if FULL else 2  # the paper uses batch 1
NGF = 64 if FULL else 32  # generator width (first layer)
NDF = 64 if FULL else 32  # discriminator width
LAMBDA_L1 = 100.0  # weight of the L1 term (the paper's lambda)
STEPS = 40000 if FULL else 600  # steps per training run (full: 100 epochs of facades' 400 images)
EPOCHS = 20 if FULL else 5  # progress reports (and texture-energy measurements) per run
# Discriminator depth (n_layers) of the main runs, and the receptive-field ablation.
# 256x256: 0, 1, 3, 5 layers = 1, 16, 70, 286 pixels, the paper's Table 3.
# 32x32: a 286-pixel (or 70-pixel) field cannot be told from a whole-image one, so the same
# *relative* scales are 0, 1, 2 layers = 1, 16, 34 pixels (pixel / patch / whole image).
D_LAYERS = 3 if FULL else 1
RF_ABLATION = (0, 1, 3, 5) if FULL else (0, 1, 2)
N_TRAIN = 2048  # synthetic training pairs (smoke mode; fewer let the U-Net memorise texture phases)
DATA_DIR = os.environ.get("I2ILAB_DATA", "data")  # where full mode downloads facades

# %% [markdown]
# ## 0. Setup

# %%
import json
import logging
import time
import warnings

import keras
import numpy as np
from keras import ops
from matplotlib.figure import Figure

import i2ilab
from i2ilab import viz

warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")  # fit() on a tf.data pipeline
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no retracing notes from the TensorFlow backend
keras.utils.set_random_seed(SEED)
START_CPU, START_WALL = time.process_time(), time.time()


def to_numpy(x):
    """Any tensor (TensorFlow, JAX, NumPy) -> NumPy array."""
    return np.asarray(ops.convert_to_numpy(x))


def trainable_count(model):
    """Number of trainable parameters (the papers' counts leave out BatchNorm's moving statistics)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


print(f"i2ilab {i2ilab.__version__}, Keras {keras.__version__} on {keras.backend.backend()}; "
      f"{'full' if FULL else 'smoke'} mode, {IMAGE_SIZE}x{IMAGE_SIZE}")

# %% [markdown]
# ## 1. The generator: a U-Net
#
# An image-to-image network maps a 256x256 input to a 256x256 output that shares its layout:
# the edges of the label map are the edges of the photo. An **encoder-decoder** squeezes the
# input through a bottleneck (1x1 at the centre of pix2pix's network) and must carry every
# detail through it. The **U-Net** adds skip connections: the decoder at each resolution
# also receives the encoder's features at that resolution, so low-level information (where the
# edges are) can bypass the bottleneck (Isola et al. Sec. 3.2.1, Fig. 3).
#
# The encoder is a stack of identical blocks (appendix 6.1.1, "C_k" without dropout):
#
# `LeakyReLU(0.2) -> Conv 4x4, stride 2, padding 1 -> BatchNorm`
#
# which halves the resolution. Two exceptions: the **outermost** block (the first, on the
# image) is the convolution alone (no activation before it, no norm after it), and the
# **innermost** block (onto the 1x1 bottleneck) has no norm (normalising a 1x1 map over a batch
# of one would set it to zero). As in the reference, the convolution has no bias when the
# network uses BatchNorm (the norm's beta plays that role), also in the two norm-free blocks.
# Weights are initialised from N(0, 0.02).
#
# ### Exercise 1 (2 points): `UNetDown`
# Return a `keras.Sequential` of standard Keras layers (`LeakyReLU(negative_slope=0.2)`,
# `ZeroPadding2D(1)` and a `'valid'` `Conv2D`, `BatchNormalization(momentum=0.9, epsilon=1e-5)`,
# PyTorch's defaults). `norm` is `"batch"` or `"none"`.

# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_unet_down", "schema_version": 3}
def UNetDown(filters, norm="batch", outermost=False, innermost=False):
    """U-Net encoder block: (B, H, W, C) -> (B, H / 2, W / 2, filters)."""
    init = keras.initializers.RandomNormal(0.0, 0.02)
    ### BEGIN SOLUTION
    layers = [] if outermost else [keras.layers.LeakyReLU(negative_slope=0.2)]
    layers += [
        keras.layers.ZeroPadding2D(1),
        keras.layers.Conv2D(filters, 4, strides=2, padding="valid", use_bias=norm != "batch", kernel_initializer=init),
    ]
    if norm == "batch" and not (outermost or innermost):
        layers.append(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5))
    return keras.Sequential(layers)
    ### END SOLUTION

# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_unet_down", "points": 2, "schema_version": 3}
x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
block = UNetDown(64)
y = to_numpy(block(x, training=False))
assert y.shape == (2, 16, 16, 64), f"a down block halves H and W: expected (2, 16, 16, 64), got {y.shape}"
assert trainable_count(block) == 4 * 4 * 3 * 64 + 2 * 64, "conv 4x4 without bias + BatchNorm gamma and beta"
outer = UNetDown(64, outermost=True)
outer(x)
assert trainable_count(outer) == 4 * 4 * 3 * 64, "the outermost block is the convolution alone (no bias with BatchNorm nets)"
assert np.allclose(to_numpy(outer(-x)), -to_numpy(outer(x)), atol=1e-5), "the outermost block has no activation"
inner = UNetDown(8, innermost=True)
assert to_numpy(inner(x)).shape == (2, 16, 16, 8) and trainable_count(inner) == 4 * 4 * 3 * 8, "no norm in the innermost block"
plain = UNetDown(8, norm="none")
plain(x)
assert trainable_count(plain) == 4 * 4 * 3 * 8 + 8, "with norm='none' the conv has a bias"
print("UNetDown: visible tests passed")
### BEGIN HIDDEN TESTS
from i2ilab.layers import UNetDown as _ReferenceUNetDown


def _same_numbers(kwargs, channels, filters, training):
    rng = np.random.default_rng(21)
    _x = rng.normal(size=(3, 8, 8, channels)).astype(np.float32)
    mine, ref = UNetDown(filters, **kwargs), _ReferenceUNetDown(filters, **kwargs)
    mine(_x), ref(_x)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in ref.weights]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, ref.weights)]
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in ref.weights], kwargs
    ref.set_weights(weights)
    mine.set_weights(weights)
    assert np.allclose(to_numpy(mine(_x, training=training)), to_numpy(ref(_x, training=training)), rtol=1e-3, atol=1e-3), kwargs


for _kwargs in ({}, {"outermost": True}, {"innermost": True}, {"norm": "none"}, {"norm": "none", "outermost": True}):
    _same_numbers(_kwargs, 5, 7, training=False)
_same_numbers({}, 4, 6, training=True)
### END HIDDEN TESTS

# %% [markdown]
# With the library's blocks (`i2ilab.layers.UNetDown` / `UNetUp`) the generator factories build
# both networks: `unet_generator` and its ablation `encoder_decoder_generator` (same blocks, no
# skips). At 256x256 the U-Net has 54,413,955 parameters, as the reference `unet_256`.

# %%
from i2ilab.models import encoder_decoder_generator, unet_generator

if not GRADING:
    for factory in (unet_generator, encoder_decoder_generator):
        net = factory(IMAGE_SIZE, ngf=NGF)
        downs = sum(layer.name.startswith("down") for layer in net.layers)
        print(f"{net.name}: {trainable_count(net):,} parameters, {downs} down blocks, "
              f"{IMAGE_SIZE}x{IMAGE_SIZE} -> bottleneck {IMAGE_SIZE // 2**downs}x{IMAGE_SIZE // 2**downs}")

# %% [markdown]
# ## 2. The discriminator: a PatchGAN
#
# L1 already gets the low frequencies right (the layout, the average colours; Section 5 shows
# it). What it cannot produce is sharp, high-frequency structure. Isola et al. therefore let the
# discriminator look only at **local patches**: a fully convolutional network whose every output
# logit judges one N x N patch of the (input, output) pair, averaged over the image
# (Sec. 3.2.2). It has fewer parameters, runs on any image size, and "models the image as a
# Markov random field, assuming independence between pixels separated by more than a patch
# diameter".
#
# Architecture (appendix 6.1.2), for `n_layers = 3` the "70x70" discriminator:
# `C64 - C128 - C256` at stride 2, then `C512` at stride 1, then a convolution to 1 channel at
# stride 1 (the logits, no sigmoid). `Ck` = Conv 4x4 with zero padding 1 -> BatchNorm ->
# LeakyReLU(0.2); the first layer has no norm (and a bias); widths are `ndf * min(2**i, 8)`.
# In general: `n_layers` stride-2 layers (the first without norm), one stride-1 layer of width
# `ndf * min(2**n_layers, 8)`, the stride-1 logit layer. `n_layers = 0` is the **pixel**
# discriminator ("PixelGAN"): three 1x1 convolutions, widths `ndf`, `2 * ndf`, 1 (LeakyReLU
# after the first two, BatchNorm after the second, no bias in the last one when the net uses
# BatchNorm).
#
# ### Exercise 2 (1 point): `receptive_field`
# How many input pixels does one logit see? Walking back from one output through a layer of
# kernel k and stride s, a field of r pixels becomes `(r - 1) * s + k`. Return the receptive
# field of `patch_discriminator(n_layers=...)` (1 for the pixel discriminator).

# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_receptive_field", "schema_version": 3}
def receptive_field(n_layers):
    """Receptive field in pixels of one logit of the PatchGAN with n_layers stride-2 layers."""
    ### BEGIN SOLUTION
    if n_layers == 0:
        return 1
    field = 1
    for kernel, stride in reversed([(4, 2)] * n_layers + [(4, 1), (4, 1)]):
        field = (field - 1) * stride + kernel
    return field
    ### END SOLUTION

# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_receptive_field", "points": 1, "schema_version": 3}
assert receptive_field(3) == 70, f"the basic PatchGAN sees 70x70 pixels, got {receptive_field(3)}"
assert receptive_field(0) == 1, "the pixel discriminator sees one pixel"
print("receptive_field: visible tests passed")
### BEGIN HIDDEN TESTS
from i2ilab.models import receptive_field as _reference_receptive_field

assert [receptive_field(n) for n in range(6)] == [1, 16, 34, 70, 142, 286]
assert all(receptive_field(n) == _reference_receptive_field(n) for n in range(8))
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 (3 points): `patch_discriminator`
# Build the PatchGAN as a functional `keras.Model` from standard Keras layers, in the order given
# above (for each layer: `ZeroPadding2D(1)`, a `'valid'` `Conv2D` 4x4 initialised from
# N(0, 0.02), then `BatchNormalization(momentum=0.9, epsilon=1e-5)` where there is a norm, then
# `LeakyReLU(negative_slope=0.2)`). Convolutions followed by BatchNorm have no bias;
# the first and the logit convolutions have one. `norm` is `"batch"` or `"none"` (with `"none"`
# every convolution has a bias). The input is `(image_size, image_size, in_channels)`: the
# pix2pix discriminator is **conditional**, it sees the input and the output image
# concatenated (6 channels).

# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_patch_discriminator", "schema_version": 3}
def patch_discriminator(image_size=256, in_channels=6, ndf=64, n_layers=3, norm="batch"):
    """PatchGAN: (B, S, S, in_channels) -> logits (B, s, s, 1), one per patch."""
    init = keras.initializers.RandomNormal(0.0, 0.02)
    inputs = keras.Input((image_size, image_size, in_channels))
    ### BEGIN SOLUTION
    use_norm = norm == "batch"

    def conv(h, filters, kernel, stride, pad, bias):
        if pad:
            h = keras.layers.ZeroPadding2D(pad)(h)
        return keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=bias, kernel_initializer=init)(h)

    def bn(h):
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(h) if use_norm else h

    if n_layers == 0:
        h = keras.layers.LeakyReLU(negative_slope=0.2)(conv(inputs, ndf, 1, 1, 0, True))
        h = keras.layers.LeakyReLU(negative_slope=0.2)(bn(conv(h, 2 * ndf, 1, 1, 0, not use_norm)))
        return keras.Model(inputs, conv(h, 1, 1, 1, 0, not use_norm))
    h = keras.layers.LeakyReLU(negative_slope=0.2)(conv(inputs, ndf, 4, 2, 1, True))
    for i in range(1, n_layers):
        h = keras.layers.LeakyReLU(negative_slope=0.2)(bn(conv(h, ndf * min(2**i, 8), 4, 2, 1, not use_norm)))
    h = keras.layers.LeakyReLU(negative_slope=0.2)(bn(conv(h, ndf * min(2**n_layers, 8), 4, 1, 1, not use_norm)))
    return keras.Model(inputs, conv(h, 1, 4, 1, 1, True))
    ### END SOLUTION

# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_patch_discriminator", "points": 3, "schema_version": 3}
d70 = patch_discriminator()
assert tuple(d70.output.shape) == (None, 30, 30, 1), f"256x256 -> 30x30 logits, got {d70.output.shape}"
assert trainable_count(d70) == 2_768_705, f"the 70x70 PatchGAN has 2,768,705 parameters, got {trainable_count(d70):,}"
d16 = patch_discriminator(32, ndf=8, n_layers=1)
logits = to_numpy(d16(np.zeros((2, 32, 32, 6), np.float32), training=False))
assert logits.shape == (2, 14, 14, 1), f"32x32 with n_layers=1 -> 14x14 logits, got {logits.shape}"
print("patch_discriminator: visible tests passed")
### BEGIN HIDDEN TESTS
from i2ilab.models import patch_discriminator as _reference_patch_discriminator

for _n in range(6):
    _mine, _ref = patch_discriminator(None, ndf=8, n_layers=_n), _reference_patch_discriminator(None, ndf=8, n_layers=_n)
    assert trainable_count(_mine) == trainable_count(_ref), _n
for _n in range(4):
    _mine, _ref = patch_discriminator(64, ndf=8, n_layers=_n), _reference_patch_discriminator(64, ndf=8, n_layers=_n)
    assert tuple(_mine.output.shape) == tuple(_ref.output.shape), _n
assert trainable_count(patch_discriminator(64, 3, 16, 2, norm="none")) == trainable_count(_reference_patch_discriminator(64, 3, 16, 2, norm="none"))
for _n in (0, 1, 2):
    _rng = np.random.default_rng(22 + _n)
    _mine = patch_discriminator(32, 6, 8, _n)
    _ref = _reference_patch_discriminator(32, 6, 8, _n)
    _weights = [_rng.normal(0.0, 0.2, size=w.shape).astype(np.float32) for w in _ref.weights]
    _weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(_weights, _ref.weights)]
    _ref.set_weights(_weights)
    _mine.set_weights(_weights)
    _x = _rng.normal(size=(2, 32, 32, 6)).astype(np.float32)
    assert np.allclose(to_numpy(_mine(_x, training=False)), to_numpy(_ref(_x, training=False)), rtol=1e-3, atol=1e-3), _n
### END HIDDEN TESTS

# %% [markdown]
# The receptive fields of the discriminators this lab trains, measured against the image size:

# %%
from i2ilab.models import RECEPTIVE_FIELDS

for n in RF_ABLATION:
    rf = RECEPTIVE_FIELDS[n]
    scale = "pixel" if rf == 1 else "patch" if rf < IMAGE_SIZE else "whole image (and more)"
    print(f"n_layers={n}: {rf:3d}x{rf:<3d} pixels = {min(rf / IMAGE_SIZE, 1):5.1%} of the {IMAGE_SIZE}-pixel width -> {scale}")

# %% [markdown]
# ## 3. The objective: cGAN + lambda * L1
#
# The discriminator D sees the input x with either the real output y or the generated G(x) and
# outputs logits (one per patch). With the non-saturating GAN loss of the paper (binary
# cross-entropy on the logits, $\sigma$ the sigmoid, means over all patches and the batch):
#
# - D minimises $\frac{1}{2}\big[-\log \sigma(D(x, y)) - \log(1 - \sigma(D(x, G(x))))\big]$,
#   halved "to slow down the rate at which D learns relative to G" (Sec. 3.3);
# - G minimises $-\log \sigma(D(x, G(x))) + \lambda \, \lVert y - G(x) \rVert_1$ with
#   $\lambda = 100$, the L1 term a mean over pixels.
#
# Write them with `keras.ops` on logits; note $-\log \sigma(z) = \mathrm{softplus}(-z)$ and
# $-\log(1 - \sigma(z)) = \mathrm{softplus}(z)$ (numerically safe, unlike `log(sigmoid)`).
#
# ### Exercise 4 (2 points): `discriminator_loss`

# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_discriminator_loss", "schema_version": 3}
def discriminator_loss(real_logits, fake_logits):
    """0.5 * (BCE(real_logits, 1) + BCE(fake_logits, 0)), each a mean over all logits; a scalar."""
    ### BEGIN SOLUTION
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    return 0.5 * (ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits)))
    ### END SOLUTION

# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_discriminator_loss", "points": 2, "schema_version": 3}
# Stand-in logits (no networks needed): a D that cannot tell, one that is sure and right, one sure and wrong.
undecided = float(to_numpy(discriminator_loss(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 4, 1)))))
assert np.isclose(undecided, np.log(2.0), atol=1e-5), f"logits 0 everywhere give log 2 = 0.693, got {undecided}"
right = float(to_numpy(discriminator_loss(np.full((2, 4, 4, 1), 20.0), np.full((2, 4, 4, 1), -20.0))))
wrong = float(to_numpy(discriminator_loss(np.full((2, 4, 4, 1), -20.0), np.full((2, 4, 4, 1), 20.0))))
assert right < 1e-6 and np.isclose(wrong, 20.0, rtol=1e-3), (right, wrong)
print("discriminator_loss: visible tests passed")
### BEGIN HIDDEN TESTS
from i2ilab.losses import gan_loss as _gan_loss

_rng = np.random.default_rng(23)
_r, _f = _rng.normal(size=(3, 6, 6, 1)).astype(np.float32) * 3, _rng.normal(size=(3, 6, 6, 1)).astype(np.float32) * 3
_d_real, _d_fake = _gan_loss("vanilla").d_loss(_r, _f)
assert np.isclose(float(to_numpy(discriminator_loss(_r, _f))), 0.5 * float(to_numpy(_d_real + _d_fake)), rtol=1e-5)
assert np.isclose(float(to_numpy(discriminator_loss(_r[:1], _f))), 0.5 * float(to_numpy(sum(_gan_loss("vanilla").d_loss(_r[:1], _f)))), rtol=1e-5)
assert np.isfinite(float(to_numpy(discriminator_loss(np.full((1, 2, 2, 1), 1e4), np.full((1, 2, 2, 1), -1e4)))))
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 5 (2 points): `generator_loss`

# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_generator_loss", "schema_version": 3}
def generator_loss(fake_logits, generated, target, lambda_l1=100.0):
    """BCE(fake_logits, 1) + lambda_l1 * mean|target - generated|; a scalar."""
    ### BEGIN SOLUTION
    gan = ops.mean(ops.softplus(-ops.cast(fake_logits, "float32")))
    l1 = ops.mean(ops.abs(ops.cast(target, "float32") - ops.cast(generated, "float32")))
    return gan + lambda_l1 * l1
    ### END SOLUTION

# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_generator_loss", "points": 2, "schema_version": 3}
image = np.zeros((2, 8, 8, 3), np.float32)
fooled = float(to_numpy(generator_loss(np.full((2, 4, 4, 1), 20.0), image, image)))
assert fooled < 1e-6, f"a perfect output that fools D costs nothing, got {fooled}"
off = float(to_numpy(generator_loss(np.full((2, 4, 4, 1), 20.0), image + 0.5, image)))
assert np.isclose(off, 100.0 * 0.5, rtol=1e-4), f"an output 0.5 off everywhere costs lambda * 0.5 = 50, got {off}"
caught = float(to_numpy(generator_loss(np.zeros((2, 4, 4, 1)), image, image, lambda_l1=0.0)))
assert np.isclose(caught, np.log(2.0), atol=1e-5), "an undecided D gives the GAN term log 2"
print("generator_loss: visible tests passed")
### BEGIN HIDDEN TESTS
from i2ilab.losses import gan_loss as _gan_loss, l1_loss as _l1_loss

_rng = np.random.default_rng(24)
_f = _rng.normal(size=(2, 5, 5, 1)).astype(np.float32) * 2
_g, _t = _rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32), _rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
for _lam in (100.0, 10.0, 0.0):
    _expected = float(to_numpy(_gan_loss("vanilla").g_loss(_f) + _lam * _l1_loss(_g, _t)))
    assert np.isclose(float(to_numpy(generator_loss(_f, _g, _t, lambda_l1=_lam))), _expected, rtol=1e-5), _lam
assert np.isclose(float(to_numpy(generator_loss(_f, _g, _t))), float(to_numpy(_gan_loss("vanilla").g_loss(_f) + 100.0 * _l1_loss(_g, _t))), rtol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# `i2ilab.training.Pix2Pix` computes exactly these two objectives in its train step (with the
# library's `losses.gan_loss("vanilla")` and `losses.l1_loss`), in the reference's update order:
# one generator forward pass, a D step on the real and the (detached) fake pair, then a G step
# against the updated D. Its ablations are arguments: `discriminator=None` is L1 alone,
# `lambda_l1=0` is the cGAN alone.

# %% [markdown]
# ## 4. Data and training
#
# Smoke mode uses the built-in `labels2photo` set (`i2ilab.data.synthetic`): random layouts of
# six classes (wall, window, bush, road, pole, background), drawn as a colour-coded label map
# (the input) and as a "photo" (the target) in which every class has its own **texture**
# (stripes, checks, dots) with a **random phase**, plus random lighting and a highlight. The
# label map fixes where each texture goes but not its phase: as on real facades, many outputs
# are right for one input. Full mode uses facades at 256x256 (labels -> photo, `BtoA`).

# %% tags=["data-pipeline"]
from i2ilab.data import paired_dataset, synthetic_root
from i2ilab.data.synthetic import load_labels

if FULL:
    from i2ilab.data.download import download_dataset

    ROOT = download_dataset("facades", "pix2pix", out=DATA_DIR)
    DIRECTION, TEST_SPLIT = "BtoA", "test"  # facades: A = photo, B = labels
elif not GRADING:
    ROOT = synthetic_root("labels2photo", IMAGE_SIZE, n_train=N_TRAIN)
    DIRECTION, TEST_SPLIT = "AtoB", "test"


def train_dataset():
    """The training pipeline (resize to 286/256 of the size, random crop and flip), batches in a fixed order."""
    return paired_dataset(
        ROOT, "train", direction=DIRECTION, image_size=IMAGE_SIZE, load_size=round(IMAGE_SIZE * 286 / 256),
        jitter=True, batch_size=BATCH_SIZE, shuffle=True, seed=SEED, drop_remainder=True,
    )


if not GRADING:
    train_ds = train_dataset()
    test_ds = paired_dataset(ROOT, TEST_SPLIT, direction=DIRECTION, image_size=IMAGE_SIZE, jitter=False,
                             batch_size=64, shuffle=False)
    test_x, test_y = (to_numpy(t) for t in next(iter(test_ds)))
    # Integer class of every test pixel (synthetic set only): where the textures are.
    test_labels = None if FULL else load_labels(ROOT, TEST_SPLIT)[: len(test_x)]
    print(f"train: {ROOT / 'train'}; test batch {test_x.shape} -> {test_y.shape}")
    viz.show_grid({"input (labels)": test_x, "target (photo)": test_y}, max_rows=4)

# %% [markdown]
# **Measuring sharpness.** To see what each objective does to the textures we use the **texture
# energy**: the mean squared difference between an image and its 3x3 local average (a
# high-pass filter), over the pixels inside textured regions (at least 2 pixels away from label
# boundaries: edges are not texture, and every model reproduces them), relative to the real
# photos'. A flat output scores 0, the real photos 1. (Full mode has no label maps: there it is
# measured over whole images.) A callback records it on the test images after every epoch.

# %%
def texture_energy(images, labels=None, margin=2):
    """Mean squared high-pass response (image minus its 3x3 mean) over textured pixels, per image set.

    labels: integer maps (N, H, W); only pixels of classes > 0 at least `margin` pixels away from
    another class count (edges are not texture). Without labels every pixel counts.
    """
    images = np.asarray(images, np.float64)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = images.shape[1:3]
    local_mean = sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0
    energy = ((images - local_mean) ** 2).mean(axis=-1)
    if labels is None:
        return float(energy.mean())
    inside = labels > 0
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            inside &= np.roll(labels, (dy, dx), axis=(1, 2)) == labels
    return float(energy[inside].mean())


class TextureEnergyLog(keras.callbacks.Callback):
    """After every epoch: texture energy of the trainer's outputs on the test batch, relative to the real photos."""

    def __init__(self):
        super().__init__()
        self.steps, self.values = [], []

    def on_epoch_end(self, epoch, logs=None):
        out = self.model.translate(test_x)
        self.steps.append((epoch + 1) * (STEPS // EPOCHS))
        self.values.append(texture_energy(out, test_labels) / REAL_ENERGY)


if not GRADING:
    REAL_ENERGY = texture_energy(test_y, test_labels)

# %% [markdown]
# One function trains one configuration with the library: fresh networks with a fixed seed,
# `Pix2Pix(generator, discriminator, lambda_l1)`, Adam(2e-4, beta_1 0.5) for both networks (the
# paper's settings), and a fresh pipeline, so that every run sees the same batches.

# %%
from i2ilab.models import patch_discriminator as library_patch_discriminator
from i2ilab.training import Pix2Pix


def train_pix2pix(generator="unet", d_layers=D_LAYERS, lambda_l1=LAMBDA_L1, adversarial=True, steps=STEPS):
    """Train one pix2pix configuration from scratch; returns the trainer and its texture-energy log."""
    keras.utils.set_random_seed(SEED)
    factory = unet_generator if generator == "unet" else encoder_decoder_generator
    g = factory(IMAGE_SIZE, ngf=NGF)
    d = library_patch_discriminator(IMAGE_SIZE, in_channels=6, ndf=NDF, n_layers=d_layers) if adversarial else None
    trainer = Pix2Pix(g, d, lambda_l1=lambda_l1, seed=SEED)
    trainer.compile()
    log = TextureEnergyLog()
    t0 = time.time()
    history = trainer.fit(train_dataset().repeat(), steps_per_epoch=steps // EPOCHS, epochs=EPOCHS, verbose=1,
                          callbacks=[log])
    print(f"{steps} steps in {time.time() - t0:.0f} s; texture energy after each epoch: "
          + ", ".join(f"{v:.2f}" for v in log.values))
    log.history = history
    return trainer, log


RUNS = {  # name -> configuration; the first three are the paper's Table 1 rows
    "L1": dict(adversarial=False),
    "cGAN": dict(lambda_l1=0.0),
    "L1+cGAN": dict(),
    "enc-dec L1+cGAN": dict(generator="encdec"),
    **{f"D {RECEPTIVE_FIELDS[n]}px": dict(d_layers=n) for n in RF_ABLATION if n != D_LAYERS},
}
trainers, logs = {}, {}

# %%
if GRADING:
    print("nbgrader is grading: training skipped")
else:
    for name in ("L1", "L1+cGAN"):
        print(f"--- {name}")
        trainers[name], logs[name] = train_pix2pix(**RUNS[name])
    viz.show(viz.plot_losses(logs["L1+cGAN"].history, title="L1+cGAN: losses per epoch"))

# %% [markdown]
# ## 5. Why L1 alone blurs

# %%
#: The lesson's number: texture energy averaged over the last epochs (GAN training fluctuates).
LATE = max(1, EPOCHS // 2)


def evaluate(names):
    """Outputs on the test batch, texture energy relative to the real photos, L1 to the target."""
    rows = {}
    for name in names:
        out = trainers[name].translate(test_x)
        outputs[name] = out
        rows[name] = {
            "texture_energy": float(np.mean(logs[name].values[-LATE:])),
            "texture_energy_final": logs[name].values[-1],
            "l1": float(np.abs(out - test_y).mean()),
        }
        print(f"{name:>18s}: texture energy {rows[name]['texture_energy']:6.3f} x real (last {LATE} epochs), "
              f"L1 to target {rows[name]['l1']:.3f}")
    return rows


def plot_energy(names):
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for name in names:
        ax.plot(logs[name].steps, logs[name].values, marker="o", label=name)
    ax.axhline(1.0, color="black", lw=1, ls="--", label="real photos")
    ax.set(xlabel="training step", ylabel="texture energy (x real)", title="Texture energy during training")
    ax.legend(fontsize=8)
    return fig


outputs, scores = {}, {}
if not GRADING:
    scores.update(evaluate(["L1", "L1+cGAN"]))
    viz.show_grid({"input": test_x, "L1": outputs["L1"], "L1+cGAN": outputs["L1+cGAN"], "target": test_y}, max_rows=6)
    viz.show(plot_energy(["L1", "L1+cGAN"]))

# %% [markdown]
# ### Question 1 (3 points)
# The L1 model gets the layout and the average colours right but paints every textured region
# flat (texture energy near 0), while L1 + cGAN draws stripes, checks and dots. Explain why,
# using what the L1 loss is minimised by (Isola et al. Sec. 3.1; compare Lab 1) and the way the
# textures are generated. Why is L1 + cGAN's pixel distance to the target nevertheless *not*
# lower, and why does that not make it the worse model?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_l1_blurs", "points": 3, "schema_version": 3}
# **Model answer.** For every pixel the best prediction under L1 is the (conditional) median of
# the plausible values. The label map fixes where a stripe texture goes but not its phase; at
# a given pixel the photo is "bright stripe" or "dark stripe" with equal probability, so the
# median (and the mean, for L2) is the flat average in between, the same for every pixel of the
# region: the texture cancels out and the output is blurry/flat, with zero high-frequency
# energy. The loss is already at its optimum; more training does not help. The cGAN term
# instead asks the output to be indistinguishable from real photos patch by patch: a flat
# region is easy for D to reject, so G must commit to *one* plausible phase. A texture with a
# random phase matches the target only half of the time, so its per-pixel distance is larger
# than the flat median's (the expected L1 of a sharp sample exceeds that of the median): pixel
# distances reward the blurry mean, which is why the paper judges outputs by realism (AMT
# perceptual studies, FCN-score) rather than by L1.

# %% [markdown]
# ## 6. The ablations side by side
#
# Now the other configurations, trained exactly like the two above:
#
# - **cGAN alone** (`lambda_l1=0`): sharp but, without L1 tying the output to the target, free
#   to drift from the input's colours and layout, and prone to artifacts (Table 1);
# - **encoder-decoder** (no skips) with L1 + cGAN: everything must pass the bottleneck (Table 2);
# - the **receptive field** of D (Table 3). At 256x256 the paper compares 1x1 ("PixelGAN"),
#   16x16, 70x70 and 286x286 ("ImageGAN") discriminators. A field's meaning is relative to
#   the image: at 32x32 a 70 or 286-pixel field cannot be built as something different from a
#   whole-image discriminator, so smoke mode uses n_layers 0, 1, 2 = 1, 16 and 34 pixels: a
#   pixel, a patch (half the image) and the whole image. Full mode uses the paper's 0, 1, 3, 5.

# %%
if not GRADING:
    for name in RUNS:
        if name not in trainers:
            print(f"--- {name}")
            trainers[name], logs[name] = train_pix2pix(**RUNS[name])
    scores.update(evaluate([n for n in RUNS if n not in scores]))

# %%
if not GRADING:
    main_rf = f"D {RECEPTIVE_FIELDS[D_LAYERS]}px"
    outputs[main_rf], scores[main_rf], logs[main_rf] = outputs["L1+cGAN"], scores["L1+cGAN"], logs["L1+cGAN"]
    rf_names = [f"D {RECEPTIVE_FIELDS[n]}px" for n in RF_ABLATION]
    print("Objective (Table 1):")
    viz.show_grid({"input": test_x, **{n: outputs[n] for n in ("L1", "cGAN", "L1+cGAN")}, "target": test_y}, max_rows=5)
    print("Generator (Table 2):")
    viz.show_grid({"input": test_x, "enc-dec": outputs["enc-dec L1+cGAN"], "U-Net": outputs["L1+cGAN"], "target": test_y},
                  max_rows=5)
    print("Discriminator receptive field (Table 3), L1+cGAN:")
    viz.show_grid({"input": test_x, **{n: outputs[n] for n in rf_names}, "target": test_y}, max_rows=5)

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    for i, (key, title) in enumerate((("texture_energy", "texture energy (x real)"), ("l1", "L1 distance to target"))):
        ax = fig.add_subplot(1, 2, i + 1)
        names = ["L1", "cGAN", "L1+cGAN", "enc-dec L1+cGAN"] + [n for n in rf_names if n != main_rf]
        ax.bar(range(len(names)), [scores[n][key] for n in names], color=["C0", "C1", "C2", "C3"] + ["C4"] * (len(names) - 4))
        labels = [f"L1+cGAN (U-Net, {main_rf})" if n == "L1+cGAN" else n for n in names]
        ax.set_xticks(range(len(names)), labels, rotation=30, ha="right", fontsize=8)
        if key == "texture_energy":
            ax.axhline(1.0, color="black", lw=1, ls="--", label="real photos")
            ax.legend(fontsize=8)
        ax.set_title(title)
    viz.show(fig)
    viz.show(plot_energy(["L1", "cGAN", "L1+cGAN", "enc-dec L1+cGAN"] + [n for n in rf_names if n != main_rf]))

# %% [markdown]
# ### Question 2 (3 points)
# What does the PatchGAN assume about images, and why is that assumption reasonable for
# label -> photo translation? Which part of the output does the discriminator take care of and
# which part the L1 term? Use your receptive-field results: what goes wrong with the 1-pixel
# discriminator, and what is the cost of making the field as large as the image?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_patchgan", "points": 3, "schema_version": 3}
# **Model answer.** The PatchGAN assumes the image is a **Markov random field**: pixels farther
# apart than a patch are independent, so realism can be judged patch by patch and averaged;
# it is a texture/style loss (Sec. 3.2.2). That fits label -> photo because the global layout
# is already fixed by the input (and enforced by L1, which gets the low frequencies, the
# layout and average colours, right), while what L1 misses is local, high-frequency structure
# (textures, sharp edges) that a patch of moderate size can judge. A 1x1 (pixel) discriminator
# sees no spatial structure at all: it can only judge the colour of single pixels, so the
# output stays as flat as with L1 alone (the paper: it improves colourfulness but has no effect
# on spatial statistics). A patch-sized field already gives sharp textures. Making the field as
# large as the image adds parameters and depth and makes D harder to train (it must judge the
# whole image from few examples); it does not add quality, and in the paper the 286x286
# "ImageGAN" scores clearly worse in FCN-score than the 70x70 PatchGAN.

# %% [markdown]
# ### Question 3 (2 points)
# Compare the encoder-decoder with the U-Net (both L1 + cGAN). What do the skip connections
# carry, and why does an image-to-image task need them?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_unet", "points": 2, "schema_version": 3}
# **Model answer.** Without skips, all information about the input must pass the bottleneck
# (1x1 spatially at the centre of the network), so the exact positions of edges and small
# regions are lost and the outputs have blurred or misplaced boundaries and smeared details.
# The skip connections hand the decoder, at every resolution, the encoder's features of the
# same resolution: the low-level structure that input and output share (where the edges and
# regions are) bypasses the bottleneck, and the network only has to learn what changes
# (the appearance). In translation tasks input and output are aligned pixel for pixel, so this
# shared structure is most of the information; the paper's Table 2 shows the encoder-decoder
# clearly behind the U-Net with both losses.

# %% [markdown]
# ## 7. The lesson in numbers
# The cell below writes the key numbers to `lesson_metrics.json` (the course's tests check them).

# %%
if not GRADING:
    lesson = {
        "mode": "full" if FULL else "smoke",
        "image_size": IMAGE_SIZE,
        "steps": STEPS,
        "receptive_fields": {f"D {RECEPTIVE_FIELDS[n]}px": n for n in RF_ABLATION},
        "texture_energy": {name: s["texture_energy"] for name, s in scores.items()},
        "texture_energy_final": {name: s["texture_energy_final"] for name, s in scores.items()},
        "texture_energy_per_epoch": {name: log.values for name, log in logs.items()},
        "l1": {name: s["l1"] for name, s in scores.items()},
        "cpu_seconds": time.process_time() - START_CPU,
        "wall_seconds": time.time() - START_WALL,
    }
    with open("lesson_metrics.json", "w") as f:
        json.dump(lesson, f, indent=1)
    print(json.dumps(lesson["texture_energy"], indent=1))
