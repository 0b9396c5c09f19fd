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
# 2. train pix2pix on label maps -> photos with *your* pieces: your blocks build the networks and
#    your losses are plugged into the library trainer (`i2ilab.training.Pix2Pix`);
# 3. reproduce the paper's ablations side by side: **L1 vs cGAN vs L1 + cGAN** (its Table 1),
#    **U-Net vs encoder-decoder** (Table 2) and the **discriminator's receptive field** (Table 3);
# 4. measure why L1 alone blurs: the texture (high-frequency) energy of the outputs;
# 5. explain in writing why L1 blurs and what the PatchGAN assumes about images.
#
# **Grading.** The exercises are autograded: the visible tests below each exercise check shapes,
# parameter counts and simple cases; hidden tests check the property the exercise teaches
# against the library's version (`i2ilab`) on fixed inputs, with tolerances, so any correct way
# of writing it passes, and a failure says which property failed, with the numbers. The
# library's version is there to check yours: an answer that imports, wraps or calls it scores 0
# for that exercise (the test says so). The written questions are graded by hand. While nbgrader
# grades your notebook, the training cells skip themselves, so only the exercises count there.
# The training then uses your pieces: a mistake shows in your own plots.
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
import logging

import keras
import numpy as np
from keras import ops
from matplotlib.figure import Figure

from i2ilab import grading, viz
from i2ilab.notebook import to_numpy

logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no retracing notes from the TensorFlow backend


def trainable_count(model):
    """Number of trainable parameters (the papers' counts leave out BatchNorm's moving statistics)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


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
import i2ilab.layers as _layers

_LIBRARY_UNET_DOWN = (_layers.UNetDown, _layers.ConvBlock, _layers.TorchBatchNormalization, _layers.make_norm)
x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)


def _visible_blocks():
    blocks = {
        "UNetDown(64)": UNetDown(64),
        "outermost": UNetDown(64, outermost=True),
        "innermost": UNetDown(8, innermost=True),
        "norm='none'": UNetDown(8, norm="none"),
    }
    out = {name: to_numpy(b(x, training=False)) for name, b in blocks.items()}
    out["outermost(-x)"] = to_numpy(blocks["outermost"](-x, training=False))
    return blocks, out


blocks, out = grading.own_work("Exercise 1 (UNetDown)", UNetDown, _LIBRARY_UNET_DOWN, run=_visible_blocks)
grading.check(
    out["UNetDown(64)"].shape == (2, 16, 16, 64),
    f"a down block halves H and W: UNetDown(64) of (2, 32, 32, 3) should be (2, 16, 16, 64), got {out['UNetDown(64)'].shape}",
)
_count = trainable_count(blocks["UNetDown(64)"])
grading.check(
    _count == 4 * 4 * 3 * 64 + 2 * 64,
    f"UNetDown(64) on 3 channels: conv 4x4 without bias (3,072) + BatchNorm gamma and beta (128) = 3,200 trainable parameters, got {_count:,}",
)
_count = trainable_count(blocks["outermost"])
grading.check(
    _count == 4 * 4 * 3 * 64,
    f"the outermost block is the convolution alone (no bias in a BatchNorm net): 3,072 trainable parameters, got {_count:,}",
)
grading.assert_close(
    out["outermost(-x)"],
    -out["outermost"],
    "the outermost block has no activation: block(-x) = -block(x)",
    atol=1e-5,
    rtol=1e-4,
)
_count = trainable_count(blocks["innermost"])
grading.check(
    out["innermost"].shape == (2, 16, 16, 8) and _count == 4 * 4 * 3 * 8,
    f"the innermost block has no norm (and no bias): UNetDown(8, innermost=True) gives (2, 16, 16, 8) with 384 trainable parameters, "
    f"got {out['innermost'].shape} with {_count:,}",
)
_count = trainable_count(blocks["norm='none'"])
grading.check(
    _count == 4 * 4 * 3 * 8 + 8, f"with norm='none' the conv has a bias: 392 trainable parameters, got {_count:,}"
)
print("UNetDown: visible tests passed")


### BEGIN HIDDEN TESTS
def _bn_note(block):
    """What the answer's BatchNormalization layers say about momentum and epsilon (for messages)."""
    found = [layer for layer in getattr(block, "layers", []) if isinstance(layer, keras.layers.BatchNormalization)]
    return "".join(
        f"; your BatchNormalization has momentum {layer.momentum:g}, epsilon {layer.epsilon:g}" for layer in found
    )


