# %% [markdown]
# # Lab 4: MUNIT, one input, many translations
#
# CycleGAN (Lab 3) is *unimodal*: its generator is a function, so a day photo has exactly one
# night version. Most translations are multimodal: a summer scene has many winter versions
# (fresh snow, grey slush, a blue evening), a sketch of a shoe many colourings. MUNIT
# (Huang, Liu, Belongie & Kautz, 2018) splits every image into a **content code** (spatial, shared
# by both domains: the layout) and a **style code** (a small vector, specific to each domain: the
# appearance). To translate, keep the content and draw a new style. In this lab you will
#
# 1. write the pieces: adaptive instance normalisation (AdaIN), which lets a style code steer
#    the decoder; the latent reconstruction losses that make the codes meaningful; sampling a
#    random style; and the diversity measure of the MUNIT paper;
# 2. train MUNIT with the library trainer (`i2ilab.training.MUNIT`) built from **your** pieces:
#    your AdaIN in the generators' decoders, your latent reconstruction losses and your style
#    sampler; and, for comparison, the library's CycleGAN on the same data;
# 3. show one input with several random styles, an interpolation between two styles, and
#    example-guided translation (style taken from a reference image);
# 4. measure the diversity of the outputs for one input (mean pairwise distance, with your
#    function) next to CycleGAN's, as in the MUNIT paper, and discuss MUNIT's assumptions.
#
# **Grading.** The exercises are autograded: the visible tests below each exercise check shapes
# and simple cases and say which property failed, with the numbers; hidden tests check the
# property each exercise teaches against the library's (`i2ilab`) implementation on fixed
# inputs, with tolerances, so any correct spelling passes. Write the answers yourself: an answer
# that imports, wraps or calls the library's implementation of its exercise gets 0 points for
# that exercise (the tests say so). A test that needs another exercise's function uses the
# library's version of it, so one mistake costs one exercise. The written questions are graded
# by hand. While nbgrader grades your notebook, the training cells skip themselves, so only the
# exercises count there.
#
# **Modes.** With `I2ILAB_SMOKE=1` (any laptop CPU) the lab uses the built-in synthetic
# `styles` dataset at 32x32 and finishes in about 4 minutes. Without it, the lab runs in
# *full mode*: CycleGAN's `summer2winter_yosemite` archive (downloaded on first use, 133 MB)
# at 128x128 with the paper's networks, meant for a GPU.

# %%
import os

SMOKE = os.environ.get("I2ILAB_SMOKE") == "1"
GRADING = "NBGRADER_EXECUTION" in os.environ  # nbgrader is grading: skip training and plots
FULL = not (SMOKE or GRADING)

SEED = 0
IMAGE_SIZE = 128 if FULL else 32
LOAD_SIZE = 143 if FULL else None  # full mode: resize to 143, random 128 crop and flip
BATCH_SIZE = 1 if FULL else 4
STYLE_DIM = 8  # the paper's style code length
DIM = 64 if FULL else 16  # generator width (the paper: 64)
N_RES = 4 if FULL else 2  # residual blocks in the content encoder and the decoder (paper: 4)
MLP_DIM = 256 if FULL else 64  # width of the MLP that maps a style code to AdaIN parameters
DIS_DIM, DIS_LAYERS, DIS_SCALES = (64, 4, 3) if FULL else (16, 2, 2)
LEARNING_RATE = 1e-4 if FULL else 4e-4  # a short CPU run learns faster with a higher rate
CYCLE_WEIGHT = 10.0 if FULL else 0.0  # the paper's summer2winter config uses 10; 0 saves time on a CPU
# Training length: "epochs" of STEPS_PER_EPOCH steps (None: one pass over the data). The
# reference trains 1M iterations; full mode here trains 30 passes of summer2winter (~37k steps).
EPOCHS = 30 if FULL else 3
STEPS_PER_EPOCH = None if FULL else 100
CYCLEGAN_EPOCHS = 3 if FULL else 2  # the unimodal baseline, trained briefly on the same data
N_TEST = 64  # held-out images per domain used for the plots and numbers
N_STYLES = 8  # random styles per input for the diversity measure
DATA_DIR = os.environ.get("I2ILAB_DATA", "data")  # where full mode downloads its archive
FULL_DATASET = "summer2winter_yosemite"

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
# ## 1. AdaIN: how a style code steers the decoder
#
# MUNIT's decoder turns a content code $c$ (B, h, w, C) into an image; its residual blocks
# normalise each feature channel of each image to zero mean and unit variance (instance
# normalisation, which removes the input's own "style" statistics) and then give it the mean and
# spread the **style** asks for (Huang & Belongie 2017; MUNIT Sec. 3):
#
# $$\text{AdaIN}(x, \gamma, \beta) = \gamma\,\frac{x - \mu(x)}{\sqrt{\sigma^2(x) + \epsilon}} + \beta ,$$
#
# with $\mu$, $\sigma^2$ the mean and (biased) variance of each channel over H and W, per image,
# and $\gamma, \beta$ (B, C) computed from the style code by an MLP.
#
# ### Exercise 1 (3 points): `adain`
# It computes what `i2ilab.layers.AdaIN()(x, gamma, beta)` computes. Use `keras.ops`
# (`ops.mean`, `ops.var` or `ops.moments`, `ops.sqrt`): your function runs inside the decoders
# of the networks you train in Section 5 (`munit_generator(..., adain=adain)`). Note the
# shapes: gamma and beta are (B, C) and must be broadcast over H and W.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_adain", "schema_version": 3}
def adain(x, gamma, beta, epsilon=1e-5):
    """Adaptive instance norm: x (B, H, W, C), gamma and beta (B, C) -> (B, H, W, C)."""
    ### BEGIN SOLUTION
    x = ops.cast(x, "float32")
    mean, var = ops.moments(x, axes=[1, 2], keepdims=True)
    normalised = (x - mean) / ops.sqrt(var + epsilon)
    gamma = ops.cast(gamma, "float32")[:, None, None, :]
    beta = ops.cast(beta, "float32")[:, None, None, :]
    return gamma * normalised + beta
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_adain", "points": 3, "schema_version": 3}
from i2ilab.layers import AdaIN as _AdaIN

