# %% [markdown]
# # Lab 6: what constrains an unpaired translation?
#
# Without pairs, an adversarial loss only asks that every output *look like* domain B; it says
# nothing about *which* B image an input should become. Every unpaired method adds one more
# assumption, a **prior** on the mapping (Benaim & Wolf 2017 tabulate them):
#
# | method | the prior | networks |
# |---|---|---|
# | GAN alone | none | G, D |
# | CycleGAN (Zhu et al. 2017, Lab 3) | G has an inverse F: $F(G(a)) \approx a$ | G, F, two D |
# | DistanceGAN (Benaim & Wolf 2017) | G keeps the distances between inputs | G, D |
# | CUT (Park, Efros, Zhang & Zhu 2020) | a patch of G(a) tells which patch of a it came from | G, D, a small MLP F |
# | UNIT (Liu et al. 2017) / OST (Benaim & Wolf 2018) | A and B share one latent space | two encoders, two decoders, D |
#
# In this lab you will
#
# 1. write the pieces: DistanceGAN's **distance-preservation** loss, CUT's **PatchNCE** loss
#    (negatives from the same image only) and a measure, **counterpart retrieval**;
# 2. train, with your pieces, four one-way translators on the same unpaired data: a GAN
#    alone, CycleGAN, DistanceGAN and CUT, and compare what each prior buys (how often the
#    output is the input's own counterpart, the translation error) against what it costs
#    (networks, seconds per step);
# 3. in a second part, write the shared-latent "KL" of UNIT and OST and translate from **one**
#    domain-A image with one-shot translation (OST), next to CycleGAN given the same one image;
# 4. explain why each constraint is only a prior, and why CUT needs no second generator.
#
# **Grading.** The exercises are autograded: the visible tests below each exercise check shapes
# and simple cases and say which property failed, with the numbers; hidden tests check the
# property each exercise teaches against the library's (`i2ilab`) implementation on fixed
# inputs, with tolerances, so any correct spelling passes. Write the answers yourself: an answer
# that imports, wraps or calls the library's implementation of its exercise gets 0 points for
# that exercise (the tests say so). The written questions are graded by hand. While nbgrader
# grades your notebook, the training cells skip themselves, so only the exercises count there.
#
# **Modes.** With `I2ILAB_SMOKE=1` (any laptop CPU) the lab uses the built-in synthetic
# `day2night` set (Lab 3's: every test image keeps its true counterpart) at 32x32 and finishes
# in about 5 minutes on two CPU cores. Without it, the lab runs in *full mode*: horse2zebra from
# tensorflow-datasets at 256x256 with the papers' networks, meant for a GPU (tensorflow-datasets
# downloads the 117 MB archive on first use; horse2zebra has no true counterparts, so only the
# costs and the pictures are compared there).

# %%
import os

SMOKE = os.environ.get("I2ILAB_SMOKE") == "1"
GRADING = "NBGRADER_EXECUTION" in os.environ  # nbgrader is grading: skip training and plots
FULL = not (SMOKE or GRADING)

SEED = 0
IMAGE_SIZE = 256 if FULL else 32
LOAD_SIZE = 286 if FULL else None  # full mode: resize to 286, random 256 crop and flip
BATCH_SIZE = 1 if FULL else 4  # DistanceGAN needs 2 or more: full mode uses 2 for it
NGF = 64 if FULL else 16  # generator width (the papers: 64)
N_BLOCKS = 9 if FULL else 3  # residual blocks of every generator
NDF = 64 if FULL else 16  # discriminator width
N_LAYERS = 3 if FULL else 2  # PatchGAN depth
NUM_PATCHES = 256 if FULL else 64  # CUT: patches per NCE layer and image (the paper: 256)
LEARNING_RATE = 2e-4  # the papers' rate (Adam, betas 0.5 and 0.999)
STEPS = 40000 if FULL else 600  # training steps per model
EPOCHS = 4 if FULL else 3  # progress lines per model
OST_STEPS = (20000, 5000) if FULL else (300, 300)  # OST: the B autoencoder, then the one-shot phase
N_TEST = 64  # held-out images per domain used for the numbers
FULL_DATASET = "cycle_gan/horse2zebra"
TFDS_DIR = os.environ.get("I2ILAB_TFDS_DIR")  # None: tensorflow-datasets' default (~/tensorflow_datasets)

# %% [markdown]
# ## 0. Setup
# `notebook.start` starts the backend (its start-up log lines are kept, not printed), seeds
# everything and prints one line.

# %% nbgrader={"grade": false, "solution": false, "locked": true, "grade_id": "setup", "schema_version": 3} tags=["setup"]
import json
import time

from i2ilab import notebook

START_CPU, START_WALL = time.process_time(), time.time()
notebook.start(seed=SEED, mode="full" if FULL else "smoke", image_size=IMAGE_SIZE)

import keras
import numpy as np
from keras import ops
from matplotlib.figure import Figure

from i2ilab import grading, viz
from i2ilab.notebook import to_numpy