def _by_role(block):
    return {v.name: v for v in block.weights}


def _compare_unet_down(kwargs, channels, filters):
    """The answer and i2ilab's UNetDown with the same weights: inference where epsilon matters, one
    training call (batch statistics), then the moving statistics (momentum)."""
    rng = np.random.default_rng(21 + channels)
    _x = rng.normal(size=(4, 16, 16, channels)).astype(np.float32)
    ref = _layers.UNetDown(filters, **kwargs)
    ref(_x)
    ref_roles = _by_role(ref)
    values = {}
    for role, v in ref_roles.items():
        shape = tuple(v.shape)
        if role == "kernel":
            values[role] = rng.normal(0.0, 1.0 / np.sqrt(16 * channels), size=shape)
        elif role == "gamma":  # small gamma and small moving variances: the output scale stays ~1
            values[role] = 0.01 * rng.uniform(0.5, 1.5, size=shape)
        elif role == "moving_variance":
            values[role] = 1e-4 * rng.uniform(0.5, 1.5, size=shape)
        else:
            values[role] = rng.normal(0.0, 0.1, size=shape)
    values = {k: v.astype(np.float32) for k, v in values.items()}
    for role, v in ref_roles.items():
        v.assign(values[role])
    ref_infer = to_numpy(ref(_x, training=False))
    ref_train = to_numpy(ref(_x, training=True))
    ref_after = {role: to_numpy(v) for role, v in ref_roles.items() if role.startswith("moving")}

    def run():
        mine = UNetDown(filters, **kwargs)
        mine(_x)
        roles = _by_role(mine)
        got = {role: tuple(v.shape) for role, v in roles.items()}
        want = {role: tuple(v.shape) for role, v in ref_roles.items()}
        grading.check(
            got == want,
            f"UNetDown({filters}, {kwargs}) on {channels} channels: weights (name: shape) should be {want}, got {got}",
        )
        for role, v in roles.items():
            v.assign(values[role])
        infer = to_numpy(mine(_x, training=False))
        train = to_numpy(mine(_x, training=True))
        return mine, infer, train, {role: to_numpy(v) for role, v in roles.items() if role.startswith("moving")}

    mine, infer, train, after = grading.own_work("Exercise 1 (UNetDown)", UNetDown, _LIBRARY_UNET_DOWN, run=run)
    what = f"UNetDown({filters}, **{kwargs})"
    note = _bn_note(mine)
    grading.assert_close(
        infer,
        ref_infer,
        f"{what} in inference mode, same weights as i2ilab's, moving variances about 1e-4 "
        f"(where BatchNormalization's epsilon matters: PyTorch's epsilon=1e-5, Keras' default 1e-3){note}",
        rtol=1e-3,
        atol=1e-3,
    )
    grading.assert_close(
        train, ref_train, f"{what} in training mode (batch statistics; epsilon=1e-5){note}", rtol=1e-3, atol=1e-3
    )
    for role in ref_after:
        # moving = momentum * moving + (1 - momentum) * batch statistic; i2ilab updates the variance with
        # the unbiased batch variance (as PyTorch), Keras' layer with the biased one: 0.4% apart here.
        grading.assert_close(
            after[role],
            ref_after[role],
            f"{what}: {role} after one training call (momentum=0.9 in Keras terms, "
            f"PyTorch's 0.1; Keras' default 0.99 moves it ten times slower){note}",
            rtol=1e-2,
            atol=1e-6,
        )


for _kwargs in ({}, {"outermost": True}, {"innermost": True}, {"norm": "none"}, {"norm": "none", "outermost": True}):
    _compare_unet_down(_kwargs, 5, 7)
_compare_unet_down({}, 3, 16)
### END HIDDEN TESTS

# %% [markdown]
# The generator factories take your block: `unet_generator(..., down_block=UNetDown)` builds the
# U-Net's encoder from your `UNetDown` (it calls `UNetDown(filters, norm=..., outermost=...,
# innermost=...)` for every level; the decoder blocks are the library's `UNetUp`), and so does
# its ablation `encoder_decoder_generator` (same blocks, no skips). At 256x256 the U-Net has
# 54,413,955 parameters, as the reference `unet_256`. Every network this lab trains is built
# this way.