rng = np.random.default_rng(0)
x_test = (3.0 * rng.normal(size=(2, 5, 6, 4)) + 7.0).astype(np.float32)
gamma_test = np.array([[1.0, 2.0, 0.5, 3.0], [0.1, 1.0, 4.0, 2.0]], np.float32)
beta_test = np.array([[0.0, -1.0, 2.0, 5.0], [1.0, 0.0, -3.0, 0.5]], np.float32)
grading.own_work("Exercise 1 (adain)", adain, _AdaIN, run=lambda: adain(x_test, gamma_test, beta_test))
y_test = to_numpy(adain(x_test, gamma_test, beta_test))
grading.check(y_test.shape == x_test.shape, f"adain keeps the shape {x_test.shape} of x, got {y_test.shape}")
grading.assert_close(
    y_test.mean(axis=(1, 2)),
    beta_test,
    "each channel's mean over H, W of adain(x, gamma, beta) (must be beta)",
    rtol=0,
    atol=1e-4,
)
grading.assert_close(
    y_test.std(axis=(1, 2)),
    gamma_test,
    "each channel's std over H, W of adain(x, gamma, beta) (must be gamma)",
    rtol=0,
    atol=1e-3,
)
grading.assert_close(
    adain(5.0 * x_test - 2.0, gamma_test, beta_test),
    y_test,
    "adain(5 x - 2, gamma, beta) (must equal adain(x, gamma, beta): x's own statistics are removed)",
    rtol=0,
    atol=1e-3,
)
print("adain: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(71)
_x = _rng.normal(size=(3, 4, 7, 5)).astype(np.float32)
_x[:, :, :, 0] = 0.25 + 1e-3 * _rng.normal(size=(3, 4, 7))  # a nearly constant channel: the epsilon matters
_g, _b = _rng.normal(size=(3, 5)).astype(np.float32), _rng.normal(size=(3, 5)).astype(np.float32)
grading.assert_close(
    adain(_x, _g, _b),
    _AdaIN()(_x, _g, _b),
    "adain(x, gamma, beta) for 3 images (channel 0 nearly constant: epsilon inside the square root)",
    rtol=1e-3,
    atol=1e-4,
)
grading.assert_close(
    adain(_x, _g, _b, epsilon=0.5),
    _AdaIN(epsilon=0.5)(_x, _g, _b),
    "adain(x, gamma, beta, epsilon=0.5) (epsilon is added to the variance)",
    rtol=1e-3,
    atol=1e-4,
)
grading.assert_close(
    adain(_x.astype(np.float64), _g.astype(np.float64), _b.astype(np.float64)),
    _AdaIN()(_x, _g, _b),
    "adain of float64 inputs",
    rtol=1e-3,
    atol=1e-4,
)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The losses that make content and style meaningful
#
# For each domain, MUNIT has an auto-encoder: a content encoder $E^c$, a style encoder $E^s$ and
# a decoder $G$ (in the library: `gen.encode(x) -> (content, style)`, `gen.decode(content,
# style)`). Its objective (Huang et al. Sec. 3.2, eq. 5) has four kinds of terms:
#
# - **image reconstruction**: $|G_a(E^c_a(a), E^s_a(a)) - a|$ (each auto-encoder reconstructs
#   its own images);
# - **adversarial**: the cross-domain output $x_{ab} = G_b(E^c_a(a), s_b)$, with a random style
#   $s_b \sim \mathcal{N}(0, I)$, must look like domain B (a multi-scale LSGAN discriminator);
# - **latent reconstruction**: encoding $x_{ab}$ again must give back the content of $a$ and
#   the style that was used:
#
# $$\mathcal{L}^{c_a}_{recon} = \operatorname{mean}\,|E^c_b(x_{ab}) - E^c_a(a)| , \qquad
#   \mathcal{L}^{s_b}_{recon} = \operatorname{mean}\,|E^s_b(x_{ab}) - s_b| ;$$
#
# - (optionally) the **cycle** $|G_a(E^c_b(x_{ab}), E^s_a(a)) - a|$, weight 10 in the paper's
#   summer2winter configuration.
#
# The style reconstruction term is what makes the output *depend* on the random style: if the
# decoder ignored $s_b$, the style could not be read back from $x_{ab}$.
#
# ### Exercise 2 (2 points): `style_reconstruction_loss`, `content_reconstruction_loss`
# They compute what the functions of the same names in `i2ilab.losses` compute: the mean
# absolute difference over all elements (batch included), a float32 scalar. The trainer of
# Section 5 uses yours for its latent reconstruction terms.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_latent_losses", "schema_version": 3}
def style_reconstruction_loss(style, style_recon):
    """``mean(|style_recon - style|)``; style codes (B, style_dim) each -> scalar."""
    ### BEGIN SOLUTION
    return ops.mean(ops.abs(ops.cast(style_recon, "float32") - ops.cast(style, "float32")))
    ### END SOLUTION


def content_reconstruction_loss(content, content_recon):
    """``mean(|content_recon - content|)``; content codes (B, h, w, C) each -> scalar."""
    ### BEGIN SOLUTION
    return ops.mean(ops.abs(ops.cast(content_recon, "float32") - ops.cast(content, "float32")))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_latent_losses", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses

s = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
c = np.zeros((2, 3, 3, 4), np.float32)
grading.own_work(
    "Exercise 2 (style_reconstruction_loss, content_reconstruction_loss)",
    (style_reconstruction_loss, content_reconstruction_loss),
    (
        _losses.style_reconstruction_loss,
        _losses.content_reconstruction_loss,
        _losses.image_reconstruction_loss,
        _losses.l1_loss,
    ),
    run=lambda: (style_reconstruction_loss(s, s + 1.0), content_reconstruction_loss(c, c - 0.25)),
)
grading.assert_close(style_reconstruction_loss(s, s), 0.0, "style_reconstruction_loss(s, s) (a scalar)")
grading.assert_close(
    style_reconstruction_loss(s, s + np.array([1.0, -1.0], np.float32)),
    1.0,
    "style_reconstruction_loss(s, s + [1, -1]) (mean |difference| = 1)",
)
grading.assert_close(
    content_reconstruction_loss(c, c - 0.25),
    0.25,
    "content_reconstruction_loss(c, c - 0.25) (mean |difference| = 0.25)",
)
print("latent reconstruction losses: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(81)
_s1, _s2 = _rng.normal(size=(3, 8)).astype(np.float32), _rng.normal(size=(3, 8)).astype(np.float32)
_c1, _c2 = _rng.normal(size=(2, 4, 4, 6)).astype(np.float32), _rng.normal(size=(2, 4, 4, 6)).astype(np.float32)
grading.assert_close(
    style_reconstruction_loss(_s1, _s2),
    _losses.style_reconstruction_loss(_s1, _s2),
    "style_reconstruction_loss of 3 random codes (mean |difference| over batch and dimensions)",
)
grading.assert_close(
    content_reconstruction_loss(_c1, _c2),
    _losses.content_reconstruction_loss(_c1, _c2),
    "content_reconstruction_loss of 2 random content codes (mean |difference| over all elements)",
)
grading.assert_close(
    style_reconstruction_loss(_s1.astype(np.float64), _s2.astype(np.float64)),
    _losses.style_reconstruction_loss(_s1, _s2),
    "style_reconstruction_loss of float64 codes",
)
grading.assert_close(
    content_reconstruction_loss(_c1[:1], 3.0 * _c2[:1]),
    _losses.content_reconstruction_loss(_c1[:1], 3.0 * _c2[:1]),
    "content_reconstruction_loss of one large difference (|d|, not d squared)",
)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 (2 points): the cross-domain translation and its latent losses
# Write one direction of the trainer's step (A -> B): encode `x_a` with `gen_a`, decode its
# content with the style `s_b` using `gen_b`, encode the result with `gen_b`, and return
# `(x_ab, content loss, style loss)` using your functions above. `gen_a` and `gen_b` are any
# objects with `encode(x) -> (content, style)` and `decode(content, style) -> image`. (The
# tests of this exercise use the library's latent losses, so only this function counts here.)


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_cross_domain", "schema_version": 3}
def cross_domain_losses(gen_a, gen_b, x_a, s_b):
    """x_ab = G_b(E^c_a(x_a), s_b) and its latent reconstruction losses -> (x_ab, loss_content, loss_style)."""
    ### BEGIN SOLUTION
    c_a, _ = gen_a.encode(x_a)
    x_ab = gen_b.decode(c_a, s_b)
    c_a_recon, s_b_recon = gen_b.encode(x_ab)
    return x_ab, content_reconstruction_loss(c_a, c_a_recon), style_reconstruction_loss(s_b, s_b_recon)
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_cross_domain", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses
from i2ilab.training import MUNIT as _MUNIT

with grading.using(
    globals(),
    style_reconstruction_loss=_losses.style_reconstruction_loss,
    content_reconstruction_loss=_losses.content_reconstruction_loss,
):

    class StandIn:
        """A toy 'generator': content = the image times k, style = the mean colour; decode adds the style back."""

        def __init__(self, k):
            self.k = k

        def encode(self, x):
            return self.k * x, ops.mean(x, axis=(1, 2))

        def decode(self, content, style):
            return content + style[:, None, None, :]

    x_a = np.zeros((1, 2, 2, 3), np.float32)
    s_b = np.array([[1.0, 2.0, 3.0]], np.float32)
    grading.own_work(
        "Exercise 3 (cross_domain_losses)",
        cross_domain_losses,
        _MUNIT,
        run=lambda: cross_domain_losses(StandIn(1.0), StandIn(2.0), x_a, s_b),
    )
    got = cross_domain_losses(StandIn(1.0), StandIn(1.0), x_a, s_b)
    grading.check(
        isinstance(got, tuple) and len(got) == 3,
        f"cross_domain_losses returns a tuple (x_ab, loss_content, loss_style), got {type(got).__name__}",
    )
    x_ab, loss_c, loss_s = got
    grading.assert_close(
        x_ab,
        np.broadcast_to(s_b[:, None, None, :], (1, 2, 2, 3)),
        "x_ab = gen_b.decode(content of x_a, s_b) (here s_b in every pixel)",
    )
    grading.assert_close(loss_s, 0.0, "the style loss when gen_b's style encoder reads s_b back exactly")
    # gen_b's content encoder doubles: E^c_b(x_ab) = 2 * s_b everywhere, while E^c_a(x_a) = 0.
    x_ab, loss_c, loss_s = cross_domain_losses(StandIn(1.0), StandIn(2.0), x_a, s_b)
    grading.assert_close(loss_c, 4.0, "the content loss mean |E^c_b(x_ab) - E^c_a(x_a)| = mean |2 s_b - 0|")
    print("cross_domain_losses: visible tests passed")
    ### BEGIN HIDDEN TESTS
    _rng = np.random.default_rng(91)
    _xa = _rng.uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32)
    _sb = _rng.normal(size=(2, 3)).astype(np.float32)

    class _Gen:
        def __init__(self, k, shift):
            self.k, self.shift = k, shift

        def encode(self, x):
            return ops.tanh(self.k * x), ops.max(x, axis=(1, 2)) * self.k + self.shift

        def decode(self, content, style):
            return content * self.k - style[:, None, None, :] * 0.5

    _ga, _gb = _Gen(1.3, 0.1), _Gen(0.7, -0.2)
    _got = cross_domain_losses(_ga, _gb, _xa, _sb)
    _ca = _ga.encode(_xa)[0]
    _xab = _gb.decode(_ca, _sb)
    _cr, _sr = _gb.encode(_xab)
    grading.assert_close(
        _got[0],
        _xab,
        "x_ab = gen_b.decode(gen_a's content of x_a, s_b) (two different generators)",
        rtol=1e-5,
        atol=1e-6,
    )
    grading.assert_close(
        _got[1],
        _losses.content_reconstruction_loss(_ca, _cr),
        "loss_content = content loss(E^c_a(x_a), E^c_b(x_ab)) (two different generators)",
    )
    grading.assert_close(
        _got[2],
        _losses.style_reconstruction_loss(_sb, _sr),
        "loss_style = style loss(s_b, E^s_b(x_ab)) (two different generators)",
    )
    ### END HIDDEN TESTS

# %% [markdown]
# ## 3. Random styles and how different the outputs are
#
# MUNIT assumes the style codes of each domain follow the prior $\mathcal{N}(0, I)$ (the style
# encoder is pushed towards it because random codes from the prior must be decodable into
# realistic images and readable back). Translating with a *random* style means drawing a code
# from that prior.
#
# ### Exercise 4 (1 point): `sample_styles`
# Return `n` style codes (n, style_dim), float32, from $\mathcal{N}(0, I)$ with NumPy,
# reproducible by `seed`: the same seed gives the same codes, another seed other codes (e.g.
# with `np.random.default_rng(seed)`; any NumPy generator that draws N(0, I) is fine). The
# trainer of Section 5 uses it, `MUNIT(..., style_sampler=sample_styles)`: it calls
# `sample_styles(n, style_dim, seed)` for its sample grids and `translate`, and once for the
# bank of codes its training steps draw their random styles from. The tests check the
# distribution, the dtype and the seeding, not particular numbers.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_sample_styles", "schema_version": 3}
def sample_styles(n, style_dim, seed=0):
    """n random style codes (n, style_dim) float32 from N(0, I), reproducible by seed."""
    ### BEGIN SOLUTION
    return np.random.default_rng(seed).standard_normal((n, style_dim)).astype(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_sample_styles", "points": 1, "schema_version": 3}
from i2ilab.training import MUNIT as _MUNIT

grading.own_work(
    "Exercise 4 (sample_styles)", sample_styles, _MUNIT.sample_styles, run=lambda: sample_styles(5, 8, seed=3)
)
codes = np.asarray(sample_styles(20000, 8, seed=1))
grading.check(codes.shape == (20000, 8), f"sample_styles(20000, 8) has shape (20000, 8), got {codes.shape}")
grading.check(codes.dtype == np.float32, f"sample_styles returns float32 codes, got {codes.dtype}")
grading.assert_close(
    codes.mean(axis=0), np.zeros(8), "the mean of 20000 codes per dimension (N(0, I): 0)", rtol=0, atol=0.05
)
grading.assert_close(
    codes.std(axis=0), np.ones(8), "the std of 20000 codes per dimension (N(0, I): 1)", rtol=0, atol=0.05
)
grading.assert_close(
    np.corrcoef(codes.T), np.eye(8), "the correlation between dimensions (independent: identity)", rtol=0, atol=0.05
)
grading.check(
    np.array_equal(np.asarray(sample_styles(3, 8, seed=5)), np.asarray(sample_styles(3, 8, seed=5))),
    "sample_styles(3, 8, seed=5) twice: the same seed must give the same codes",
)
grading.check(
    not np.allclose(np.asarray(sample_styles(3, 8, seed=5)), np.asarray(sample_styles(3, 8, seed=6))),
    "sample_styles(3, 8, seed=5) and seed=6 give the same codes: different seeds must differ",
)
print("sample_styles: visible tests passed")
### BEGIN HIDDEN TESTS
_codes = np.asarray(sample_styles(40000, 5, 11))  # seed given by position
grading.check(
    _codes.shape == (40000, 5) and _codes.dtype == np.float32,
    f"sample_styles(40000, 5, 11): shape (40000, 5) float32, got {_codes.shape} {_codes.dtype}",
)
grading.assert_close(_codes.mean(axis=0), np.zeros(5), "the mean of 40000 codes (seed 11)", rtol=0, atol=0.03)
grading.assert_close(_codes.var(axis=0), np.ones(5), "the variance of 40000 codes (seed 11)", rtol=0, atol=0.05)
grading.assert_close(
    np.mean(np.abs(_codes) < 1.0),
    0.6827,
    "the share of codes within one std of 0 (a normal distribution: 0.683)",
    rtol=0,
    atol=0.015,
)
grading.assert_close(
    np.mean(np.abs(_codes) > 2.0),
    0.0455,
    "the share of codes beyond two std (a normal distribution: 0.046)",
    rtol=0,
    atol=0.008,
)
_one = np.asarray(sample_styles(1, 5, seed=0))
grading.check(_one.shape == (1, 5), f"sample_styles(1, 5) has shape (1, 5), got {_one.shape}")
_draws = [np.asarray(sample_styles(4, 5, seed=_s)) for _s in range(5)]
grading.check(
    all(not np.allclose(_draws[i], _draws[j]) for i in range(5) for j in range(i + 1, 5)),
    "seeds 0 to 4 must give 5 different sets of codes",
)
grading.check(np.array_equal(np.asarray(sample_styles(4, 5, seed=3)), _draws[3]), "seed 3 again: the same codes")
grading.check(len(np.unique(_draws[0].round(6), axis=0)) == 4, "the 4 codes of one call must differ from each other")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 5 (2 points): `mean_pairwise_distance`
# The MUNIT paper measures diversity as the average distance between pairs of outputs for the
# *same* input (after BicycleGAN; they use the learned LPIPS distance, we use the mean absolute
# pixel difference). For K outputs of one input, average the distance over all K(K-1)/2 pairs
# i < j. It computes what `i2ilab.metrics.mean_pairwise_distance` computes with its default
# distance (`pixel_l1_distance`: the mean of |o_i - o_j| over all pixels and channels). Section
# 7 measures the diversity of MUNIT and CycleGAN with your function.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_pairwise", "schema_version": 3}
def mean_pairwise_distance(outputs):
    """Mean over pairs i < j of mean(|outputs[i] - outputs[j]|); outputs (K, H, W, C), K >= 2 -> float."""
    ### BEGIN SOLUTION
    outputs = np.asarray(outputs, np.float64)
    k = len(outputs)
    distances = [np.abs(outputs[i] - outputs[j]).mean() for i in range(k) for j in range(i + 1, k)]
    return float(np.mean(distances))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_pairwise", "points": 2, "schema_version": 3}
from i2ilab import metrics as _metrics

same = np.zeros((5, 4, 4, 3), np.float32)
three = np.stack([np.full((4, 4, 3), v, np.float32) for v in (0.0, 0.5, -1.0)])
grading.own_work(
    "Exercise 5 (mean_pairwise_distance)",
    mean_pairwise_distance,
    (_metrics.mean_pairwise_distance, _metrics.diversity_score, _metrics.pixel_l1_distance),
    run=lambda: mean_pairwise_distance(three),
)
grading.assert_close(mean_pairwise_distance(same), 0.0, "mean_pairwise_distance of 5 identical outputs (no diversity)")
grading.assert_close(
    mean_pairwise_distance(three),
    (0.5 + 1.0 + 1.5) / 3,
    "mean_pairwise_distance of constant images 0, 0.5, -1 (three pairs: 0.5, 1 and 1.5)",
)
grading.assert_close(mean_pairwise_distance(three[:2]), 0.5, "mean_pairwise_distance of two outputs (one pair)")
print("mean_pairwise_distance: visible tests passed")
### BEGIN HIDDEN TESTS
_o = np.random.default_rng(101).uniform(-1, 1, (7, 5, 6, 3)).astype(np.float32)
grading.assert_close(
    mean_pairwise_distance(_o),
    _metrics.mean_pairwise_distance(_o),
    "mean_pairwise_distance of 7 random outputs (21 pairs i < j)",
    rtol=1e-6,
)
grading.assert_close(
    mean_pairwise_distance(_o[:2]),
    _metrics.mean_pairwise_distance(_o[:2]),
    "mean_pairwise_distance of 2 random outputs",
    rtol=1e-6,
)
_p = np.concatenate([_o[:3], 1.0 + 1e-4 * _o[3:6]]).astype(np.float64)
grading.assert_close(
    mean_pairwise_distance(_p),
    _metrics.mean_pairwise_distance(_p),
    "mean_pairwise_distance of 6 float64 outputs, 3 of them nearly equal",
    rtol=1e-6,
)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The data
#
# The built-in `styles` set renders random scenes (sky, ground, a few shapes). Domain A is the
# day rendering; every image of domain B shows its scene in one of four **styles** (sunset,
# night, snow, desert), which live mostly in the large areas: the sky and the ground take the
# style's colours, the shapes are only tinted. So B is *multimodal* given the layout, and the
# set keeps every test scene of A rendered in all four styles (`testA_true/style<k>/`): the
# true set of translations of one input, to compare diversity with. Full mode uses the
# summer2winter Yosemite photos (A summer, B winter) at 128x128.

# %% tags=["data-pipeline"]
from i2ilab.data import synthetic_root, unpaired_dataset
from i2ilab.data.synthetic import load_images, load_labels

if FULL:
    from i2ilab.data.download import download_dataset

    with notebook.full_mode_data():  # offline: one message saying how to run smoke mode
        ROOT = download_dataset(FULL_DATASET, "cyclegan", out=DATA_DIR)
    train_ds = unpaired_dataset(
        ROOT, image_size=IMAGE_SIZE, load_size=LOAD_SIZE, batch_size=BATCH_SIZE, seed=SEED, drop_remainder=True
    )
    test_ds = unpaired_dataset(ROOT, "test", image_size=IMAGE_SIZE, jitter=False, batch_size=N_TEST, shuffle=False)
    test_a, test_b = (to_numpy(t) for t in next(iter(test_ds)))
    STYLE_NAMES = test_styles = test_labels = renderings = None  # photos carry no style labels
elif not GRADING:
    ROOT = synthetic_root("styles", IMAGE_SIZE)
    train_ds = unpaired_dataset(
        ROOT, image_size=IMAGE_SIZE, jitter=False, batch_size=BATCH_SIZE, seed=SEED, drop_remainder=True
    )
    test_a, test_b = load_images(ROOT, "testA")[:N_TEST], load_images(ROOT, "testB")[:N_TEST]
    styles_json = json.loads((ROOT / "styles.json").read_text())
    STYLE_NAMES = styles_json["names"]
    test_styles = np.array(styles_json["testB"][:N_TEST])  # style id of every test B image
    test_labels = load_labels(ROOT, "testA")[:N_TEST]  # 0 sky, 1 ground, 2-4 shapes
    # Every test A scene in every style: (N, 4, S, S, 3), the true translations.
    renderings = np.stack([load_images(ROOT, f"testA_true/style{k}")[:N_TEST] for k in range(len(STYLE_NAMES))], 1)
if not GRADING:
    print(f"test images: A {test_a.shape}, B {test_b.shape}")
    if renderings is None:
        viz.show_grid({"A (test)": test_a, "B (test)": test_b}, max_rows=3)
    else:
        viz.show_grid(
            {"A (test)": test_a, **{f"true: {n}": renderings[:, k] for k, n in enumerate(STYLE_NAMES)}}, max_rows=3
        )

# %% [markdown]
# ## 5. Training
#
# `i2ilab.models.munit_generator` builds one domain's auto-encoder (content encoder, style
# encoder, MLP, AdaIN decoder) and `multiscale_discriminator` the discriminator, which judges
# the image at several scales. `i2ilab.training.MUNIT` runs the reference's step: the
# discriminators on fakes made with random styles, then the generators on the objective of
# Section 2 (weights: adversarial 1, image 10, style 1, content 1, cycle `CYCLE_WEIGHT`).
#
# **Your pieces train.** The generators' decoders normalise with your `adain`
# (`munit_generator(..., adain=adain)`), the trainer's latent reconstruction terms are your
# losses (`MUNIT(..., style_reconstruction_loss=..., content_reconstruction_loss=...)`) and its
# random styles come from your `sample_styles` (`MUNIT(..., style_sampler=sample_styles)`:
# the sample grids and `translate` call it, and training picks its random styles from a bank
# of 16384 codes drawn with it once, since a NumPy function cannot run inside the compiled
# step). A wrong piece shows in the results: an AdaIN that ignores gamma and beta makes the
# decoder deaf to the style, and every random style then gives the same output (diversity 0).
# The CycleGAN baseline is the library's.
#
# Smoke mode trains small networks (16 channels, 2 residual blocks) for 300 steps of batch 4,
# about a minute and a half on two CPU cores; the CycleGAN baseline (Lab 3's smoke networks)
# gets 200 steps.

# %% tags=["build-models"]
from i2ilab.models import multiscale_discriminator, munit_generator, patch_discriminator, resnet_generator
from i2ilab.training import MUNIT, CycleGAN, default_adam


def build_munit():
    """A fresh, compiled MUNIT trainer (fixed seed) made of your AdaIN, latent losses and style sampler."""
    keras.utils.set_random_seed(SEED)
    gens = [
        munit_generator(
            IMAGE_SIZE, dim=DIM, style_dim=STYLE_DIM, n_res=N_RES, mlp_dim=MLP_DIM, adain=adain, name=f"gen_{d}"
        )  # your Exercise 1 in the decoders
        for d in "ab"
    ]
    diss = [
        multiscale_discriminator(IMAGE_SIZE, dim=DIS_DIM, n_layer=DIS_LAYERS, num_scales=DIS_SCALES, name=f"dis_{d}")
        for d in "ab"
    ]
    trainer = MUNIT(
        *gens,
        *diss,
        recon_x_cyc_w=CYCLE_WEIGHT,
        num_sample_styles=4,
        seed=SEED,
        style_reconstruction_loss=style_reconstruction_loss,  # your Exercise 2
        content_reconstruction_loss=content_reconstruction_loss,
        style_sampler=sample_styles,  # your Exercise 4
    )
    trainer.compile(g_optimizer=default_adam(LEARNING_RATE), d_optimizer=default_adam(LEARNING_RATE))
    return trainer


def build_cyclegan():
    """The unimodal baseline: Lab 3's CycleGAN (its smoke-mode networks in smoke mode)."""
    keras.utils.set_random_seed(SEED)
    width, blocks, learning_rate = (64, 9, 2e-4) if FULL else (16, 3, 5e-4)
    gens = [resnet_generator(IMAGE_SIZE, ngf=width, n_blocks=blocks, name=f"g_{d}") for d in ("ab", "ba")]
    diss = [
        patch_discriminator(IMAGE_SIZE, 3, ndf=width, n_layers=3 if FULL else 2, norm="instance", name=f"d_{d}")
        for d in "ab"
    ]
    trainer = CycleGAN(*gens, *diss, seed=SEED)
    trainer.compile(g_optimizer=default_adam(learning_rate), d_optimizer=default_adam(learning_rate))
    return trainer


def train(trainer, epochs):
    """Fit for ``epochs`` (one line per epoch); returns the Keras History."""
    t0 = time.time()
    data = train_ds.repeat() if STEPS_PER_EPOCH else train_ds
    history = trainer.fit(
        data, steps_per_epoch=STEPS_PER_EPOCH, epochs=epochs, verbose=0, callbacks=[notebook.EpochLog()]
    )
    print(f"trained in {time.time() - t0:.0f} s")
    return history


if not GRADING:
    probe = build_munit()
    gen = probe.gen_a
    print(
        f"MUNIT generator: {gen.count_params():,} parameters (style encoder {gen.style_encoder.count_params():,}, "
        f"content encoder {gen.content_encoder.count_params():,}, MLP {gen.mlp.count_params():,}, "
        f"decoder {gen.decoder.count_params():,}); AdaIN parameters per style: {gen.num_adain_params:,}"
    )
    print(f"content code of one image: {gen.content_encoder.output_shape[1:]}, style code: ({STYLE_DIM},)")
    del probe, gen

# %%
if GRADING:
    print("nbgrader is grading: training skipped")
else:
    munit = build_munit()
    munit_history = train(munit, EPOCHS)
    viz.show(viz.plot_losses(munit_history, title="MUNIT losses (epoch means, summed over both domains)"))

# %%
if not GRADING:
    cyclegan = build_cyclegan()
    train(cyclegan, CYCLEGAN_EPOCHS)

# %% [markdown]
# ## 6. One input, many outputs
#
# Each row: a day image, MUNIT's translations with six random styles (the same six codes in
# every row: the style code is the appearance, the content the layout), and CycleGAN's one and
# only translation.

# %%
if not GRADING:
    rows = test_a[:6]
    random_codes = sample_styles(6, STYLE_DIM, seed=SEED)  # your sampler from Exercise 4
    columns = {"input": rows}
    for k, code in enumerate(random_codes):
        columns[f"style {k + 1}"] = munit.translate(rows, style=np.repeat(code[None], len(rows), axis=0))
    columns["CycleGAN"] = cyclegan.translate(rows)
    viz.show_grid(columns, max_rows=6)

# %% [markdown]
# ### Style interpolation
# Style codes live in a continuous space: decoding one content with codes on the straight line
# between two styles (here the codes of two reference images, encoded by domain B's style
# encoder) morphs one appearance into the other.

# %%
if not GRADING:
    if test_styles is not None:  # two references of different styles (e.g. night and snow)
        first = int(np.argmax(test_styles == 1)) if (test_styles == 1).any() else 0
        second = int(np.argmax(test_styles == 2)) if (test_styles == 2).any() else 1
    else:
        first, second = 0, 1
    _, end_codes = munit.gen_b.encode(test_b[[first, second]], training=False)
    end_codes = to_numpy(end_codes)
    steps = np.linspace(0.0, 1.0, 7)
    columns = {"reference 1": np.repeat(test_b[first : first + 1], 3, axis=0)}
    for t in steps:
        code = (1.0 - t) * end_codes[0] + t * end_codes[1]
        columns[f"t = {t:.2f}"] = munit.translate(test_a[:3], style=np.repeat(code[None], 3, axis=0))
    columns["reference 2"] = np.repeat(test_b[second : second + 1], 3, axis=0)
    viz.show_grid(columns, max_rows=3)

# %% [markdown]
# ### Example-guided translation
# Instead of a random code, take the style of a reference image of domain B:
# $x_{ab} = G_b(E^c_a(a), E^s_b(b_{ref}))$ (`MUNIT.translate(x, style=reference_images)`). Rows:
# inputs; columns: one reference per style.

# %%
if not GRADING:
    if test_styles is not None:
        refs = [int(np.argmax(test_styles == k)) for k in range(len(STYLE_NAMES)) if (test_styles == k).any()]
    else:
        refs = list(range(4))
    inputs = test_a[:4]
    grid = {"input": inputs}
    for r in refs:
        name = STYLE_NAMES[test_styles[r]] if test_styles is not None else f"ref {r}"
        grid[f"ref: {name}"] = np.repeat(test_b[r : r + 1], len(inputs), axis=0)
        grid[f"-> {name}"] = munit.translate(inputs, style=np.repeat(test_b[r : r + 1], len(inputs), axis=0))
    viz.show_grid(grid, max_rows=4)

# %% [markdown]
# ## 7. Measuring diversity, and what a style carries
#
# - **diversity**: for each of 16 test inputs, `N_STYLES` = 8 translations with fresh random
#   styles from your `sample_styles`; the mean pairwise distance between them (your Exercise 5),
#   averaged over the inputs (what `i2ilab.metrics.diversity_score` computes). CycleGAN's
#   translation is a deterministic function of the input: its diversity is exactly 0, whatever
#   it learned. The **true diversity** is the same number for the four true renderings of each
#   scene;
# - **guided style accuracy**: translate every test A image with the style of test B image of
#   the same index, and classify the output's style by the mean colour of its sky and ground
#   (nearest of the four styles' mean colours): how often is it the reference's style? Chance
#   is 1/4;
# - **styles covered**: how many of the four styles appear among the 8 random-style outputs of
#   one input (classified the same way), averaged over inputs; a unimodal model covers 1;
# - **layout kept**: mean |output - true rendering of *its* scene in the nearest style|, against
#   the same distance to the renderings of *another* scene. Equal numbers mean the content code
#   has not (yet) learned to carry the layout.


# %%
def random_style_sampler(trainer, seed=SEED):
    """Each call translates a batch with fresh random styles from your sample_styles (a new seed per call)."""
    seeds = iter(range(1000 * (seed + 1), 1000 * (seed + 2)))

    def sample(x):
        return trainer.translate(x, style=sample_styles(len(x), STYLE_DIM, seed=next(seeds)))

    return sample


def diversity(sample_fn, inputs, num_samples=N_STYLES):
    """Your mean_pairwise_distance over ``num_samples`` outputs of each input, averaged over the inputs."""
    samples = np.stack([to_numpy(sample_fn(inputs)) for _ in range(num_samples)], axis=1)  # (N, K, S, S, 3)
    return float(np.mean([mean_pairwise_distance(outputs) for outputs in samples]))


def style_colours(images, labels):
    """Mean sky and ground colour of each image: (N, 2, 3)."""
    return np.stack([[images[i][labels[i] == region].mean(axis=0) for region in (0, 1)] for i in range(len(images))])


def classify_styles(images, labels, reference):
    """Nearest style by sky and ground colour; reference (K, 2, 3) -> ids (N,)."""
    colours = style_colours(images, labels)
    return np.argmin(((colours[:, None] - reference[None]) ** 2).sum(axis=(2, 3)), axis=1)


if not GRADING:
    n_div = 16
    numbers = {
        "MUNIT diversity": diversity(random_style_sampler(munit), test_a[:n_div]),
        "CycleGAN diversity": diversity(cyclegan.translate, test_a[:n_div]),
    }
    if renderings is not None:
        numbers["true diversity"] = float(np.mean([mean_pairwise_distance(renderings[i]) for i in range(n_div)]))
        reference = np.mean([style_colours(renderings[:, k], test_labels) for k in range(len(STYLE_NAMES))], axis=1)
        guided = munit.translate(test_a, style=test_b)
        numbers["guided style accuracy"] = float(
            (classify_styles(guided, test_labels, reference) == test_styles).mean()
        )
        sampler = random_style_sampler(munit, seed=SEED + 1)
        samples = np.stack([sampler(test_a[:n_div]) for _ in range(N_STYLES)], axis=1)  # (n, K, S, S, 3)
        numbers["MUNIT styles covered"] = float(
            np.mean(
                [
                    len(set(classify_styles(samples[i], np.repeat(test_labels[i : i + 1], N_STYLES, 0), reference)))
                    for i in range(n_div)
                ]
            )
        )
        cyclegan_out = cyclegan.translate(test_a[:n_div])
        numbers["CycleGAN styles covered"] = 1.0  # one output per input
        numbers["CycleGAN most frequent style share"] = float(
            np.bincount(classify_styles(cyclegan_out, test_labels[:n_div], reference), minlength=4).max() / n_div
        )
        own = np.abs(samples[:, :, None] - renderings[:n_div, None]).mean(axis=(3, 4, 5)).min(axis=2).mean()
        other_scene = np.roll(renderings[:n_div], 1, axis=0)
        other = np.abs(samples[:, :, None] - other_scene[:, None]).mean(axis=(3, 4, 5)).min(axis=2).mean()
        numbers["layout: L1 to own scene"] = float(own)
        numbers["layout: L1 to another scene"] = float(other)
    for name, value in numbers.items():
        print(f"{name:>36s}: {value:.3f}")

    fig = Figure(figsize=(5, 3.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    bars = {k: v for k, v in numbers.items() if k.endswith("diversity")}
    ax.bar(range(len(bars)), list(bars.values()), color=["C0", "C3", "0.6"][: len(bars)])
    ax.set_xticks(range(len(bars)), [k.replace(" diversity", "") for k in bars])
    ax.set(ylabel="mean pairwise L1 of outputs for one input", title="Diversity (MUNIT Table 2 protocol, pixel L1)")
    viz.show(fig)

# %% [markdown]
# ## 8. Questions
#
# ### Question 1 (3 points): MUNIT's assumptions
# State the assumptions MUNIT makes about the two domains (Huang et al. Sec. 3.1: what is
# shared, what is domain-specific, what distribution the style codes follow) and what the
# content/style split can and cannot represent. Which translations does it suit, and which
# would break it? Compare with CycleGAN's assumption (Lab 3) and explain why CycleGAN's
# diversity is 0 even if we feed it noise as an extra input.

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_assumptions", "points": 3, "schema_version": 3}
# **Model answer.** MUNIT assumes a *partially shared* latent space: every image is generated
# from a content code, whose space is shared by both domains, and a style code, whose space is
# specific to each domain; translation keeps the content and changes the style. The style codes
# of each domain follow a simple prior, $\mathcal{N}(0, I)$ (8 numbers), and the decoder
# injects the style only through AdaIN, i.e. through global per-channel means and scales of the
# feature maps. So style can represent global, spatially uniform appearance (colour palette,
# texture statistics, lighting), and content must carry everything spatial (layout, shapes,
# pose). It suits translations where the layout is kept and the appearance is ambiguous:
# summer -> winter, edges -> shoes/handbags, animal -> animal of similar pose, day -> the many
# kinds of night. It breaks when what must change is spatial or local (adding or moving
# objects, large geometric changes such as cat -> dog shape, a style that differs in one region
# only), when the content spaces of the two domains are not really shared, or when the style
# variation is not well described by a unimodal Gaussian in a few dimensions. CycleGAN assumes
# a deterministic one-to-one mapping (a bijection, made plausible by the cycle loss); its
# generator is a function of the input, so the outputs for one input are identical and the
# diversity is exactly 0. Feeding noise does not help: pix2pix and later work found that the
# generator learns to ignore extra noise inputs, because nothing in the losses rewards using it
# (the cycle loss even penalises it, since F could not recover a noise-dependent change);
# MUNIT's style reconstruction loss is exactly the term that makes ignoring the code costly.

# %% [markdown]
# ### Question 2 (3 points): what the numbers show, and what a longer run adds
# Look at the random-style grid, the example-guided grid and the numbers. Which part of the
# style did MUNIT learn in this short run, and which part not? Is the layout of the input kept?
# Why is the large-area colour learned first? What would you expect from a longer run (on the
# synthetic set, and on summer2winter on a GPU)?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_results", "points": 3, "schema_version": 3}
# **Model answer.** After 300 steps MUNIT already produces clearly different outputs for one
# input: its diversity is more than half of the true diversity of the four renderings of a
# scene and far above CycleGAN's 0, and eight random styles of one input fall into two or three
# of the four styles (sunset, night, snow, desert), while CycleGAN gives every input one and
# the same blended appearance (it picked one compromise mode of the multimodal domain).
# Example-guided translation carries the reference's sky and ground colours: the guided style
# accuracy is far above the chance level of 1/4. What MUNIT has not learned is the content:
# the outputs' horizon and shapes do not follow the input (the distance to the input's own
# true renderings is no smaller than to another scene's), and the style reconstruction loss
# has barely moved from its starting value (about 1.5 = 2 E|z| for the two domains), so the
# style encoders cannot yet read a random code back from an output. The large areas are
# learned first because they dominate the pixel losses and the discriminators' decisions and
# are set by a few global AdaIN statistics, exactly what a style code controls; spatial
# content needs the content encoder and the decoder to agree on a code, which is much slower.
# CycleGAN, by contrast, keeps the layout after 200 steps (its generator is close to the
# identity plus a correction, and the cycle loss forces it) but cannot vary the style. A longer
# run is needed for MUNIT's content: 1000 steps on the synthetic set (about 4 CPU minutes)
# still did not keep the layout, so expect the full-size networks and many thousands of steps
# on a GPU; on summer2winter the reference trains 1M iterations before snow appears on the
# same mountains, with a different snow cover for every random style.

# %% [markdown]
# ## 9. The lesson in numbers
# The cell below writes the key numbers to `lesson_metrics.json` (the course's tests check them).

# %%
if not GRADING:
    lesson = {
        "mode": "full" if FULL else "smoke",
        "image_size": IMAGE_SIZE,
        "epochs": EPOCHS,
        "steps_per_epoch": STEPS_PER_EPOCH,
        "metrics": numbers,
        "final_losses": {k: float(v[-1]) for k, v in munit_history.history.items()},
        "cpu_seconds": time.process_time() - START_CPU,
        "wall_seconds": time.time() - START_WALL,
    }
    with open("lesson_metrics.json", "w") as f:
        json.dump(lesson, f, indent=1)
    print(json.dumps(lesson, indent=1))