# %% [markdown]
# ## 1. Keeping distances (DistanceGAN)
#
# Benaim & Wolf (2017, Sec. 3) observed that a good translator keeps the *distances* between
# images: two day scenes that are alike become two night scenes that are alike. Their loss
# compares the pairwise distances within a batch of inputs with those between the outputs.
# With $d(x, y) = \operatorname{mean}|x - y|$ (over pixels and channels) and each domain's
# distances standardised by their mean $\mu$ and standard deviation $\sigma$ over the
# training set (the two domains' distances have different scales):
#
# $$\mathcal{L}_{dist} = \frac{1}{\#\{i<j\}} \sum_{i<j} \left| \frac{d(x_i, x_j) - \mu_A}{\sigma_A}
#    - \frac{d(G(x_i), G(x_j)) - \mu_B}{\sigma_B} \right|$$
#
# The inputs use the *source* domain's statistics, the outputs the *target* domain's.
#
# ### Exercise 1 (3 points): `distance_loss`
# `source` (B, H, W, C) images, `translated` (B, H', W', C') their translations (B >= 2),
# `source_stats` and `target_stats` pairs `(mu, sigma)`; return the loss above, a float32
# scalar, over the pairs i < j only (the distance of an image to itself says nothing). Use
# `keras.ops`: the DistanceGAN trainer of Section 5 calls your function inside its compiled step.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_distance", "schema_version": 3}
def distance_loss(source, translated, source_stats, target_stats):
    """mean over pairs i < j of |standardised d(x_i, x_j) - standardised d(G(x_i), G(x_j))| (float32)."""

    ### BEGIN SOLUTION
    def distances(x):
        flat = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], -1))
        return ops.mean(ops.abs(flat[:, None, :] - flat[None, :, :]), axis=-1)

    (mu_s, sigma_s), (mu_t, sigma_t) = source_stats, target_stats
    gap = ops.abs((distances(source) - mu_s) / sigma_s - (distances(translated) - mu_t) / sigma_t)
    n = ops.shape(gap)[0]
    upper = ops.cast(ops.arange(n)[:, None] < ops.arange(n)[None, :], "float32")
    return ops.sum(upper * gap) / ops.sum(upper)
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_distance", "points": 3, "schema_version": 3}
from i2ilab import losses as _losses