# %%
from i2ilab.models import encoder_decoder_generator, unet_generator


def encoder_blocks(net):
    """The layers of `net` that shrink the image: the U-Net's encoder blocks."""
    return [
        layer
        for layer in net.layers
        if not isinstance(layer.input, list)
        and len(layer.input.shape) == 4
        and layer.output.shape[1] < layer.input.shape[1]
    ]


if not GRADING:
    for factory in (unet_generator, encoder_decoder_generator):
        net = factory(IMAGE_SIZE, ngf=NGF, down_block=UNetDown)
        downs = len(encoder_blocks(net))
        print(
            f"{net.name} with your UNetDown: {trainable_count(net):,} parameters, {downs} down blocks, "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} -> bottleneck {IMAGE_SIZE // 2**downs}x{IMAGE_SIZE // 2**downs}"
        )

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
import i2ilab.models.patchgan as _patchgan


def _fields_without_the_table(layers):
    """receptive_field(n) for each n while the library's table RECEPTIVE_FIELDS holds decoys (-1000 - n)."""
    table = dict(_patchgan.RECEPTIVE_FIELDS)
    _patchgan.RECEPTIVE_FIELDS.update({n: -1000 - n for n in table})
    try:
        fields = [receptive_field(n) for n in layers]
    finally:
        _patchgan.RECEPTIVE_FIELDS.update(table)
    grading.check(
        not any(f == -1000 - n for f, n in zip(fields, layers, strict=True)),
        "Exercise 2 (receptive_field): your answer reads i2ilab.models.RECEPTIVE_FIELDS, the library's table of the "
        "answers. Compute the field yourself: 0 points for this exercise.",
    )
    return fields


_fields = grading.own_work(
    "Exercise 2 (receptive_field)",
    receptive_field,
    _patchgan.receptive_field,
    run=lambda: _fields_without_the_table([3, 0]),
)
grading.check(_fields[0] == 70, f"receptive_field(3): the basic PatchGAN sees 70x70 pixels, got {_fields[0]}")
grading.check(_fields[1] == 1, f"receptive_field(0): the pixel discriminator sees 1 pixel, got {_fields[1]}")
print("receptive_field: visible tests passed")
### BEGIN HIDDEN TESTS
_layers_n = list(range(9))
_fields = grading.own_work(
    "Exercise 2 (receptive_field)",
    receptive_field,
    _patchgan.receptive_field,
    run=lambda: _fields_without_the_table(_layers_n),
)
_expected = [_patchgan.receptive_field(n) for n in _layers_n]
grading.check(
    list(_fields) == _expected,
    f"receptive_field(n) for n = 0..8 (n stride-2 4x4 layers, then two stride-1 4x4 layers; r -> (r - 1) * s + k from the "
    f"logit back): expected {_expected}, got {list(_fields)}",
)
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
import i2ilab.layers as _layers
import i2ilab.models.patchgan as _patchgan

_LIBRARY_PATCHGAN = (
    _patchgan.patch_discriminator,
    _layers.ConvBlock,
    _layers.TorchBatchNormalization,
    _layers.make_norm,
)


def _visible_discriminators():
    d70 = patch_discriminator()
    d16 = patch_discriminator(32, ndf=8, n_layers=1)
    return d70, d16, to_numpy(d16(np.zeros((2, 32, 32, 6), np.float32), training=False))


d70, d16, logits = grading.own_work(
    "Exercise 3 (patch_discriminator)", patch_discriminator, _LIBRARY_PATCHGAN, run=_visible_discriminators
)
grading.check(
    tuple(d70.output.shape) == (None, 30, 30, 1),
    f"256x256 -> 30x30 logits: expected output shape (None, 30, 30, 1), got {tuple(d70.output.shape)}",
)
grading.check(
    trainable_count(d70) == 2_768_705,
    f"the 70x70 PatchGAN has 2,768,705 trainable parameters, got {trainable_count(d70):,}",
)
grading.check(
    logits.shape == (2, 14, 14, 1),
    f"32x32 with n_layers=1 -> 14x14 logits: expected (2, 14, 14, 1), got {logits.shape}",
)
print("patch_discriminator: visible tests passed")


### BEGIN HIDDEN TESTS
def _hidden_discriminators():
    nets = {}
    for n in range(6):
        nets[("counts", n)] = patch_discriminator(None, ndf=8, n_layers=n)
    for n in range(4):
        nets[("shape", n)] = patch_discriminator(64, ndf=8, n_layers=n)
    nets["none"] = patch_discriminator(64, 3, 16, 2, norm="none")
    return nets


_nets = grading.own_work(
    "Exercise 3 (patch_discriminator)", patch_discriminator, _LIBRARY_PATCHGAN, run=_hidden_discriminators
)
for _n in range(6):
    _want = trainable_count(_patchgan.patch_discriminator(None, ndf=8, n_layers=_n))
    _got = trainable_count(_nets[("counts", _n)])
    grading.check(
        _got == _want,
        f"patch_discriminator(ndf=8, n_layers={_n}): {_want:,} trainable parameters expected, got {_got:,}",
    )
for _n in range(4):
    _want = tuple(_patchgan.patch_discriminator(64, ndf=8, n_layers=_n).output.shape)
    _got = tuple(_nets[("shape", _n)].output.shape)
    grading.check(
        _got == _want, f"patch_discriminator(64, ndf=8, n_layers={_n}): output shape {_want} expected, got {_got}"
    )
_want = trainable_count(_patchgan.patch_discriminator(64, 3, 16, 2, norm="none"))
_got = trainable_count(_nets["none"])
grading.check(
    _got == _want,
    f"patch_discriminator(64, 3, 16, 2, norm='none') (every conv with a bias): {_want:,} trainable parameters expected, got {_got:,}",
)


def _same_weights(ref, rng):
    """Weights for ``ref`` (a list in its order): activations stay ~1 with tiny moving variances
    (gamma 0.01, moving variance 1e-4), so BatchNormalization's epsilon matters."""
    values = []
    for v in ref.weights:
        shape = tuple(v.shape)
        if v.name == "kernel":
            values.append(rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), size=shape))
        elif v.name == "gamma":
            values.append(0.01 * rng.uniform(0.5, 1.5, size=shape))
        elif v.name == "moving_variance":
            values.append(1e-4 * rng.uniform(0.5, 1.5, size=shape))
        else:
            values.append(rng.normal(0.0, 0.1, size=shape))
    return [w.astype(np.float32) for w in values]


def _bn_note(model):
    found = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    return (
        f"; your BatchNormalization has momentum {found[0].momentum:g}, epsilon {found[0].epsilon:g}" if found else ""
    )


for _n in (0, 1, 2):
    _rng = np.random.default_rng(22 + _n)
    _ref = _patchgan.patch_discriminator(32, 6, 8, _n)
    _weights = _same_weights(_ref, _rng)
    _ref.set_weights(_weights)
    _x = _rng.normal(size=(2, 32, 32, 6)).astype(np.float32)
    _ref_infer = to_numpy(_ref(_x, training=False))
    _ref_train = to_numpy(_ref(_x, training=True))
    _ref_moving = [to_numpy(v) for v in _ref.weights if v.name.startswith("moving")]

    def _run_numbers():
        mine = patch_discriminator(32, 6, 8, _n)
        got = [(v.name, tuple(v.shape)) for v in mine.weights]
        want = [(v.name, tuple(v.shape)) for v in _ref.weights]
        grading.check(
            [s for _, s in got] == [s for _, s in want],
            f"patch_discriminator(32, 6, 8, n_layers={_n}): weights in layer order (name, shape) should be {want}, got {got}",
        )
        mine.set_weights(_weights)
        infer = to_numpy(mine(_x, training=False))
        train = to_numpy(mine(_x, training=True))
        return mine, infer, train, [to_numpy(v) for v in mine.weights if v.name.startswith("moving")]

    _mine, _infer, _train, _moving = grading.own_work(
        "Exercise 3 (patch_discriminator)", patch_discriminator, _LIBRARY_PATCHGAN, run=_run_numbers
    )
    _note = _bn_note(_mine)
    _what = f"patch_discriminator(32, 6, 8, n_layers={_n})"
    grading.assert_close(
        _infer,
        _ref_infer,
        f"{_what} in inference mode, same weights as i2ilab's, moving variances about 1e-4 (layer order "
        f"conv -> norm -> LeakyReLU(0.2); BatchNormalization epsilon=1e-5, Keras' default 1e-3){_note}",
        rtol=1e-3,
        atol=1e-3,
    )
    grading.assert_close(
        _train, _ref_train, f"{_what} in training mode (batch statistics){_note}", rtol=1e-3, atol=1e-3
    )
    grading.check(
        len(_moving) == len(_ref_moving),
        f"{_what}: {len(_ref_moving) // 2} BatchNormalization layers expected, got {len(_moving) // 2}",
    )
    for _i, (_got, _want) in enumerate(zip(_moving, _ref_moving, strict=True)):
        grading.assert_close(
            _got,
            _want,
            f"{_what}: moving {'mean' if _i % 2 == 0 else 'variance'} of norm layer {_i // 2 + 1} after one "
            f"training call (momentum=0.9 in Keras terms, PyTorch's 0.1; Keras' default 0.99){_note}",
            rtol=3e-2,
            atol=1e-6,
        )