flat_test = np.stack([np.full((2, 2, 1), v, np.float32) for v in (0.0, 0.5, 1.0)])  # d = 0.5, 1.0, 0.5
grading.own_work(
    "Exercise 1 (distance_loss)",
    distance_loss,
    (_losses.normalized_distance_loss, _losses.pairwise_distances),
    run=lambda: distance_loss(flat_test, flat_test, (0.0, 1.0), (0.0, 1.0)),
)
grading.assert_close(
    distance_loss(flat_test, flat_test, (0.3, 0.2), (0.3, 0.2)), 0.0, "distance_loss when G is the identity"
)
grading.assert_close(
    distance_loss(flat_test, 2.0 * flat_test, (0.0, 1.0), (0.0, 1.0)),
    (0.5 + 1.0 + 0.5) / 3,
    "distance_loss of 3 flat images and their doubles, stats (0, 1): mean |d - 2d| over the 3 pairs",
)
grading.assert_close(
    distance_loss(flat_test, 2.0 * flat_test, (0.0, 1.0), (0.0, 2.0)),
    0.0,
    "distance_loss when the target's sigma is twice the source's and G doubles every distance",
)
grading.assert_close(
    distance_loss(flat_test[:2], flat_test[:2] * 0.0, (0.5, 1.0), (0.0, 1.0)),
    0.0,
    "distance_loss of 2 images at distance 0.5 (source mu 0.5) mapped to one image (target mu 0)",
)
print("distance_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(61)
for _n, _shape in ((2, (4, 4, 3)), (4, (6, 6, 3)), (5, (3, 5, 1))):
    _x = _rng.uniform(-1, 1, (_n, *_shape)).astype(np.float32)
    _y = np.tanh(2.0 * _x + _rng.normal(0.0, 0.3, _x.shape)).astype(np.float32)
    grading.assert_close(
        distance_loss(_x, _y, (0.4, 0.1), (0.6, 0.2)),
        _losses.normalized_distance_loss(_x, _y, (0.4, 0.1), (0.6, 0.2)),
        f"distance_loss of a batch of {_n} random images {_shape} and noisy translations, stats (0.4, 0.1), (0.6, 0.2)",
        rtol=1e-5,
    )
_y3 = _rng.uniform(-1, 1, (3, 2, 2, 3)).astype(np.float32)
grading.assert_close(
    distance_loss(_y3, _y3[:, ::-1], (0.5, 0.3), (0.2, 0.1)),
    _losses.normalized_distance_loss(_y3, _y3[:, ::-1], (0.5, 0.3), (0.2, 0.1)),
    "distance_loss with different source and target statistics (the outputs use the target's)",
    rtol=1e-5,
)
grading.assert_close(
    distance_loss(_y3, _y3[:, :1], (0.5, 0.3), (0.2, 0.1)),
    _losses.normalized_distance_loss(_y3, _y3[:, :1], (0.5, 0.3), (0.2, 0.1)),
    "distance_loss when the translations have another shape than the inputs (3, 1, 2, 3)",
    rtol=1e-5,
)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Patches that know where they came from (CUT)
#
# CUT (Park et al. 2020, Sec. 3.1) asks that a patch of the output G(a) be recognisable as the
# patch of the input a *at the same place*, among the other patches of a: a contrastive
# (InfoNCE) task. G's features at a few layers, read at P random positions and projected by a
# small MLP F to unit vectors, give for each image b a query $q_i$ per output patch and a key
# $k_i$ per input patch. With temperature $\tau = 0.07$, the loss of query $i$ is
#
# $$\ell_i = -\log \frac{\exp(q_i \cdot k_i / \tau)}{\exp(q_i \cdot k_i / \tau) + \sum_{j \ne i} \exp(q_i \cdot k_j / \tau)},$$
#
# a P-way classification whose right answer is $k_i$ (eq. 2). Two details of the authors' code
# matter:
# - the negatives $k_j$ are the other patches **of the same image** only, never patches of the
#   other images in the batch (Park et al. Sec. 3.1: internal negatives work better);
# - the keys are **constants**: the gradient flows through the queries only (`ops.stop_gradient`).
#
# ### Exercise 2 (3 points): `patch_nce_loss`
# `feat_q`, `feat_k` (B * P, D): the projected queries and keys, rows image-major (row
# b * P + i is patch i of image b); `batch_size`: B. Return the B * P losses $\ell_i$, shape
# (B * P,), float32. `ops.logsumexp` computes $\log \sum \exp$ stably; a large negative number
# in place of $q_i \cdot k_i$ among the negatives removes it. The CUT trainer of Section 5
# calls your function at every NCE layer.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_nce", "schema_version": 3}
def patch_nce_loss(feat_q, feat_k, batch_size, nce_t=0.07):
    """PatchNCE per patch: (B * P, D) queries and keys -> (B * P,) losses; negatives from the same image."""
    ### BEGIN SOLUTION
    q = ops.cast(feat_q, "float32")
    k = ops.stop_gradient(ops.cast(feat_k, "float32"))
    dim = ops.shape(q)[-1]
    qb = ops.reshape(q, (batch_size, -1, dim))
    kb = ops.reshape(k, (batch_size, -1, dim))
    logits = ops.einsum("bnd,bmd->bnm", qb, kb) / nce_t  # (B, P, P): query n against key m
    positive = ops.diagonal(logits, axis1=1, axis2=2)  # (B, P)
    return ops.reshape(ops.logsumexp(logits, axis=-1) - positive, (-1,))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_nce", "points": 3, "schema_version": 3}
from i2ilab.training import backend as _shim


def _unit_rows(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


eye_test = np.eye(3, dtype=np.float32)  # 3 orthonormal patches of one image
grading.own_work(
    "Exercise 2 (patch_nce_loss)",
    patch_nce_loss,
    (_losses.patch_nce_loss, _losses.patch_nce_term),
    run=lambda: patch_nce_loss(eye_test, eye_test, 1),
)
loss_test = to_numpy(patch_nce_loss(eye_test, eye_test, 1))
grading.check(loss_test.shape == (3,), f"patch_nce_loss of 1 image x 3 patches returns 3 losses, got {loss_test.shape}")
grading.assert_close(
    loss_test,
    np.full(3, np.log(1.0 + 2.0 * np.exp(-1.0 / 0.07))),
    "patch_nce_loss of 3 orthonormal patches matching their keys: log(1 + 2 exp(-1/t))",
)
grading.assert_close(
    to_numpy(patch_nce_loss(eye_test, eye_test[[1, 2, 0]], 1, nce_t=1.0)),
    np.full(3, np.log(2.0 + np.e)),
    "patch_nce_loss (t = 1) when each query's key is another patch (and one negative matches): log(2 + e)",
)
two_test = np.concatenate([eye_test, eye_test])  # 2 images x 3 patches, the same patches
grading.assert_close(
    to_numpy(patch_nce_loss(two_test, two_test, 2)),
    np.full(6, np.log(1.0 + 2.0 * np.exp(-1.0 / 0.07))),
    "patch_nce_loss of 2 images with equal patches: the other image's patches are not negatives",
)
print("patch_nce_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(62)
for _b, _p, _d, _t in ((2, 5, 8, 0.07), (1, 7, 4, 0.07), (3, 4, 16, 0.2)):
    _q = _unit_rows(_rng.normal(size=(_b * _p, _d)))
    _k = _unit_rows(_q + 0.5 * _rng.normal(size=_q.shape))
    grading.assert_close(
        patch_nce_loss(_q, _k, _b, _t),
        _losses.patch_nce_loss(_q, _k, _b, _t),
        f"patch_nce_loss of {_b} image(s) x {_p} random unit patches (D {_d}, t {_t})",
        rtol=1e-4,
        atol=1e-5,
    )
_q = _unit_rows(_rng.normal(size=(6, 8)))
_k = _unit_rows(_rng.normal(size=(6, 8)))
_kq, _kk = keras.Variable(_q), keras.Variable(_k)
_, _, (_gq, _gk), _ = _shim.value_and_grad(lambda: (ops.mean(patch_nce_loss(_kq, _kk, 2)), ()), [_kq, _kk])
_gq_ref = to_numpy(_shim.value_and_grad(lambda: (ops.mean(_losses.patch_nce_loss(_kq, _kk, 2)), ()), [_kq])[2][0])
grading.assert_close(_gk, np.zeros_like(_k), "the gradient of patch_nce_loss w.r.t. the keys (constants: 0)")
grading.assert_close(_gq, _gq_ref, "the gradient of patch_nce_loss w.r.t. the queries", rtol=1e-4, atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Is the output the input's own counterpart?
#
# The `day2night` set renders every scene twice, by day (A) and by night (B), so every test
# image a has its **true counterpart** b* (Lab 3). Besides the translation error
# mean|G(a) - b*|, we ask a sharper question: among the N true night images of the test set,
# is the one nearest to G(a) (mean absolute difference) a's own? The share of test images for
# which it is, the **counterpart retrieval**, is 1 for a perfect translator and about 1/N for
# one whose outputs are good-looking night scenes unrelated to their inputs.
#
# ### Exercise 3 (2 points): `counterpart_retrieval`
# `outputs` and `truths` (N, H, W, C) in [-1, 1], row i of `truths` the counterpart of row i of
# `outputs`; return the share (a float) of outputs whose nearest truth is their own.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_retrieval", "schema_version": 3}
def counterpart_retrieval(outputs, truths):
    """outputs, truths (N, H, W, C) -> share of outputs whose nearest truth (mean L1) is their own (float)."""
    ### BEGIN SOLUTION
    outputs = np.asarray(outputs, np.float64)
    truths = np.asarray(truths, np.float64)
    distances = np.abs(outputs[:, None] - truths[None]).mean(axis=(2, 3, 4))  # (outputs, truths)
    return float((distances.argmin(axis=1) == np.arange(len(outputs))).mean())
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_retrieval", "points": 2, "schema_version": 3}
from i2ilab import metrics as _metrics

levels_test = np.stack([np.full((2, 2, 3), v, np.float32) for v in (-0.9, -0.3, 0.3, 0.9)])
grading.own_work(
    "Exercise 3 (counterpart_retrieval)",
    counterpart_retrieval,
    _metrics.counterpart_retrieval,
    run=lambda: counterpart_retrieval(levels_test, levels_test),
)
grading.assert_close(counterpart_retrieval(levels_test, levels_test), 1.0, "retrieval of the truths themselves")
grading.assert_close(
    counterpart_retrieval(levels_test[::-1], levels_test), 0.0, "retrieval of the truths in reverse order"
)
grading.assert_close(
    counterpart_retrieval(levels_test[[0, 0, 2, 3]] + 0.1, levels_test),
    0.75,
    "retrieval when output 1 is a copy of output 0 (3 of 4 right)",
)
print("counterpart_retrieval: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(63)
_truths = _rng.uniform(-1, 1, (12, 4, 4, 3)).astype(np.float32)
for _noise in (0.2, 0.6, 1.2):
    _outs = np.clip(_truths + _rng.normal(0.0, _noise, _truths.shape), -1, 1).astype(np.float32)
    grading.assert_close(
        counterpart_retrieval(_outs, _truths),
        _metrics.counterpart_retrieval(_outs, _truths),
        f"retrieval of 12 noisy copies (noise {_noise}) of random truths",
    )
_collapsed = np.repeat(_truths[:1], 12, axis=0) + 0.05  # every output near truth 0: 1 of 12 right
grading.assert_close(
    counterpart_retrieval(_collapsed, _truths),
    _metrics.counterpart_retrieval(_collapsed, _truths),
    "retrieval of 12 outputs that are all near truth 0 (a collapse)",
)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The data
#
# Lab 3's `day2night`: random scenes (sky, ground, squares, circles, triangles) in a day
# palette (A) and a night palette (B), used *unpaired* for training; the test images keep their
# true counterparts (`testA_true/`). DistanceGAN's statistics ($\mu$, $\sigma$ of each domain's
# pairwise distances) are estimated once from the training images, as the authors do.

# %% tags=["data-pipeline"]
from i2ilab.data import synthetic_root, tfds_unpaired, unpaired_dataset
from i2ilab.data.synthetic import load_images
from i2ilab.training.distancegan import distance_statistics

if FULL:
    with notebook.full_mode_data():  # offline: one message saying how to run smoke mode
        train_ds = tfds_unpaired(
            FULL_DATASET,
            split="train",
            data_dir=TFDS_DIR,
            image_size=IMAGE_SIZE,
            load_size=LOAD_SIZE,
            batch_size=2,  # DistanceGAN's batch (the others take its first pair apart below)
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
    true_b = None  # horse2zebra has no true counterparts
    # The authors estimate the statistics from the first 900 pairs of training batches; 200
    # images per domain (100 pairs) keep the arrays small here.
    first = [to_numpy(t) for t in next(iter(train_ds.unbatch().batch(200)))]
    stats_a, stats_b = (distance_statistics(x, group=2) for x in first)
elif not GRADING:
    ROOT = synthetic_root("day2night", IMAGE_SIZE)
    train_ds = unpaired_dataset(
        ROOT, image_size=IMAGE_SIZE, jitter=False, batch_size=BATCH_SIZE, seed=SEED, drop_remainder=True
    )
    test_a, test_b = load_images(ROOT, "testA")[:N_TEST], load_images(ROOT, "testB")[:N_TEST]
    true_b = load_images(ROOT, "testA_true")[:N_TEST]
    stats_a = distance_statistics(load_images(ROOT, "trainA"))
    stats_b = distance_statistics(load_images(ROOT, "trainB"))
if not GRADING:
    print(f"test images: A {test_a.shape}, B {test_b.shape}; distance statistics A {stats_a}, B {stats_b}")
    columns = {"A (test)": test_a, "B (test)": test_b}
    if true_b is not None:
        columns = {"A (test)": test_a, "true A -> B": true_b, "B (test)": test_b}
    viz.show_grid(columns, max_rows=3)

# %% [markdown]
# ## 5. Four translators, four priors
#
# All four translate A -> B with the same kind of generator (a ResNet, `N_BLOCKS` residual
# blocks; CUT's is the authors' anti-aliased one) and a PatchGAN discriminator, from the same
# seed, for the same number of steps, with the LSGAN loss:
#
# | model | trainer | what you wrote |
# |---|---|---|
# | GAN alone | `DistanceGAN` with the distance weight 0 | |
# | CycleGAN | `CycleGAN` (also trains F: B -> A and D_A), no identity loss | |
# | DistanceGAN | `DistanceGAN`, one-sided (Benaim & Wolf's A -> B model) | `distance_loss` |
# | CUT | `CUT` (NCE on a and on b, the authors' default) | `patch_nce_loss` |
#
# Each model adds exactly one prior to the GAN: CycleGAN runs without its identity loss (a
# second prior, "G is the identity on B", Lab 3), and DistanceGAN uses CycleGAN's generator (the
# authors' variant pads with zeros and has an affine instance norm, 11,388,675 parameters at
# 256x256, against 11,378,179) so that the two differ in their loss only.
#
# Smoke mode: 16 channels, 3 residual blocks, 600 steps of batch 4 each, from about 15 s (GAN
# alone, DistanceGAN) to about a minute (CycleGAN, CUT) on two CPU cores. `EpochLog` keeps the
# seconds of each epoch; the cost table uses the epochs after the first (which compiles).

# %% tags=["build-models"]
from i2ilab.models import cut_discriminator, cut_generator, patch_discriminator, resnet_generator
from i2ilab.training import CUT, CycleGAN, DistanceGAN, default_adam

MODELS = ("GAN alone", "CycleGAN", "DistanceGAN", "CUT")


def _resnet(name):
    return resnet_generator(IMAGE_SIZE, ngf=NGF, n_blocks=N_BLOCKS, name=name)


def _patch_d(name):
    return patch_discriminator(IMAGE_SIZE, 3, ndf=NDF, n_layers=N_LAYERS, norm="instance", name=name)


def build(model):
    """A fresh, compiled trainer (fixed seed) of one of MODELS, made of your pieces."""
    keras.utils.set_random_seed(SEED)
    if model == "CycleGAN":
        trainer = CycleGAN(
            _resnet("g_ab"), _resnet("g_ba"), _patch_d("d_a"), _patch_d("d_b"), lambda_identity=0.0, seed=SEED
        )
    elif model == "CUT":
        trainer = CUT(
            cut_generator(IMAGE_SIZE, ngf=NGF, n_blocks=N_BLOCKS, name="generator"),
            cut_discriminator(IMAGE_SIZE, ndf=NDF, n_layers=N_LAYERS, name="discriminator"),
            num_patches=NUM_PATCHES,
            seed=SEED,
            nce_loss=patch_nce_loss,  # your Exercise 2
        )
    else:
        trainer = DistanceGAN(
            _resnet("g_ab"),
            _patch_d("d_b"),
            stats_a,
            stats_b,
            lambda_distance_a=1.0 if model == "DistanceGAN" else 0.0,
            seed=SEED,
            image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
            distance_loss=distance_loss,  # your Exercise 1
        )
    trainer.compile(g_optimizer=default_adam(LEARNING_RATE), d_optimizer=default_adam(LEARNING_RATE))
    return trainer


def training_data(model):
    """Batches of BATCH_SIZE (full mode: DistanceGAN pairs, the other models one image of each)."""
    if FULL and model != "DistanceGAN":
        return train_ds.unbatch().batch(BATCH_SIZE, drop_remainder=True)
    return train_ds


def train(trainer, data, steps):
    """Fit for ``steps`` steps (one line per epoch); returns the EpochLog (its ``seconds``)."""
    t0 = time.time()
    log = notebook.EpochLog()
    trainer.fit(data.repeat(), steps_per_epoch=steps // EPOCHS, epochs=EPOCHS, verbose=0, callbacks=[log])
    print(f"trained in {time.time() - t0:.0f} s")
    return log


# %%
if GRADING:
    print("nbgrader is grading: training skipped")
else:
    models, logs = {}, {}
    for model in MODELS:
        print(f"--- {model}")
        models[model] = build(model)
        logs[model] = train(models[model], training_data(model), STEPS)

# %% [markdown]
# ## 6. The translations
#
# Columns: the day input, its true night counterpart, then each model's output.

# %%
if not GRADING:
    outputs = {model: trainer.translate(test_a) for model, trainer in models.items()}
    columns = {"A (input)": test_a[:6]}
    if true_b is not None:
        columns["true B"] = true_b[:6]
    viz.show_grid({**columns, **{model: out[:6] for model, out in outputs.items()}}, max_rows=6)

# %% [markdown]
# ## 7. What each prior buys, and what it costs
#
# For every model: counterpart retrieval (your Exercise 3; chance is 1/64), the translation
# error, the parameters of everything it trains, and the seconds per training step (the median
# epoch after the first, on this machine). Two baselines without any training: the identity
# (output = input) and the mean night image (the same output for every input).
#
# A GAN's path depends on every rounding of the machine it runs on, so your numbers will not be
# your neighbour's. Over four seeds of this smoke run (two CPU cores) the retrieval was 0.02-0.16
# for the GAN alone, 0.48-0.72 for CycleGAN, 0.28-0.42 for DistanceGAN and 0.03-0.48 for CUT:
# the cycle and the distances tie the output to its input on every run, CUT's patches only on
# some. Its prior works through features it has to learn first (F starts random, and G's own
# encoder is what it compares), so 600 small steps are not always enough; the authors train
# for 400 epochs.


# %%
def cost(model):
    trainer, seconds = models[model], logs[model].seconds
    step = float(np.median(seconds[1:] if len(seconds) > 1 else seconds)) / (STEPS // EPOCHS)
    return {"parameters": int(sum(n.count_params() for n in trainer.networks.values())), "seconds per step": step}


if not GRADING:
    numbers = {}
    for model, out in outputs.items():
        row = {}
        if true_b is not None:
            row = {
                "counterpart retrieval": counterpart_retrieval(out, true_b),  # your Exercise 3
                "translation error": float(np.abs(out - true_b).mean()),
            }
        numbers[model] = {**row, **cost(model)}
    if true_b is not None:
        numbers["identity (no training)"] = {
            "counterpart retrieval": counterpart_retrieval(test_a, true_b),
            "translation error": float(np.abs(test_a - true_b).mean()),
        }
        mean_night = np.repeat(true_b.mean(axis=0, keepdims=True), len(true_b), axis=0)
        numbers["mean night image"] = {
            "counterpart retrieval": counterpart_retrieval(mean_night, true_b),
            "translation error": float(np.abs(mean_night - true_b).mean()),
        }
    keys = list(numbers[MODELS[0]])
    print(f"{'':>24s}" + "".join(f"{k:>24s}" for k in keys))
    for model, row in numbers.items():
        print(f"{model:>24s}" + "".join(f"{row[k]:24.4g}" if k in row else f"{'':>24s}" for k in keys))
    if true_b is not None:
        fig = Figure(figsize=(5.5, 4), layout="constrained")
        ax = fig.add_subplot(1, 1, 1)
        for k, model in enumerate(MODELS):
            row = numbers[model]
            ax.scatter(row["seconds per step"] * 1000, row["counterpart retrieval"], s=80, color=f"C{k}", label=model)
        ax.axhline(1.0 / len(true_b), color="grey", linestyle=":", label="chance")
        ax.set(
            xlabel="milliseconds per step", ylabel="counterpart retrieval", title="What each prior buys, at what cost"
        )
        ax.legend(fontsize=8)
        viz.show(fig)

# %% [markdown]
# ## 8. Part 2: one-shot translation (OST)
#
# What if domain A has **one** image? Benaim & Wolf (2018) train, in phase 1, an autoencoder
# of the many B images, $\mathrm{Dec}_B(\mathrm{Dec}_S(\mathrm{Enc}_S(\mathrm{Enc}_B(b))))$,
# whose middle layers (the shared encoder and decoder, most of the network) become shared
# between the domains. In phase 2 the single image a gets its own thin encoder and decoder
# $\mathrm{Enc}_A$, $\mathrm{Dec}_A$ around the same shared layers; a -> B swaps in Dec_B. The
# A-side losses (GAN, cycle, A reconstruction) train **only** Enc_A and Dec_A: the shared
# layers keep learning B alone, so a single image cannot pull them away from B's features.
# UNIT (Liu et al. 2017) shares a latent space the same way, with both domains large.
#
# Both OST and UNIT keep the latent code h near 0 with a "KL" term: their encoder's posterior
# is a Gaussian with mean h and unit variance, and its KL divergence to $\mathcal N(0, I)$ is,
# up to a constant, proportional to $\sum h^2$; the authors' code uses the **mean** of $h^2$
# over all elements (weight 0.1 in OST, 0.01 in UNIT).
#
# ### Exercise 4 (1 point): `shared_latent_kl`
# h: a latent code of any shape, e.g. (B, h, w, C); return mean(h^2) as a float32 scalar. The
# OST trainer below uses yours in both phases.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_kl", "schema_version": 3}
def shared_latent_kl(h):
    """mean(h^2) over all elements of the code h (float32 scalar)."""
    ### BEGIN SOLUTION
    return ops.mean(ops.square(ops.cast(h, "float32")))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_kl", "points": 1, "schema_version": 3}
grading.own_work(
    "Exercise 4 (shared_latent_kl)",
    shared_latent_kl,
    _losses.unit_kl_loss,
    run=lambda: shared_latent_kl(np.ones((2, 3), np.float32)),
)
grading.assert_close(shared_latent_kl(np.zeros((2, 4, 4, 8), np.float32)), 0.0, "shared_latent_kl of a zero code")
grading.assert_close(
    shared_latent_kl(np.array([[1.0, -2.0], [0.0, 3.0]], np.float32)), 3.5, "shared_latent_kl of [[1, -2], [0, 3]]"
)
print("shared_latent_kl: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(64)
for _shape in ((3, 4, 4, 16), (1, 8, 8, 4), (5, 7)):
    _h = _rng.normal(0.0, 2.0, _shape).astype(np.float32)
    grading.assert_close(
        shared_latent_kl(_h), _losses.unit_kl_loss(_h), f"shared_latent_kl of a random code {_shape}", rtol=1e-5
    )
### END HIDDEN TESTS

# %% [markdown]
# The one A image is the first test image (so its true counterpart is known); phase 2 sees it,
# randomly flipped, in every batch, next to the B images. For comparison, CycleGAN gets the
# same one A image (and all of B) for the same number of steps. Smoke mode: OST's shared layers
# have 64 channels and 2 residual blocks each, 300 steps per phase.

# %% tags=["ost"]
import tensorflow as tf

from i2ilab.models import ost_decoder, ost_encoder, ost_shared
from i2ilab.training import OneShot

OST_CHANNELS = 4 * NGF  # the code's channels: ngf * 2**n_downsampling
OST_BLOCKS = 6 if FULL else 2  # residual blocks of the shared encoder and of the shared decoder


def one_shot_data(image):
    """(the one A image, randomly flipped, BATCH_SIZE times; a batch of B images)."""
    one = tf.constant(image[None])
    return train_ds.map(
        lambda a, b: (tf.image.random_flip_left_right(tf.repeat(one, tf.shape(b)[0], axis=0), seed=SEED), b)
    )


def build_ost():
    """Phase 1 (the B autoencoder) and a function that makes phase 2 from its networks."""
    keras.utils.set_random_seed(SEED)
    code = IMAGE_SIZE // 4
    b_side = dict(
        enc_b=ost_encoder(IMAGE_SIZE, ngf=NGF, name="enc_b"),
        enc_shared=ost_shared(code, channels=OST_CHANNELS, n_blocks=OST_BLOCKS, name="enc_shared"),
        dec_shared=ost_shared(code, channels=OST_CHANNELS, n_blocks=OST_BLOCKS, name="dec_shared"),
        dec_b=ost_decoder(code, ngf=NGF, name="dec_b"),
    )
    phase1 = OneShot(**b_side, d_b=_patch_d("d_b"), phase="autoencoder", seed=SEED, kl_loss=shared_latent_kl)
    phase1.compile(g_optimizer=default_adam(LEARNING_RATE), d_optimizer=default_adam(LEARNING_RATE))

    def phase2():
        trainer = OneShot(
            **b_side,
            d_b=_patch_d("d_b2"),  # a fresh discriminator, as the reference
            enc_a=ost_encoder(IMAGE_SIZE, ngf=NGF, name="enc_a"),
            dec_a=ost_decoder(code, ngf=NGF, name="dec_a"),
            phase="ost",
            seed=SEED,
            kl_loss=shared_latent_kl,  # your Exercise 4
        )
        trainer.compile(g_optimizer=default_adam(LEARNING_RATE), d_optimizer=default_adam(LEARNING_RATE))
        return trainer

    return phase1, phase2


if GRADING:
    print("nbgrader is grading: training skipped")
else:
    one_a = test_a[0]
    one_ds = one_shot_data(one_a)
    print("--- OST phase 1: the B autoencoder")
    ost_phase1, make_phase2 = build_ost()
    train(ost_phase1, train_ds, OST_STEPS[0])
    print("--- OST phase 2: from one A image")
    ost = make_phase2()
    train(ost, one_ds, OST_STEPS[1])
    print("--- CycleGAN from the same one A image")
    one_cyclegan = build("CycleGAN")
    train(one_cyclegan, one_ds, OST_STEPS[1])

# %% [markdown]
# The one image, its true counterpart, and both translations of it; then the other test images
# through the same two translators (neither saw them).

# %%
if not GRADING:
    one_outputs = {"OST": ost.translate(one_a[None])[0], "CycleGAN (one A)": one_cyclegan.translate(one_a[None])[0]}
    columns = {"the one A": one_a[None]}
    if true_b is not None:
        columns["true B"] = true_b[:1]
    viz.show_grid({**columns, **{k: v[None] for k, v in one_outputs.items()}}, max_rows=1)
    others = {"OST": ost.translate(test_a[1:7]), "CycleGAN (one A)": one_cyclegan.translate(test_a[1:7])}
    viz.show_grid({"other A": test_a[1:7], **({"true B": true_b[1:7]} if true_b is not None else {}), **others})
    ost_numbers = {}
    if true_b is not None:
        ost_numbers = {
            name: {
                "error on the one image": float(np.abs(out - true_b[0]).mean()),
                "error on the other test images": float(np.abs(translator.translate(test_a[1:]) - true_b[1:]).mean()),
            }
            for (name, out), translator in zip(one_outputs.items(), (ost, one_cyclegan), strict=True)
        }
        ost_numbers["identity (no training)"] = {
            "error on the one image": float(np.abs(one_a - true_b[0]).mean()),
            "error on the other test images": float(np.abs(test_a[1:] - true_b[1:]).mean()),
        }
        ost_numbers["CycleGAN (all of A)"] = {
            "error on the one image": float(np.abs(outputs["CycleGAN"][0] - true_b[0]).mean()),
            "error on the other test images": float(np.abs(outputs["CycleGAN"][1:] - true_b[1:]).mean()),
        }
        for name, row in ost_numbers.items():
            print(f"{name:>24s}" + "".join(f"  {k} {v:.3f}" for k, v in row.items()))

# %% [markdown]
# ## 9. Questions
#
# ### Question 1 (3 points): each constraint is only a prior
# Use the table of Section 7. Which priors made the output the input's own counterpart here,
# and by how much over the GAN alone? Benaim & Wolf argue that none of these constraints
# *determines* the mapping: give, for the cycle constraint and for the distance constraint, a
# mapping that satisfies it perfectly and is still wrong on `day2night`. Why do they work as
# well as they do in practice?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_prior", "points": 3, "schema_version": 3}
# **Model answer.** Here the GAN alone keeps little of its input (retrieval 0.02-0.16 over four
# seeds: convincing night scenes, rarely the input's own), and the constraints lift the
# retrieval by different amounts in this short run: the cycle loss most (CycleGAN, 0.5-0.7),
# DistanceGAN's distance loss less (about 0.3-0.4), both with a lower translation error than
# the GAN alone; CUT's patchwise contrastive loss only on some runs at this budget. A constraint is only a prior because many mappings satisfy it. Cycle: any
# bijection G with F = G^-1 has zero cycle loss, for example the correct night rendering
# followed by a fixed permutation of the scenes, or a night rendering that swaps the colours
# of squares and circles (the shape is kept, so F can swap them back). Distance: G composed
# with any isometry of the night domain (a horizontal flip, a swap of two palette colours that
# keeps the L1 distances) keeps every pairwise distance, and so do mappings that move every
# image by the same amount. What makes them work is that, among all the mappings a GAN allows,
# the one the network reaches first is the *simplest*: a ResNet generator is biased towards
# local, position-preserving colour changes (Benaim & Wolf's minimal-complexity argument; Galanti
# et al.), and the constraint rules out the simple wrong ones (collapse, unrelated outputs).

# %% [markdown]
# ### Question 2 (3 points): why CUT needs no second generator
# CycleGAN needs F: B -> A, a second discriminator and twice the forward passes to ask that
# G(a) keep a's content. How does CUT ask the same without them? What does the contrastive loss
# assume that the cycle loss does not (think of a translation that is not a bijection), and
# why do the negatives come from the same image only? Use the costs in your table.

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_cut", "points": 3, "schema_version": 3}
# **Model answer.** CUT ties each output patch to the input patch at the same place directly:
# G's own encoder features of G(a) must identify the matching patch of a among a's other
# patches (InfoNCE, a lower bound on their mutual information). The content is checked on the
# input itself, so no inverse mapping, no second discriminator and no round trip are needed:
# one generator, one discriminator and a small MLP, fewer parameters and fewer passes per step
# than CycleGAN (compare the parameter and time columns; CUT's step also pays for the NCE on
# the identity pair b and for anti-aliased convolutions). The cycle loss requires G to be
# invertible, which is wrong for many-to-one translations (labels -> photos, a zebra's stripes
# have no horse equivalent) and lets G hide information in invisible signals to pass the
# cycle (Chu et al. 2017). PatchNCE only asks that corresponding patches share information,
# not that the whole image be recoverable. The negatives come from the same image because
# other patches of the same image share its style and lighting: to tell them apart the
# features must encode the patch's content and position, not the image's global appearance;
# negatives from other images would be easy to reject by global statistics alone (Park et
# al. Sec. 3.1, Table 3: internal negatives give the better results).

# %% [markdown]
# ### Question 3 (2 points): one A image
# From the numbers and pictures of Section 8: how did OST and CycleGAN do with one A image, on
# that image and on the test images neither saw? Why does OST train the shared layers with the
# B losses only?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_ost", "points": 2, "schema_version": 3}
# **Model answer.** With one A image CycleGAN's G: A -> B and F see a single input: F only has
# to reproduce that one image, so the cycle constrains little and both generators overfit to
# it; on the other test images its outputs are poor. OST's translation of the one image is
# closer to its true counterpart, and on unseen A images it generalises better, because most
# of its network (the shared layers and Dec_B) was learned from the many B images: Enc_A only
# has to map a into the shared code space where B's features live. If the A-side losses
# also trained the shared layers, a single image would pull them towards memorising it
# (overfitting) and away from the B representation the translation relies on; keeping them
# B-only (the authors' selective backpropagation) is what makes one sample enough.

# %% [markdown]
# ## 10. The lesson in numbers
# The cell below writes the key numbers to `lesson_metrics.json` (the course's tests check them).

# %%
if not GRADING:
    lesson = {
        "mode": "full" if FULL else "smoke",
        "image_size": IMAGE_SIZE,
        "steps": STEPS,
        "metrics": numbers,
        "ost": ost_numbers,
        "cut_nce": [float(v) for v in models["CUT"].history.history["NCE"]],  # per epoch
        "cpu_seconds": time.process_time() - START_CPU,
        "wall_seconds": time.time() - START_WALL,
    }
    with open("lesson_metrics.json", "w") as f:
        json.dump(lesson, f, indent=1)
    print(json.dumps(lesson["metrics"], indent=1))