### END HIDDEN TESTS

# %% [markdown]
# The receptive fields of the discriminators this lab trains, measured against the image size:

# %%
from i2ilab.models import RECEPTIVE_FIELDS

for n in RF_ABLATION:
    rf = RECEPTIVE_FIELDS[n]
    scale = "pixel" if rf == 1 else "patch" if rf < IMAGE_SIZE else "whole image (and more)"
    print(
        f"n_layers={n}: {rf:3d}x{rf:<3d} pixels = {min(rf / IMAGE_SIZE, 1):5.1%} of the {IMAGE_SIZE}-pixel width -> {scale}"
    )

# %% [markdown]
# ## 3. The objective: cGAN + lambda * L1
#
# The discriminator D sees the input x with either the real output y or the generated G(x) and
# outputs logits (one per patch). With the non-saturating GAN loss of the paper (binary
# cross-entropy on the logits, $\sigma$ the sigmoid, means over all patches and the batch):
#
# - D minimises $\frac{1}{2}\big[d_{real} + d_{fake}\big]$ with
#   $d_{real} = -\log \sigma(D(x, y))$ (real pairs labelled 1) and
#   $d_{fake} = -\log(1 - \sigma(D(x, G(x))))$ (generated pairs labelled 0), halved "to slow
#   down the rate at which D learns relative to G" (Sec. 3.3);
# - G minimises $g_{GAN} + \lambda \, g_{L1}$ with $g_{GAN} = -\log \sigma(D(x, G(x)))$ (the
#   non-saturating form: G labels its outputs 1, instead of minimising $\log(1 - \sigma)$,
#   whose gradient vanishes exactly when D rejects G's outputs with confidence) and
#   $g_{L1} = \lVert y - G(x) \rVert_1$, a mean over pixels; $\lambda = 100$.
#
# Your two functions return the **terms** ($d_{real}, d_{fake}$ and $g_{GAN}, g_{L1}$), each a
# mean, unweighted: that is the convention of the library trainer (`i2ilab.training.Pix2Pix`),
# which halves the D sum, weights the L1 term with `lambda_l1` and logs the four terms as
# `D_real`, `D_fake`, `G_GAN` and `G_L1`. The training below runs on your functions.
#
# Write them with `keras.ops` on logits; note $-\log \sigma(z) = \mathrm{softplus}(-z)$ and
# $-\log(1 - \sigma(z)) = \mathrm{softplus}(z)$ (numerically safe, unlike `log(sigmoid)`).
#
# ### Exercise 4 (2 points): `discriminator_loss`


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_discriminator_loss", "schema_version": 3}
def discriminator_loss(real_logits, fake_logits):
    """(d_real, d_fake) = (BCE(real_logits, 1), BCE(fake_logits, 0)), each a mean over its logits (not halved)."""
    ### BEGIN SOLUTION
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    return ops.mean(ops.softplus(-real_logits)), ops.mean(ops.softplus(fake_logits))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_discriminator_loss", "points": 2, "schema_version": 3}
import i2ilab.losses as _losses

_LIBRARY_D_LOSS = (_losses.gan_loss, _losses.GANLoss)


def _pair(terms, what):
    grading.check(
        isinstance(terms, (tuple, list)) and len(terms) == 2,
        f"discriminator_loss{what} must return the pair (d_real, d_fake), got {type(terms).__name__} {terms!r:.80}",
    )
    values = [to_numpy(t) for t in terms]
    grading.check(
        all(v.shape == () for v in values),
        f"discriminator_loss{what}: d_real and d_fake are scalars (means), got shapes {[v.shape for v in values]}",
    )
    return [float(v) for v in values]


# Stand-in logits (no networks needed): a D that cannot tell, one that is sure and right, one sure and wrong.
_zero, _sure = np.zeros((2, 4, 4, 1), np.float32), np.full((2, 4, 4, 1), 20.0, np.float32)
_cases = grading.own_work(
    "Exercise 4 (discriminator_loss)",
    discriminator_loss,
    _LIBRARY_D_LOSS,
    run=lambda: [
        discriminator_loss(_zero, _zero),
        discriminator_loss(_sure, -_sure),
        discriminator_loss(-_sure, _sure),
    ],
)
undecided, right, wrong = (
    _pair(c, f" ({name})") for c, name in zip(_cases, ("undecided", "right", "wrong"), strict=True)
)
grading.assert_close(undecided, [np.log(2.0)] * 2, "logits 0 everywhere: d_real = d_fake = log 2 = 0.693", atol=1e-5)
grading.assert_close(
    right, [0.0, 0.0], "real logits +20, fake logits -20 (D sure and right): both terms about 0", atol=1e-6
)
grading.assert_close(
    wrong, [20.0, 20.0], "real logits -20, fake logits +20 (D sure and wrong): both terms about 20", rtol=1e-3
)
print("discriminator_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(23)
_r, _f = _rng.normal(size=(3, 6, 6, 1)).astype(np.float32) * 3, _rng.normal(size=(2, 5, 5, 1)).astype(np.float32) * 3
_big = np.full((1, 2, 2, 1), 200.0, np.float32)
_inputs = {
    "random logits, real (3, 6, 6, 1) and fake (2, 5, 5, 1)": (_r, _f),
    "the same in float64": (_r.astype(np.float64), _f.astype(np.float64)),
    "real logits -200, fake +200 (numerically safe: softplus, not log(sigmoid))": (-_big, _big),
    "real logits +200, fake -200": (_big, -_big),
    "real (3, 6, 6, 1) with fake logits 0 (d_real must not depend on the fake logits)": (_r, np.zeros_like(_f)),
}
_got = grading.own_work(
    "Exercise 4 (discriminator_loss)",
    discriminator_loss,
    _LIBRARY_D_LOSS,
    run=lambda: {k: discriminator_loss(*v) for k, v in _inputs.items()},
)
for _name, (_real, _fake) in _inputs.items():
    _want = [
        float(to_numpy(t))
        for t in _losses.gan_loss("vanilla").d_loss(_real.astype(np.float32), _fake.astype(np.float32))
    ]
    grading.assert_close(
        _pair(_got[_name], f" ({_name})"),
        _want,
        f"(d_real, d_fake) = (mean softplus(-real), mean softplus(fake)), not halved (the trainer halves the sum), for {_name}",
        rtol=1e-5,
        atol=1e-5,
    )
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 5 (2 points): `generator_loss`


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_generator_loss", "schema_version": 3}
def generator_loss(fake_logits, generated, target):
    """(g_gan, g_l1) = (BCE(fake_logits, 1), mean|target - generated|), unweighted (the trainer applies lambda_l1)."""
    ### BEGIN SOLUTION
    gan = ops.mean(ops.softplus(-ops.cast(fake_logits, "float32")))
    l1 = ops.mean(ops.abs(ops.cast(target, "float32") - ops.cast(generated, "float32")))
    return gan, l1
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_generator_loss", "points": 2, "schema_version": 3}
import i2ilab.losses as _losses

_LIBRARY_G_LOSS = (_losses.gan_loss, _losses.GANLoss, _losses.l1_loss)


def _g_pair(terms, what):
    grading.check(
        isinstance(terms, (tuple, list)) and len(terms) == 2,
        f"generator_loss{what} must return the pair (g_gan, g_l1), got {type(terms).__name__} {terms!r:.80}",
    )
    values = [to_numpy(t) for t in terms]
    grading.check(
        all(v.shape == () for v in values),
        f"generator_loss{what}: g_gan and g_l1 are scalars (means), got shapes {[v.shape for v in values]}",
    )
    return [float(v) for v in values]


image = np.zeros((2, 8, 8, 3), np.float32)
_fooled, _undecided = np.full((2, 4, 4, 1), 20.0, np.float32), np.zeros((2, 4, 4, 1), np.float32)
_cases = grading.own_work(
    "Exercise 5 (generator_loss)",
    generator_loss,
    _LIBRARY_G_LOSS,
    run=lambda: [
        generator_loss(_fooled, image, image),
        generator_loss(_fooled, image + 0.5, image),
        generator_loss(_undecided, image, image),
    ],
)
perfect, off, caught = (
    _g_pair(c, f" ({name})") for c, name in zip(_cases, ("perfect", "off", "undecided"), strict=True)
)
grading.assert_close(
    perfect,
    [0.0, 0.0],
    "a perfect output (generated = target) that fools D (logits +20): both terms about 0",
    atol=1e-6,
)
grading.assert_close(off[1], 0.5, "an output 0.5 off everywhere: g_l1 = 0.5 (a mean, unweighted)", rtol=1e-4)
grading.assert_close(caught[0], np.log(2.0), "an undecided D (logits 0): g_gan = log 2 = 0.693", atol=1e-5)
print("generator_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(24)
_f = _rng.normal(size=(2, 5, 5, 1)).astype(np.float32) * 2
_g, _t = (
    _rng.uniform(-1, 1, size=(3, 8, 8, 3)).astype(np.float32),
    _rng.uniform(-1, 1, size=(3, 8, 8, 3)).astype(np.float32),
)
_inputs = {
    "random logits (2, 5, 5, 1) and images (3, 8, 8, 3)": (_f, _g, _t),
    "the same in float64": (_f.astype(np.float64), _g.astype(np.float64), _t.astype(np.float64)),
    "fake logits -200, D sure the output is fake (the non-saturating term is large: softplus(200) = 200)": (
        np.full((1, 2, 2, 1), -200.0, np.float32),
        _g,
        _t,
    ),
    "fake logits +200": (np.full((1, 2, 2, 1), 200.0, np.float32), _g, _g),
}
_got = grading.own_work(
    "Exercise 5 (generator_loss)",
    generator_loss,
    _LIBRARY_G_LOSS,
    run=lambda: {k: generator_loss(*v) for k, v in _inputs.items()},
)
for _name, (_fl, _gen, _tar) in _inputs.items():
    _want = [
        float(to_numpy(_losses.gan_loss("vanilla").g_loss(_fl.astype(np.float32)))),
        float(to_numpy(_losses.l1_loss(_gen.astype(np.float32), _tar.astype(np.float32)))),
    ]
    grading.assert_close(
        _g_pair(_got[_name], f" ({_name})"),
        _want,
        f"(g_gan, g_l1) = (mean softplus(-fake_logits), mean |target - generated|), unweighted, for {_name}",
        rtol=1e-5,
        atol=1e-5,
    )
### END HIDDEN TESTS

# %% [markdown]
# `i2ilab.training.Pix2Pix` computes the two objectives from these terms in its train step, in
# the reference's update order: one generator forward pass, a D step on the real and the
# (detached) fake pair, then a G step against the updated D. Its `gan_mode` argument takes a GAN
# loss object, so your functions plug in (below): `losses.FunctionGANLoss(d_loss, g_loss)` with
# your `discriminator_loss` and the G_GAN term of your `generator_loss`, and `l1_loss=` its G_L1
# term. Its ablations are arguments: `discriminator=None` is L1 alone, `lambda_l1=0` is the cGAN
# alone.

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

    with notebook.full_mode_data():  # offline: one message saying how to run smoke mode
        ROOT = download_dataset("facades", "pix2pix", out=DATA_DIR)
    DIRECTION, TEST_SPLIT = "BtoA", "test"  # facades: A = photo, B = labels
elif not GRADING:
    ROOT = synthetic_root("labels2photo", IMAGE_SIZE, n_train=N_TRAIN)
    DIRECTION, TEST_SPLIT = "AtoB", "test"


def train_dataset():
    """The training pipeline (resize to 286/256 of the size, random crop and flip), batches in a fixed order."""
    return paired_dataset(
        ROOT,
        "train",
        direction=DIRECTION,
        image_size=IMAGE_SIZE,
        load_size=round(IMAGE_SIZE * 286 / 256),
        jitter=True,
        batch_size=BATCH_SIZE,
        shuffle=True,
        seed=SEED,
        drop_remainder=True,
    )


if not GRADING:
    train_ds = train_dataset()
    test_ds = paired_dataset(
        ROOT, TEST_SPLIT, direction=DIRECTION, image_size=IMAGE_SIZE, jitter=False, batch_size=64, shuffle=False
    )
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


# %% tags=["texture-energy"]
def texture_energy(images, labels=None, margin=2):
    """Mean squared high-pass response (image minus its 3x3 mean) over textured pixels, per image set.

    labels: integer maps (N, H, W); only pixels of classes > 0 at least `margin` pixels away from
    another class count (edges are not texture). Without labels every pixel counts.
    """
    images = np.asarray(images, np.float64)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = images.shape[1:3]
    local_mean = sum(padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
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
# One function trains one configuration with the library trainer and **your pieces**: the
# generator built from your `UNetDown` (`down_block=UNetDown`), your `patch_discriminator`,
# your `discriminator_loss` and `generator_loss` plugged into `Pix2Pix`; fresh networks with a
# fixed seed, Adam(2e-4, beta_1 0.5) for both networks (the paper's settings), and a fresh
# pipeline, so that every run sees the same batches. If one of your pieces is wrong, these runs
# (and the plots below) show it.

# %%
from i2ilab import losses
from i2ilab.training import Pix2Pix

_NO_LOGITS = np.zeros((1, 1, 1, 1), np.float32)  # stand-ins for the arguments a term does not use
_NO_IMAGE = np.zeros((1, 1, 1, 1), np.float32)

#: Your losses as the trainer's GAN loss: D_real, D_fake = discriminator_loss(...), G_GAN = the first term of generator_loss.
YOUR_GAN_LOSS = losses.FunctionGANLoss(
    d_loss=discriminator_loss,
    g_loss=lambda fake_logits: generator_loss(fake_logits, _NO_IMAGE, _NO_IMAGE)[0],
    name="lab 2: your discriminator_loss and generator_loss",
)


def your_l1_loss(generated, target):
    """G_L1: the second term of your generator_loss."""
    return generator_loss(_NO_LOGITS, generated, target)[1]


def train_pix2pix(generator="unet", d_layers=D_LAYERS, lambda_l1=LAMBDA_L1, adversarial=True, steps=STEPS):
    """Train one pix2pix configuration from scratch with your pieces; returns the trainer and its texture-energy log."""
    keras.utils.set_random_seed(SEED)
    factory = unet_generator if generator == "unet" else encoder_decoder_generator
    g = factory(IMAGE_SIZE, ngf=NGF, down_block=UNetDown)
    d = patch_discriminator(IMAGE_SIZE, in_channels=6, ndf=NDF, n_layers=d_layers) if adversarial else None
    trainer = Pix2Pix(g, d, lambda_l1=lambda_l1, gan_mode=YOUR_GAN_LOSS, l1_loss=your_l1_loss, seed=SEED)
    trainer.compile()
    log = TextureEnergyLog()
    t0 = time.time()
    history = trainer.fit(
        train_dataset().repeat(),
        steps_per_epoch=steps // EPOCHS,
        epochs=EPOCHS,
        verbose=0,
        callbacks=[log, notebook.EpochLog()],
    )
    print(
        f"{steps} steps in {time.time() - t0:.0f} s; texture energy after each epoch: "
        + ", ".join(f"{v:.2f}" for v in log.values)
    )
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
        print(
            f"{name:>18s}: texture energy {rows[name]['texture_energy']:6.3f} x real (last {LATE} epochs), "
            f"L1 to target {rows[name]['l1']:.3f}"
        )
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
    viz.show_grid(
        {"input": test_x, "enc-dec": outputs["enc-dec L1+cGAN"], "U-Net": outputs["L1+cGAN"], "target": test_y},
        max_rows=5,
    )
    print("Discriminator receptive field (Table 3), L1+cGAN:")
    viz.show_grid({"input": test_x, **{n: outputs[n] for n in rf_names}, "target": test_y}, max_rows=5)

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    for i, (key, title) in enumerate((("texture_energy", "texture energy (x real)"), ("l1", "L1 distance to target"))):
        ax = fig.add_subplot(1, 2, i + 1)
        names = ["L1", "cGAN", "L1+cGAN", "enc-dec L1+cGAN"] + [n for n in rf_names if n != main_rf]
        ax.bar(
            range(len(names)),
            [scores[n][key] for n in names],
            color=["C0", "C1", "C2", "C3"] + ["C4"] * (len(names) - 4),
        )
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
