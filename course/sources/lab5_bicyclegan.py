# %% [markdown]
# # Lab 5: one input, many outputs (BicycleGAN), and high resolution (pix2pixHD)
#
# pix2pix (Lab 2) maps an input to **one** output. But an edge drawing of a shoe leaves its
# colour free: red, green, blue and yellow shoes are all right. Isola et al. tried adding a
# noise input to pix2pix and found the generator simply learns to ignore it. BicycleGAN (Zhu,
# Zhang, Pathak, Darrell, Efros, Wang & Shechtman, NeurIPS 2017) makes the generator $G(A, z)$
# *use* a low-dimensional latent code $z$ by tying codes and outputs both ways:
#
# - **cVAE-GAN** ($B \to z \to \hat B$): an encoder $E$ reads the code of the true output $B$,
#   $G$ must rebuild $B$ from $A$ and that code, and a KL term keeps the codes near
#   $\mathcal{N}(0, I)$ so that random codes are meaningful at test time;
# - **cLR-GAN** ($z \to \hat B \to \hat z$): $G$ turns a *random* code into an output that a
#   second discriminator must find realistic, and $E$ must read the code back from it.
#
# In this lab you will
#
# 1. write the pieces: the code injection into the U-Net, the KL and latent-regression losses,
#    the cVAE-GAN and cLR-GAN halves of the objective, and a coverage measure;
# 2. train, with **your** pieces, four models on the same data: pix2pix with noise, cVAE-GAN
#    only, cLR-GAN only and BicycleGAN (the paper's Sec. 4 comparison);
# 3. measure how diverse the outputs for one input are, how many of the true outputs they reach
#    (coverage) and how close each output is to a true one (fidelity), and look at the grids;
# 4. in a second part, write two pieces of pix2pixHD (Wang et al. 2018): the discriminator
#    **feature matching** loss and the **instance edge map**, and see what a multi-scale
#    discriminator with feature matching changes.
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
# `edges2palette` set (the edges of one object; the object in one of four colours) at 32x32 and
# the synthetic `streets` set (label maps with car instances) for Part 2, and finishes in about
# 5 minutes. Without it, the lab runs in *full mode*: pix2pix's `edges2shoes` archive
# (downloaded on first use, 2 GB) at 128x128 with the paper's network shapes, and the
# Cityscapes-like streets at 256x256, meant for a GPU.

# %%
import os

SMOKE = os.environ.get("I2ILAB_SMOKE") == "1"
GRADING = "NBGRADER_EXECUTION" in os.environ  # nbgrader is grading: skip training and plots
FULL = not (SMOKE or GRADING)

SEED = 0
IMAGE_SIZE = 128 if FULL else 32
NZ = 8  # the paper's code length
NGF = 64 if FULL else 16  # generator and encoder width (the paper: 64)
NDF = 64 if FULL else 16  # discriminator width
NUM_DOWNS = 7 if FULL else 5  # U-Net levels: 128 -> 1 (full), 32 -> 1 (smoke)
E_BLOCKS = 4 if FULL else 2  # encoder blocks: resnet_128 (full); its 8x8 pool needs 8 * 2**blocks pixels
D_LAYERS = 3 if FULL else 2  # PatchGAN depth of each of D's two scales
BATCH_SIZE = 2  # the reference's: one pair for the cVAE-GAN half, one for cLR-GAN's D2
LEARNING_RATE = 2e-4 if FULL else 4e-4  # a short CPU run learns faster with a higher rate
STEPS = 20000 if FULL else 1500  # steps per model
EPOCHS = 4 if FULL else 3  # progress lines per model
N_TEST = 32  # test inputs for the numbers
N_SAMPLES = 8  # random codes per input
DATA_DIR = os.environ.get("I2ILAB_DATA", "data")  # where full mode downloads its archive

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
# ## 1. Giving the generator a code
#
# BicycleGAN's generator is pix2pix's U-Net with one more input, the code $z$ (B, nz). The code
# has no spatial extent, so it is **tiled**: repeated at every pixel and concatenated to the
# feature map as nz extra channels. The paper (Sec. 3.4, Fig. 3) tried two places: only at the
# input image ("add to input"), or at the input of *every* down-sampling layer ("add to all"),
# which the authors' released models use; the library's `bicycle_unet_generator` builds both.
#
# ### Exercise 1 (2 points): `inject_z`
# Return `concat([x, tile(z)])` on the channel axis: x (B, H, W, C) and z (B, nz) -> (B, H, W,
# C + nz), x's channels first, z's values equal at every pixel. Use `keras.ops`
# (`ops.broadcast_to`, `ops.tile` or `ops.repeat`, `ops.concatenate`): your function runs inside
# the generators you train in Section 5 (the layer `ZInjection` below calls it at every level).


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_inject_z", "schema_version": 3}
def inject_z(x, z):
    """Tile z (B, nz) over H x W and concatenate after x's channels: (B, H, W, C) -> (B, H, W, C + nz)."""
    ### BEGIN SOLUTION
    shape = ops.shape(x)
    z = ops.cast(z, x.dtype)
    tiled = ops.broadcast_to(z[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(z)[-1]))
    return ops.concatenate([x, tiled], axis=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_inject_z", "points": 2, "schema_version": 3}
from i2ilab.models.bicyclegan import TileConcat as _TileConcat

x_test = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
z_test = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], np.float32)
grading.own_work("Exercise 1 (inject_z)", inject_z, _TileConcat, run=lambda: inject_z(x_test, z_test))
y_test = to_numpy(inject_z(x_test, z_test))
grading.check(
    y_test.shape == (2, 3, 4, 5), f"inject_z of x (2, 3, 4, 2) and z (2, 3) is (2, 3, 4, 5), got {y_test.shape}"
)
grading.assert_close(y_test[..., :2], x_test, "the first C channels of inject_z(x, z) (must be x, unchanged)")
grading.assert_close(
    y_test[1, 2, 3, 2:], z_test[1], "the last nz channels at image 1, pixel (2, 3) (must be z[1])", rtol=0, atol=0
)
grading.assert_close(
    y_test[..., 2:].std(axis=(1, 2)), np.zeros((2, 3)), "the spread of z's channels over H, W (tiled: 0)", atol=1e-6
)
print("inject_z: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(51)
_x = _rng.normal(size=(3, 5, 7, 4)).astype(np.float32)
_z = _rng.normal(size=(3, 8)).astype(np.float32)
grading.assert_close(inject_z(_x, _z), _TileConcat()(_x, _z), "inject_z of 3 random maps (5 x 7) and codes (nz 8)")
grading.assert_close(inject_z(_x[:1, :1, :1], _z[:1]), _TileConcat()(_x[:1, :1, :1], _z[:1]), "inject_z on a 1 x 1 map")
_sym = keras.Input((6, 6, 3))
_sym_z = keras.Input((8,))
_out = inject_z(_sym, _sym_z)
grading.check(
    tuple(_out.shape[1:]) == (6, 6, 11),
    f"inject_z on symbolic Keras inputs (6, 6, 3) and (8,) must give (None, 6, 6, 11), got {_out.shape}",
)
### END HIDDEN TESTS

# %% [markdown]
# A Keras layer that calls your function, so the generator builder can place it at every level
# (`bicycle_unet_generator(..., z_layer=ZInjection)`), and a check that the generator really
# sees the code: its output for one input changes with z.


# %% tags=["z-layer"]
class ZInjection(keras.layers.Layer):
    """Your inject_z as a layer: called as layer(x, z) -> (B, H, W, C + nz)."""

    def call(self, x, z):
        return inject_z(x, z)

    def compute_output_shape(self, x_shape, z_shape):
        return (*x_shape[:-1], None if x_shape[-1] is None else x_shape[-1] + z_shape[-1])


if not GRADING:
    from i2ilab.models import bicycle_unet_generator

    probe = bicycle_unet_generator(IMAGE_SIZE, in_channels=1, nz=NZ, ngf=NGF, num_downs=NUM_DOWNS, z_layer=ZInjection)
    edges = np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32)
    two_codes = [probe([edges, np.full((1, NZ), v, np.float32)]) for v in (-1.0, 1.0)]
    print(
        f"G(A, z): {probe.count_params():,} parameters; z injected at {NUM_DOWNS} levels; "
        f"|G(A, -1) - G(A, +1)| = {float(np.abs(to_numpy(two_codes[0]) - to_numpy(two_codes[1])).mean()):.4f}"
    )
    del probe, edges, two_codes

# %% [markdown]
# ## 2. The two losses that tie codes to outputs
#
# The encoder $E(B)$ is VAE-like: it returns the mean $\mu$ and the log-variance $\log\sigma^2$
# of a Gaussian $q(z \mid B)$ (B, nz each). The **KL term** pulls $q$ towards the prior
# $\mathcal{N}(0, I)$ (Kingma & Welling 2014, appendix B; BicycleGAN eq. 6):
#
# $$\mathcal{L}_{KL} = -\tfrac12 \sum \big(1 + \log\sigma^2 - \mu^2 - \sigma^2\big),$$
#
# **summed** over the batch and the nz dimensions, as the authors' code (their weight
# $\lambda_{KL} = 0.01$ is tuned for a sum). The **latent regression** of the cLR-GAN (eq. 7)
# asks $E$ to read a random code back from $G$'s output: $\operatorname{mean}|E(G(A, z)) - z|$,
# with $E$'s mean $\mu$ as its point estimate.
#
# ### Exercise 2 (2 points): `kl_loss`
# ### Exercise 3 (1 point): `latent_regression_loss`
# They compute what the functions of the same names in `i2ilab.losses` compute, float32
# scalars. The trainer of Section 5 uses yours.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_kl", "schema_version": 3}
def kl_loss(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over batch and dimensions; mu, logvar (B, nz) -> scalar."""
    ### BEGIN SOLUTION
    mu, logvar = ops.cast(mu, "float32"), ops.cast(logvar, "float32")
    return -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_kl", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses

zeros = np.zeros((3, 4), np.float32)
grading.own_work("Exercise 2 (kl_loss)", kl_loss, _losses.kl_loss, run=lambda: kl_loss(zeros, zeros))
grading.assert_close(kl_loss(zeros, zeros), 0.0, "kl_loss(0, 0) (q is the prior: KL 0)", atol=1e-6)
grading.assert_close(
    kl_loss(np.full((1, 2), 2.0, np.float32), np.zeros((1, 2), np.float32)),
    4.0,
    "kl_loss(mu = [2, 2], logvar = 0) (0.5 * sum mu^2 = 4)",
)
grading.assert_close(
    kl_loss(np.zeros((2, 1), np.float32), np.full((2, 1), np.log(4.0), np.float32)),
    2 * 0.5 * (4.0 - 1.0 - np.log(4.0)),
    "kl_loss(mu = 0, variance 4) for 2 codes (a sum over the batch: 2 * 0.5 (4 - 1 - log 4))",
)
print("kl_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(61)
_mu, _lv = _rng.normal(size=(5, 8)).astype(np.float32), _rng.normal(size=(5, 8)).astype(np.float32)
grading.assert_close(kl_loss(_mu, _lv), _losses.kl_loss(_mu, _lv), "kl_loss of 5 random codes (nz 8)", rtol=1e-5)
grading.assert_close(
    kl_loss(_mu[:1], _lv[:1]), _losses.kl_loss(_mu[:1], _lv[:1]), "kl_loss of one code (not a mean)", rtol=1e-5
)
grading.assert_close(
    kl_loss(_mu.astype(np.float64), _lv.astype(np.float64)),
    _losses.kl_loss(_mu, _lv),
    "kl_loss of float64 codes",
    rtol=1e-5,
)
### END HIDDEN TESTS


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_latent", "schema_version": 3}
def latent_regression_loss(z, z_recon):
    """mean(|z_recon - z|) over batch and dimensions; z, z_recon (B, nz) -> scalar."""
    ### BEGIN SOLUTION
    return ops.mean(ops.abs(ops.cast(z_recon, "float32") - ops.cast(z, "float32")))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_latent", "points": 1, "schema_version": 3}
from i2ilab import losses as _losses

codes = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
grading.own_work(
    "Exercise 3 (latent_regression_loss)",
    latent_regression_loss,
    (_losses.latent_regression_loss, _losses.l1_loss),
    run=lambda: latent_regression_loss(codes, codes + 1.0),
)
grading.assert_close(latent_regression_loss(codes, codes), 0.0, "latent_regression_loss(z, z)", atol=1e-7)
grading.assert_close(
    latent_regression_loss(codes, codes + np.array([1.0, -3.0], np.float32)),
    2.0,
    "latent_regression_loss(z, z + [1, -3]) (mean |difference| = 2)",
)
print("latent_regression_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(62)
_z1, _z2 = _rng.normal(size=(4, 8)).astype(np.float32), _rng.normal(size=(4, 8)).astype(np.float32)
grading.assert_close(
    latent_regression_loss(_z1, _z2),
    _losses.latent_regression_loss(_z1, _z2),
    "latent_regression_loss of 4 random code pairs",
    rtol=1e-5,
)
grading.assert_close(
    latent_regression_loss(_z1[:1], 5.0 * _z2[:1]),
    _losses.latent_regression_loss(_z1[:1], 5.0 * _z2[:1]),
    "latent_regression_loss of a large difference (|d|, not d squared)",
    rtol=1e-5,
)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The two halves of the objective
#
# Each training batch holds two pairs $(A_1, B_1)$, $(A_2, B_2)$. With $\mu, \log\sigma^2 =
# E(B_1)$, $\epsilon \sim \mathcal{N}(0, I)$ and a random code $z \sim \mathcal{N}(0, I)$
# (BicycleGAN eq. 9, the authors' `bicycle_gan_model.py`):
#
# - **cVAE-GAN half**: $z_{enc} = \mu + \exp(\log\sigma^2 / 2)\,\epsilon$ (the
#   reparameterisation trick, so the gradient reaches $E$ through $\mu$ and $\sigma$);
#   $\hat B = G(A_1, z_{enc})$; terms: adversarial `G_GAN` $= $ `adversarial(D(B^))`, the
#   reconstruction `G_L1` $= \operatorname{mean}|\hat B - B_1|$ and `kl` $=$ your KL of
#   $(\mu, \log\sigma^2)$;
# - **cLR-GAN half**: $\tilde B = G(A_1, z)$ (the *same* $A_1$: the authors' code uses the first
#   half of the batch for both); terms: `G_GAN2` $=$ `adversarial(D2(B~))` with a *second*
#   discriminator, and `z_L1` $=$ your latent regression between $z$ and $\mu$ of
#   $E(\tilde B)$.
#
# `adversarial` maps a discriminator's output to G's GAN term (here the LSGAN loss summed over
# D's two scales); `generator([a, z])` is $G(A, z)$; `encoder(b)` returns `[mu, logvar]`. The
# trainer weighs and adds the five terms: $1 \cdot$ G_GAN $+ 1 \cdot$ G_GAN2 $+ 10 \cdot$ G_L1
# $+ 0.01 \cdot$ kl $+ 0.5 \cdot$ z_L1; the z loss trains G only (E would otherwise learn to
# read codes from G's artefacts). Then D learns $B_1$ vs $\hat B$ and D2 learns $B_2$ vs
# $\tilde B$.
#
# ### Exercise 4 (3 points): `cvae_gan_half`
# ### Exercise 5 (2 points): `clr_gan_half`
# Each returns `(fake, terms)`: the generated images and a dict of the unweighted terms named
# as above. The trainer of Section 5 calls yours at every step (`BicycleGAN(...,
# cvae_half=cvae_gan_half, clr_half=clr_gan_half)`). (Their tests use the library's KL and
# latent losses, so only these functions count here.)


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_cvae", "schema_version": 3}
def cvae_gan_half(generator, discriminator, a, b, mu, logvar, eps, adversarial):
    """B -> z -> B^: returns (fake (B, H, W, 3), {"G_GAN": ..., "G_L1": ..., "kl": ...})."""
    ### BEGIN SOLUTION
    z = mu + ops.exp(0.5 * logvar) * eps
    fake = generator([a, z])
    terms = {
        "G_GAN": adversarial(discriminator(fake)),
        "G_L1": ops.mean(ops.abs(fake - b)),
        "kl": kl_loss(mu, logvar),
    }
    return fake, terms
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_cvae", "points": 3, "schema_version": 3}
from i2ilab import losses as _losses
from i2ilab.training.bicyclegan import cvae_gan_terms as _cvae_gan_terms

with grading.using(globals(), kl_loss=_losses.kl_loss, latent_regression_loss=_losses.latent_regression_loss):

    def stand_in_generator(inputs):
        """G(A, z) = A + mean(z) at every pixel."""
        a_in, z_in = inputs
        return a_in + ops.mean(z_in, axis=-1)[:, None, None, None]

    def stand_in_discriminator(images):
        return 2.0 * images

    a_test = np.zeros((1, 2, 2, 3), np.float32)
    b_test = np.ones((1, 2, 2, 3), np.float32)
    mu_test = np.array([[1.0, 3.0]], np.float32)
    logvar_test = np.array([[0.0, np.log(4.0)]], np.float32)
    eps_test = np.array([[1.0, -1.0]], np.float32)

    def mean_adversarial(d_out):
        return ops.mean(d_out)

    args = (stand_in_generator, stand_in_discriminator, a_test, b_test, mu_test, logvar_test, eps_test)
    grading.own_work(
        "Exercise 4 (cvae_gan_half)", cvae_gan_half, _cvae_gan_terms, run=lambda: cvae_gan_half(*args, mean_adversarial)
    )
    got = cvae_gan_half(*args, mean_adversarial)
    grading.check(
        isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict),
        "cvae_gan_half must return (fake, terms) with terms a dict",
    )
    fake, terms = got
    grading.check(set(terms) >= {"G_GAN", "G_L1", "kl"}, f"terms must hold G_GAN, G_L1 and kl, got {sorted(terms)}")
    # z_enc = mu + sigma * eps = [1 + 1, 3 - 2] = [2, 1]: mean 1.5, so fake = 1.5 everywhere.
    grading.assert_close(fake, np.full((1, 2, 2, 3), 1.5), "fake = G(a, mu + exp(logvar / 2) * eps) (all 1.5)")
    grading.assert_close(terms["G_GAN"], 3.0, "G_GAN = adversarial(D(fake)) = mean(2 * 1.5)")
    grading.assert_close(terms["G_L1"], 0.5, "G_L1 = mean|fake - b| = |1.5 - 1|")
    grading.assert_close(terms["kl"], _losses.kl_loss(mu_test, logvar_test), "kl = kl_loss(mu, logvar)")
    print("cvae_gan_half: visible tests passed")
    ### BEGIN HIDDEN TESTS
    _rng = np.random.default_rng(71)
    _a = _rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
    _b = _rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
    _mu, _lv, _eps = (_rng.normal(size=(3, 2)).astype(np.float32) for _ in range(3))
    _w = _rng.normal(size=(2, 3)).astype(np.float32)

    def _gen(inputs, training=False):
        _ai, _zi = inputs
        return ops.tanh(_ai + ops.matmul(_zi, _w)[:, None, None, :])

    def _dis(images, training=False):  # a two-scale D: a list of maps
        return [images[..., :1] * 3.0, ops.mean(images, axis=(1, 2))]

    def _adv(outputs):
        return sum(ops.mean(ops.square(o - 1.0)) for o in outputs)

    _got = cvae_gan_half(_gen, _dis, _a, _b, _mu, _lv, _eps, _adv)
    _want = _cvae_gan_terms(_gen, _dis, _a, _b, _mu, _lv, _eps, _adv, training=False)
    grading.assert_close(_got[0], _want[0], "fake for 3 random pairs (z = mu + exp(logvar / 2) * eps)", rtol=1e-5)
    for _k in ("G_GAN", "G_L1", "kl"):
        grading.assert_close(_got[1][_k], _want[1][_k], f"{_k} for 3 random pairs and a two-scale D", rtol=1e-5)
    ### END HIDDEN TESTS


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_clr", "schema_version": 3}
def clr_gan_half(generator, encoder, discriminator2, a, z, adversarial):
    """z -> B~ -> z^: returns (fake (B, H, W, 3), {"G_GAN2": ..., "z_L1": ...})."""
    ### BEGIN SOLUTION
    fake = generator([a, z])
    mu2, _ = encoder(fake)
    terms = {"G_GAN2": adversarial(discriminator2(fake)), "z_L1": latent_regression_loss(z, mu2)}
    return fake, terms
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_clr", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses
from i2ilab.training.bicyclegan import clr_gan_terms as _clr_gan_terms

with grading.using(globals(), kl_loss=_losses.kl_loss, latent_regression_loss=_losses.latent_regression_loss):

    def stand_in_generator(inputs):
        """G(A, z) = A + mean(z) at every pixel."""
        a_in, z_in = inputs
        return a_in + ops.mean(z_in, axis=-1)[:, None, None, None]

    def stand_in_encoder(images):
        """E(B) = (mean of B, twice it) per code dimension: mu, logvar (B, 2)."""
        m = ops.mean(images, axis=(1, 2, 3))[:, None] * ops.ones((1, 2))
        return [m, 2.0 * m]

    def mean_adversarial(d_out):
        return ops.mean(d_out)

    a_test = np.zeros((1, 2, 2, 3), np.float32)
    z_test = np.array([[1.0, 3.0]], np.float32)
    args = (stand_in_generator, stand_in_encoder, lambda images: 2.0 * images, a_test, z_test)
    grading.own_work(
        "Exercise 5 (clr_gan_half)", clr_gan_half, _clr_gan_terms, run=lambda: clr_gan_half(*args, mean_adversarial)
    )
    got = clr_gan_half(*args, mean_adversarial)
    grading.check(
        isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict),
        "clr_gan_half must return (fake, terms) with terms a dict",
    )
    fake, terms = got
    grading.check(set(terms) >= {"G_GAN2", "z_L1"}, f"terms must hold G_GAN2 and z_L1, got {sorted(terms)}")
    grading.assert_close(fake, np.full((1, 2, 2, 3), 2.0), "fake = G(a, z) (all mean(z) = 2)")
    grading.assert_close(terms["G_GAN2"], 4.0, "G_GAN2 = adversarial(D2(fake)) = mean(2 * 2)")
    # E(fake) gives mu = [2, 2] (and logvar [4, 4], which must not be used): mean |[2, 2] - [1, 3]| = 1.
    grading.assert_close(terms["z_L1"], 1.0, "z_L1 = latent_regression_loss(z, mu of E(fake)), not logvar")
    print("clr_gan_half: visible tests passed")
    ### BEGIN HIDDEN TESTS
    _rng = np.random.default_rng(72)
    _a = _rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
    _z = _rng.normal(size=(3, 2)).astype(np.float32)
    _w = _rng.normal(size=(2, 3)).astype(np.float32)
    _v = _rng.normal(size=(3, 2)).astype(np.float32)

    def _gen(inputs, training=False):
        _ai, _zi = inputs
        return ops.tanh(_ai + ops.matmul(_zi, _w)[:, None, None, :])

    def _enc(images, training=False):
        _m = ops.matmul(ops.mean(images, axis=(1, 2)), _v)
        return [_m, -_m]

    def _dis(images, training=False):
        return [images[..., :1] * 3.0, ops.mean(images, axis=(1, 2))]

    def _adv(outputs):
        return sum(ops.mean(ops.square(o - 1.0)) for o in outputs)

    _got = clr_gan_half(_gen, _enc, _dis, _a, _z, _adv)
    _want = _clr_gan_terms(_gen, _enc, _dis, _a, _z, _adv, training=False)
    grading.assert_close(_got[0], _want[0], "fake = G(a, z) for 3 random codes", rtol=1e-5)
    for _k in ("G_GAN2", "z_L1"):
        grading.assert_close(_got[1][_k], _want[1][_k], f"{_k} for 3 random codes and a two-scale D2", rtol=1e-5)
    ### END HIDDEN TESTS

# %% [markdown]
# ## 4. The data, and a measure of coverage
#
# The built-in `edges2palette` set draws one plain object (an ellipse, a rectangle or a
# triangle); A is its edge map, B the object filled with one of four colours (red, green, blue,
# yellow) drawn at random, with a shading that depends on the shape only. So A says everything
# but the colour: every input has exactly **four true outputs**, and the set keeps all four for
# every test input (`all_outputs`, (N, 4, S, S, 3)), so we can measure what a model's samples
# cover. Full mode uses edges2shoes (edges -> photos of shoes; no true set of outputs there).
#
# To compare models we draw `N_SAMPLES` = 8 random codes per input and measure
# - **diversity**: the mean pairwise L1 distance between an input's 8 outputs (Lab 4's measure;
#   the true set's own diversity is the target, a model that ignores $z$ scores 0);
# - **fidelity**: the mean L1 distance from each output to its *nearest* true output (0 when
#   every sample is one of the true outputs; a grey blend of the colours is far from all);
# - **coverage**: your exercise.
#
# ### Exercise 6 (2 points): `coverage`
# For each input, find for each of its K samples the nearest of its T true outputs (mean
# absolute pixel difference); coverage is the share of the T true outputs that are the nearest
# of at least one sample; return the mean over the N inputs. It computes what
# `i2ilab.metrics.multimodal_scores(samples, true_outputs)["coverage"]` computes. A model whose
# outputs are all one colour covers 1/4; one that reaches all four, 1.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_coverage", "schema_version": 3}
def coverage(samples, true_outputs):
    """samples (N, K, H, W, C), true_outputs (N, T, H, W, C) -> mean share of true outputs reached (float)."""
    ### BEGIN SOLUTION
    samples = np.asarray(samples, np.float64)
    true_outputs = np.asarray(true_outputs, np.float64)
    shares = []
    for outs, truth in zip(samples, true_outputs, strict=True):
        d = np.abs(outs[:, None] - truth[None]).mean(axis=(2, 3, 4))  # (K, T)
        shares.append(len(set(d.argmin(axis=1).tolist())) / len(truth))
    return float(np.mean(shares))
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_coverage", "points": 2, "schema_version": 3}
from i2ilab import metrics as _metrics

truth_test = np.stack([np.full((2, 2, 3), v, np.float32) for v in (-1.0, -0.3, 0.3, 1.0)])[None]  # (1, 4, 2, 2, 3)
grading.own_work(
    "Exercise 6 (coverage)",
    coverage,
    (_metrics.multimodal_scores, _metrics.mean_pairwise_distance),
    run=lambda: coverage(truth_test, truth_test),
)
grading.assert_close(coverage(truth_test, truth_test), 1.0, "coverage of the true outputs themselves (all 4 reached)")
grading.assert_close(
    coverage(np.repeat(truth_test[:, :1] + 0.1, 6, axis=1), truth_test),
    0.25,
    "coverage of 6 samples all near the first true output (1 of 4)",
)
near = truth_test[:, [0, 0, 3, 3]] - 0.05  # two samples near output 0, two near output 3
grading.assert_close(coverage(near, truth_test), 0.5, "coverage of samples near outputs 0, 0, 3 and 3 (2 of 4)")
grading.assert_close(
    coverage(np.concatenate([near, truth_test]), np.concatenate([truth_test, truth_test])),
    0.75,
    "coverage averaged over 2 inputs (0.5 and 1.0)",
)
print("coverage: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(81)
_truth = _rng.uniform(-1, 1, (5, 4, 3, 3, 3)).astype(np.float32)
_pick = _rng.integers(0, 4, (5, 7))
_samples = np.take_along_axis(_truth, _pick[:, :, None, None, None], axis=1) + 0.1 * _rng.normal(size=(5, 7, 3, 3, 3))
grading.assert_close(
    coverage(_samples, _truth),
    _metrics.multimodal_scores(_samples, _truth)["coverage"],
    "coverage of 7 noisy samples of random true outputs, for 5 inputs",
    rtol=1e-6,
)
_few = _truth[:, :3]
grading.assert_close(
    coverage(_samples, _few),
    _metrics.multimodal_scores(_samples, _few)["coverage"],
    "coverage against 3 true outputs per input (T is not always 4)",
    rtol=1e-6,
)
_blend = np.repeat(_truth.mean(axis=1, keepdims=True), 3, axis=1)
grading.assert_close(
    coverage(_blend, _truth),
    _metrics.multimodal_scores(_blend, _truth)["coverage"],
    "coverage of 3 identical blended samples per input",
    rtol=1e-6,
)
### END HIDDEN TESTS

# %% tags=["data-pipeline"]
import tensorflow as tf

from i2ilab.data import paired_dataset

if FULL:
    from i2ilab.data.download import download_dataset

    with notebook.full_mode_data():  # offline: one message saying how to run smoke mode
        ROOT = download_dataset("edges2shoes", "pix2pix", out=DATA_DIR)
    train_ds = paired_dataset(
        ROOT, "train", image_size=IMAGE_SIZE, jitter=False, batch_size=BATCH_SIZE, seed=SEED, drop_remainder=True
    ).map(lambda a, b: (a[..., :1], b))  # edges as one channel (the reference's input_nc 1)
    test_a, test_b = (
        to_numpy(t)
        for t in next(iter(paired_dataset(ROOT, "val", image_size=IMAGE_SIZE, batch_size=N_TEST, shuffle=False)))
    )
    test_a, true_outputs = test_a[..., :1], None
elif not GRADING:
    from i2ilab.data import synthetic
    from i2ilab.data.synthetic import PALETTE_NAMES

    train = synthetic.generate("edges2palette", 512, IMAGE_SIZE, seed=SEED, split="train")
    test = synthetic.generate("edges2palette", N_TEST, IMAGE_SIZE, seed=SEED, split="test")
    train_ds = tf.data.Dataset.from_tensor_slices((train["A"][..., :1], train["B"]))
    train_ds = train_ds.shuffle(512, seed=SEED).repeat().batch(BATCH_SIZE, drop_remainder=True)
    test_a, test_b, true_outputs = test["A"][..., :1], test["B"], test["all_outputs"]
if not GRADING:
    print(f"test inputs {test_a.shape}, targets {test_b.shape}")
    if true_outputs is None:
        viz.show_grid({"A (edges)": test_a, "B": test_b}, max_rows=3)
    else:
        viz.show_grid(
            {"A (edges)": test_a, **{f"true: {n}": true_outputs[:, k] for k, n in enumerate(PALETTE_NAMES)}},
            max_rows=3,
        )

# %% [markdown]
# ## 5. Four models
#
# All four are `i2ilab.training.BicycleGAN` with your pieces (your `ZInjection` in G, your
# halves and losses in the step); only the loss weights and the encoder differ (Zhu et al. Sec.
# 4, the baselines):
#
# | model | E | terms |
# |---|---|---|
# | pix2pix + noise | none: $z = \epsilon$, pure noise (`noise_encoder`), at G's input only | G_GAN, G_L1 (weight 100, pix2pix's) |
# | cVAE-GAN | E(B) | G_GAN, G_L1, kl |
# | cLR-GAN | E(G(A, z)) only | G_GAN2, z_L1 (which also trains E here, the paper's eq. 8) |
# | BicycleGAN | both | all five |
#
# Networks (smoke): G a 5-level U-Net with 16 channels, E two residual blocks, D and D2 two
# scales of a 2-layer PatchGAN, all as the reference's at 32x32; 1500 steps of batch 2 each,
# 25 to 40 s per model on two CPU cores (a half whose weights are all 0 is not computed).

# %% tags=["build-models"]
from i2ilab.models import bicycle_discriminator, bicycle_encoder, bicycle_unet_generator, noise_encoder
from i2ilab.training import BicycleGAN, default_adam

VARIANTS = {
    "pix2pix + noise": dict(lambda_gan2=0.0, lambda_kl=0.0, lambda_z=0.0, lambda_l1=100.0),
    "cVAE-GAN": dict(lambda_gan2=0.0, lambda_z=0.0),
    "cLR-GAN": dict(lambda_gan=0.0, lambda_l1=0.0, lambda_kl=0.0, z_loss_trains_encoder=True),
    "BicycleGAN": dict(),
}


def build(variant):
    """A fresh, compiled trainer (fixed seed) of one variant, made of your pieces."""
    keras.utils.set_random_seed(SEED)
    generator = bicycle_unet_generator(
        IMAGE_SIZE,
        in_channels=1,
        nz=NZ,
        ngf=NGF,
        num_downs=NUM_DOWNS,
        where_add="input" if variant == "pix2pix + noise" else "all",
        dropout=FULL,
        z_layer=ZInjection,
    )  # your Exercise 1 at every level (pix2pix + noise: at the input only)
    if variant == "pix2pix + noise":
        encoder = noise_encoder(IMAGE_SIZE, nz=NZ)
    else:
        encoder = bicycle_encoder(IMAGE_SIZE, nz=NZ, ndf=NGF, n_blocks=E_BLOCKS)
    discriminators = [bicycle_discriminator(IMAGE_SIZE, ndf=NDF, n_layers=D_LAYERS, name=f"d{k}") for k in (1, 2)]
    trainer = BicycleGAN(
        generator,
        encoder,
        *discriminators,
        seed=SEED,
        kl_loss=kl_loss,  # your Exercise 2
        latent_loss=latent_regression_loss,  # your Exercise 3
        cvae_half=cvae_gan_half,  # your Exercise 4
        clr_half=clr_gan_half,  # your Exercise 5
        **VARIANTS[variant],
    )
    trainer.compile(g_optimizer=default_adam(LEARNING_RATE), d_optimizer=default_adam(LEARNING_RATE))
    return trainer


def train(trainer):
    """Fit for STEPS steps (one line per epoch); returns the Keras History."""
    t0 = time.time()
    history = trainer.fit(
        train_ds, steps_per_epoch=STEPS // EPOCHS, epochs=EPOCHS, verbose=0, callbacks=[notebook.EpochLog()]
    )
    print(f"trained in {time.time() - t0:.0f} s")
    return history


# %%
if GRADING:
    print("nbgrader is grading: training skipped")
else:
    models, histories = {}, {}
    for variant in VARIANTS:
        print(f"--- {variant}")
        models[variant] = build(variant)
        histories[variant] = train(models[variant])

# %% [markdown]
# ## 6. One input, many outputs
#
# Each block of rows: four test inputs; the columns: the output with the code *encoded* from
# the true B (`E(B)`'s mean), then the same four random codes for every model.

# %%
if not GRADING:
    rows = test_a[:4]
    codes = np.random.default_rng(SEED).standard_normal((4, NZ)).astype(np.float32)
    for variant, trainer in models.items():
        columns = {"input": rows, "target": test_b[:4], "encoded": trainer.translate(rows, trainer.encode(test_b[:4]))}
        for k, code in enumerate(codes):
            columns[f"z {k + 1}"] = trainer.translate(rows, code)
        print(variant)
        viz.show_grid(columns, max_rows=4)

# %% [markdown]
# ## 7. Diversity, coverage and fidelity
#
# For every model: 8 random codes for each of the `N_TEST` test inputs; diversity (relative to
# the true set's), your coverage, and fidelity (the distance to the nearest true output), next
# to the true set itself. (Full mode has no true sets: there only diversity is measured.)


# %%
def samples_of(trainer, inputs, k=N_SAMPLES):
    """(N, k, S, S, 3): k random-code outputs per input (codes from seeds 100, 101, ...)."""
    return np.stack([trainer.translate(inputs, seed=100 + j) for j in range(k)], axis=1)


if not GRADING:
    from i2ilab.metrics import mean_pairwise_distance, multimodal_scores

    numbers = {}
    for variant, trainer in models.items():
        samples = samples_of(trainer, test_a)
        if true_outputs is None:
            numbers[variant] = {"diversity": float(np.mean([mean_pairwise_distance(s) for s in samples]))}
            continue
        scores = multimodal_scores(samples, true_outputs)
        numbers[variant] = {
            "diversity": scores["diversity"],
            "relative diversity": scores["relative_diversity"],
            "coverage": coverage(samples, true_outputs),  # your Exercise 6
            "fidelity": scores["fidelity"],
        }
    if true_outputs is not None:
        numbers["true outputs"] = {
            "diversity": scores["true_diversity"],
            "relative diversity": 1.0,
            "coverage": 1.0,
            "fidelity": 0.0,
        }
    print(f"{'':>16s}" + "".join(f"{k:>20s}" for k in next(iter(numbers.values()))))
    for variant, row in numbers.items():
        print(f"{variant:>16s}" + "".join(f"{v:20.3f}" for v in row.values()))

    if true_outputs is not None:
        fig = Figure(figsize=(5.5, 4), layout="constrained")
        ax = fig.add_subplot(1, 1, 1)
        for k, (variant, row) in enumerate(numbers.items()):
            ax.scatter(row["fidelity"], row["relative diversity"], s=80, color=f"C{k}", label=variant)
        ax.set(
            xlabel="fidelity: L1 to the nearest true output (lower is better)",
            ylabel="diversity / true diversity",
            title="Diverse and faithful: the top left corner (BicycleGAN Fig. 6)",
        )
        ax.legend(fontsize=8)
        viz.show(fig)

# %% [markdown]
# ## 8. Part 2: pix2pixHD, high resolution from label maps
#
# pix2pixHD (Wang, Liu, Zhu, Tao, Kautz & Catanzaro, CVPR 2018) translates semantic label
# maps (Cityscapes: 35 classes) into 2048x1024 photos. Three of its changes to pix2pix matter
# at every size (Sec. 3.2-3.3):
#
# - a **multi-scale discriminator**: the same PatchGAN at 1, 1/2 and 1/4 of the resolution, so
#   the coarsest judges the global layout and the finest the texture;
# - a **feature matching** loss: G must make D's intermediate features of the fake match those
#   of the real photo, at every layer and scale, which gives G a dense, stable signal;
# - an **instance boundary map**: a label map cannot tell two touching cars apart (they are one
#   region of class "car"); the instance ids can, and the generator gets their boundaries as one
#   more input channel.
#
# $$\mathcal{L}_{FM} = \sum_{k=1}^{num\_D}\ \sum_{i=1}^{T} \frac{w}{num\_D}\,\frac{4}{T}\,
#   \operatorname{mean}\big|D_k^{(i)}(s, x) - D_k^{(i)}(s, G(s))\big| ,$$
#
# over the $T$ intermediate feature maps of each scale (all of D_k's maps but its final
# logits; $T = $ n_layers + 1) with $w = \lambda_{feat} = 10$, the real features held constant
# (the authors' `pix2pixHD_model.py`: `D_weights = 1 / num_D`, `feat_weights = 4 / (n_layers + 1)`).
#
# ### Exercise 7 (2 points): `feature_matching_loss`
# `fake_outputs` and `real_outputs` are what the multi-scale D returns for the fake and the
# real pair: a list over scales, each a list of maps whose **last** is the logits (not matched).
# Return the float32 scalar above; the real features must not receive a gradient
# (`ops.stop_gradient`). It computes what `i2ilab.losses.feature_matching_loss` computes; the
# trainer of Section 11 uses yours.


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_feature_matching", "schema_version": 3}
def feature_matching_loss(fake_outputs, real_outputs, weight=10.0):
    """pix2pixHD feature matching over scales and intermediate features (logits excluded) -> scalar."""
    ### BEGIN SOLUTION
    num_d = len(fake_outputs)
    total = 0.0
    for fake_maps, real_maps in zip(fake_outputs, real_outputs, strict=True):
        n_features = len(fake_maps) - 1
        for f, r in zip(fake_maps[:-1], real_maps[:-1], strict=True):
            difference = ops.cast(f, "float32") - ops.stop_gradient(ops.cast(r, "float32"))
            total = total + weight / num_d * 4.0 / n_features * ops.mean(ops.abs(difference))
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_feature_matching", "points": 2, "schema_version": 3}
from i2ilab import losses as _losses

one_scale_fake = [
    [np.ones((1, 2, 2, 4), np.float32), np.ones((1, 1, 1, 8), np.float32), np.full((1, 1, 1, 1), 9.0, np.float32)]
]
one_scale_real = [
    [np.zeros((1, 2, 2, 4), np.float32), np.full((1, 1, 1, 8), 3.0, np.float32), np.zeros((1, 1, 1, 1), np.float32)]
]
grading.own_work(
    "Exercise 7 (feature_matching_loss)",
    feature_matching_loss,
    _losses.feature_matching_loss,
    run=lambda: feature_matching_loss(one_scale_fake, one_scale_real),
)
grading.assert_close(
    feature_matching_loss(one_scale_real, one_scale_real), 0.0, "feature_matching_loss(real, real)", atol=1e-7
)
# Two intermediate maps (T = 2), differences 1 and 2; the logits (9 vs 0) are not matched: 10 * 4/2 * (1 + 2).
grading.assert_close(
    feature_matching_loss(one_scale_fake, one_scale_real),
    60.0,
    "one scale, two features with mean |difference| 1 and 2 (10 * 4/2 * 3; the logits are not matched)",
)
grading.assert_close(
    feature_matching_loss(2 * one_scale_fake, 2 * one_scale_real, weight=1.0),
    6.0,
    "the same scale twice, weight 1 (each scale weighs 1 / num_D: 2 * 1/2 * 4/2 * 3)",
)
print("feature_matching_loss: visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(91)


def _scale(n_maps, size):
    return [
        _rng.normal(size=(2, max(size >> k, 1), max(size >> k, 1), 4 << k)).astype(np.float32)
        for k in range(n_maps - 1)
    ] + [_rng.normal(size=(2, 3, 3, 1)).astype(np.float32)]


_fake = [_scale(5, 16), _scale(5, 8), _scale(5, 4)]
_real = [_scale(5, 16), _scale(5, 8), _scale(5, 4)]
grading.assert_close(
    feature_matching_loss(_fake, _real),
    _losses.feature_matching_loss(_fake, _real),
    "3 scales of 4 random features each (n_layers 3) and logits",
    rtol=1e-5,
)
_short = [_scale(3, 8), _scale(3, 4)]
_short_real = [_scale(3, 8), _scale(3, 4)]
grading.assert_close(
    feature_matching_loss(_short, _short_real, weight=2.5),
    _losses.feature_matching_loss(_short, _short_real, weight=2.5),
    "2 scales of 2 features (n_layers 1: 4/T = 2), weight 2.5",
    rtol=1e-5,
)
_f = keras.Variable(_fake[0][0])
_r = keras.Variable(_real[0][0])
if keras.backend.backend() == "tensorflow":
    import tensorflow as _tf

    with _tf.GradientTape() as _tape:
        _loss = feature_matching_loss([[_f, _fake[0][-1]]], [[_r, _real[0][-1]]])
    _grads = _tape.gradient(_loss, [_f, _r])
    grading.check(_grads[0] is not None, "the fake features must receive a gradient")
    grading.check(
        _grads[1] is None or float(np.abs(to_numpy(_grads[1])).max()) == 0.0,
        "the real features must not receive a gradient (ops.stop_gradient on them)",
    )
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 8 (2 points): `edge_map`
# The instance boundary map (Sec. 3.3; the authors' `get_edges`): a pixel is 1 where its
# instance id differs from that of its left, right, upper or lower neighbour (**both** pixels of
# a differing pair are marked), else 0. instances (B, H, W, 1) integer ids -> (B, H, W, 1)
# float32. Use `keras.ops` (slicing, `!=`, `ops.maximum`, `ops.pad` or `ops.concatenate`): your
# function runs inside the trainer's compiled step (`Pix2PixHD(..., edge_map=edge_map)`).


# %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_edge_map", "schema_version": 3}
def edge_map(instances):
    """1 where an instance id differs from a 4-neighbour's (both sides), else 0: (B, H, W, 1) -> float32."""
    ### BEGIN SOLUTION
    ids = ops.convert_to_tensor(instances)
    dx = ops.cast(ids[:, :, 1:] != ids[:, :, :-1], "float32")  # (B, H, W - 1, 1)
    dy = ops.cast(ids[:, 1:] != ids[:, :-1], "float32")  # (B, H - 1, W, 1)
    ex = ops.maximum(ops.pad(dx, [[0, 0], [0, 0], [0, 1], [0, 0]]), ops.pad(dx, [[0, 0], [0, 0], [1, 0], [0, 0]]))
    ey = ops.maximum(ops.pad(dy, [[0, 0], [0, 1], [0, 0], [0, 0]]), ops.pad(dy, [[0, 0], [1, 0], [0, 0], [0, 0]]))
    return ops.maximum(ex, ey)
    ### END SOLUTION


# %% nbgrader={"grade": true, "solution": false, "locked": true, "grade_id": "test_edge_map", "points": 2, "schema_version": 3}
from i2ilab.models import instance_edge_map as _instance_edge_map

two_cars = np.zeros((1, 4, 6, 1), np.int32)
two_cars[0, 1:3, 1:3, 0] = 3000
two_cars[0, 1:3, 3:5, 0] = 3001  # touching the first car on its right
grading.own_work("Exercise 8 (edge_map)", edge_map, _instance_edge_map, run=lambda: edge_map(two_cars))
edges_test = to_numpy(edge_map(two_cars))
grading.check(edges_test.shape == (1, 4, 6, 1), f"edge_map keeps the shape (1, 4, 6, 1), got {edges_test.shape}")
grading.check(
    float(edges_test.sum()) > 0 and set(np.unique(edges_test).tolist()) <= {0.0, 1.0}, "edge_map holds 0s and 1s"
)
grading.check(
    edges_test[0, 1, 2, 0] == 1 and edges_test[0, 1, 3, 0] == 1,
    "both pixels where the two cars touch, (1, 2) and (1, 3), must be 1",
)
grading.check(edges_test[0, 0, 0, 0] == 0, "a background pixel with background neighbours, (0, 0), must be 0")
grading.check(float(to_numpy(edge_map(np.full((1, 3, 3, 1), 7, np.int32))).max()) == 0, "one instance: no edges")
print("edge_map: visible tests passed")
### BEGIN HIDDEN TESTS
_ids = np.random.default_rng(93).integers(0, 4, (2, 9, 11, 1)).astype(np.int32) * 1000
grading.assert_close(edge_map(_ids), _instance_edge_map(_ids), "edge_map of 2 random id maps (9 x 11)", atol=0)
_stripe = np.zeros((1, 5, 5, 1), np.int32)
_stripe[0, :, 2] = 26001
grading.assert_close(
    edge_map(_stripe), _instance_edge_map(_stripe), "edge_map of a one-pixel-wide vertical stripe", atol=0
)
grading.assert_close(
    edge_map(_stripe.transpose(0, 2, 1, 3)),
    _instance_edge_map(_stripe.transpose(0, 2, 1, 3)),
    "edge_map of a horizontal stripe (vertical neighbours count too)",
    atol=0,
)
grading.assert_close(edge_map(_ids[:, :1]), _instance_edge_map(_ids[:, :1]), "edge_map of a one-row map", atol=0)
### END HIDDEN TESTS

# %% [markdown]
# ## 9. Street scenes with instances
#
# The built-in `streets` set draws sky, buildings and a road with two to four cars in a row
# that touch or overlap; each car has its own colour, and where two cars meet the photo shows a
# dark seam. The label map (class ids, here one-hot, 4 classes) shows the cars as *one* region;
# the instance map (Cityscapes ids: car k is 3000 + k) separates them. Full mode uses the same
# set at 256x256 (Cityscapes itself needs a login to download).

# %% tags=["hd-data"]
from scipy import ndimage

from i2ilab.data.synthetic import generate as _generate

if not GRADING:
    HD_SIZE = 256 if FULL else 32
    HD_STEPS = 20000 if FULL else 800
    streets_train = _generate("streets", 512, HD_SIZE, seed=SEED, split="train")
    streets_test = _generate("streets", N_TEST, HD_SIZE, seed=SEED, split="test")
    N_CLASSES = 4
    CAR = 3

    def hd_inputs(data):
        """((one-hot labels (N, S, S, 4), instance ids (N, S, S, 1)), photos (N, S, S, 3))."""
        one_hot = np.eye(N_CLASSES, dtype=np.float32)[data["labels"]]
        return (one_hot, data["instances"][..., None]), data["B"]

    (hd_train_x, hd_train_y), ((hd_labels, hd_instances), hd_photos) = hd_inputs(streets_train), hd_inputs(streets_test)
    hd_edges = to_numpy(edge_map(hd_instances))  # your Exercise 8
    car_regions = [ndimage.label(labels == CAR)[1] for labels in streets_test["labels"]]
    cars = [len(set(ids[ids >= 1000].tolist())) for ids in streets_test["instances"]]
    print(
        f"{sum(cars)} cars in {N_TEST} test scenes, but the label maps show {sum(car_regions)} car regions: "
        f"{sum(c - r for c, r in zip(cars, car_regions, strict=True))} cars touch another and exist only in the instance map"
    )
    viz.show_grid({"labels": streets_test["A"], "instance edges": hd_edges * 2.0 - 1.0, "photo": hd_photos}, max_rows=3)

# %% [markdown]
# ## 10. The largest size a CPU can train
#
# pix2pixHD's full networks are big (the 512p global generator has 182.5 M parameters) and its
# cost grows with the number of pixels. The cell below times one training step of this lab's
# small networks (16 channels, 3 downsamplings, 3 residual blocks, two-scale D) at three sizes
# on your machine, and how many steps fit in a minute. Part 2 trains at 32x32 in smoke mode.

# %%
from i2ilab.models import global_generator, hd_discriminator
from i2ilab.training import Pix2PixHD


def build_hd(image_size, num_d, feature_matching):
    """A compiled Pix2PixHD trainer (fixed seed) with your edge map and feature matching; no VGG term."""
    keras.utils.set_random_seed(SEED)
    ngf = 64 if FULL else 16
    generator = global_generator(
        image_size, in_channels=N_CLASSES + 1, ngf=ngf, n_downsampling=4 if FULL else 3, n_blocks=9 if FULL else 3
    )
    discriminator = hd_discriminator(
        image_size, in_channels=N_CLASSES + 4, ndf=ngf, n_layers=3 if FULL else 2, num_D=num_d
    )
    trainer = Pix2PixHD(
        generator,
        discriminator,
        vgg="imagenet" if FULL else None,  # the perceptual term needs ImageNet weights: full mode only
        feature_matching=feature_matching,
        feature_matching_loss=feature_matching_loss,  # your Exercise 7
        edge_map=edge_map,  # your Exercise 8
    )
    trainer.compile(g_optimizer=default_adam(2e-4), d_optimizer=default_adam(2e-4))
    return trainer


if not GRADING:
    step_seconds = {}
    for size in (32, 64, 128):
        probe = build_hd(size, 2, True)
        batch = _generate("streets", 1, size, seed=SEED, split="test")
        (x_one, i_one), y_one = hd_inputs(batch)
        probe.train_on_batch((x_one, i_one), y_one)  # compiles
        t0 = time.perf_counter()
        for _ in range(3):
            probe.train_on_batch((x_one, i_one), y_one)
        step_seconds[size] = (time.perf_counter() - t0) / 3
        print(
            f"{size:4d} px: {1000 * step_seconds[size]:6.1f} ms per step, {60 / step_seconds[size]:6.0f} steps per minute"
        )
    del probe

# %% [markdown]
# ## 11. What multi-scale D and feature matching change
#
# Two pix2pixHD models on the same data, both with your edge map in G's input, `HD_STEPS`
# steps of batch 1 each: a **single-scale D without feature matching** (pix2pix's objective
# on pix2pixHD's generator) and **two scales with your feature matching**. We measure the L1
# distance of the outputs to the true photos, and whether the seams between touching cars are
# drawn: the mean brightness inside cars minus that on the car-car seams (the real photos': about
# 0.65; 0 = no seam).


# %%
def car_seams(instances, labels):
    """Car pixels next to a different car (4-neighbours): (N, S, S) bool."""
    car = labels == CAR
    seam = np.zeros_like(car)
    for axis in (1, 2):
        for shift in (1, -1):
            seam |= car & np.roll(car, shift, axis) & (np.roll(instances, shift, axis) != instances)
    return seam


def seam_contrast(images):
    """Mean brightness of car interiors (no edge) minus that of car-car seams, over the test scenes."""
    brightness = images.mean(axis=-1)
    return float(brightness[car_inside].mean() - brightness[seams].mean())


if GRADING:
    print("nbgrader is grading: training skipped")
else:
    seams = car_seams(streets_test["instances"], streets_test["labels"])
    car_inside = (streets_test["labels"] == CAR) & (hd_edges[..., 0] == 0)
    hd_data = tf.data.Dataset.from_tensor_slices((hd_train_x, hd_train_y)).shuffle(512, seed=SEED).repeat().batch(1)
    hd_numbers = {"real photos": {"L1 to the photo": 0.0, "seam contrast": seam_contrast(hd_photos)}}
    hd_models = {}
    for name, num_d, fm in (("1 scale, no FM", 1, False), ("2 scales + FM", 2, True)):
        print(f"--- {name}")
        hd_models[name] = build_hd(HD_SIZE, num_d, fm)
        t0 = time.time()
        hd_models[name].fit(
            hd_data, steps_per_epoch=HD_STEPS // 2, epochs=2, verbose=0, callbacks=[notebook.EpochLog()]
        )
        print(f"trained in {time.time() - t0:.0f} s")
        out = hd_models[name].translate((hd_labels, hd_instances))
        hd_numbers[name] = {
            "L1 to the photo": float(np.abs(out - hd_photos).mean()),
            "seam contrast": seam_contrast(out),
        }
    for name, row in hd_numbers.items():
        print(f"{name:>16s}" + "".join(f"  {k} {v:.3f}" for k, v in row.items()))
    viz.show_grid(
        {
            "labels": streets_test["A"],
            "edges": hd_edges * 2.0 - 1.0,
            **{name: model.translate((hd_labels, hd_instances)) for name, model in hd_models.items()},
            "photo": hd_photos,
        },
        max_rows=4,
    )

# %% [markdown]
# ## 12. Questions
#
# ### Question 1 (3 points): mode collapse
# pix2pix + noise was given a random code at every step. What happened to it, and why do the
# pix2pix losses make ignoring $z$ the easy solution? Relate the grids and numbers of
# pix2pix + noise and cVAE-GAN to mode collapse.

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_collapse", "points": 3, "schema_version": 3}
# **Model answer.** pix2pix + noise produces (almost) the same output for every code: its
# diversity is a small fraction of the true set's and it covers one or two of the four
# colours per input (coverage 0.25-0.47 in our runs, against the cVAE-GAN's 0.49-0.84). Nothing in its objective rewards using $z$: the L1 term compares the
# output with the one B of the pair, whose colour is independent of the noise, so the best
# L1 answer for any noise value is the same compromise colour (a blend or the median), and
# the discriminator only asks for a realistic image, which one colour already is. So the
# generator learns a deterministic function of A and treats $z$ as a nuisance: a collapse onto
# one mode (or a blend between modes) of the conditional distribution $p(B \mid A)$. The
# cVAE-GAN's codes are *informative* (they are encoded from the true B), so G must use them to
# rebuild B; its "encoded" column has the right colours. But at test time random codes from
# the prior may fall where E never put a code (the KL term is weak), so its random samples are
# less diverse or less faithful than the encoded ones.

# %% [markdown]
# ### Question 2 (3 points): why both directions
# Explain why BicycleGAN needs both the cVAE-GAN and the cLR-GAN. What does each half alone get
# wrong (use your numbers and grids), and why must the code be both *encoded* (B -> z) and
# *recovered* (z -> B -> z)?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_bicycle", "points": 3, "schema_version": 3}
# **Model answer.** Encoding ($B \to z \to \hat B$) makes the codes carry information about
# the output that the input does not, here the colour, and gives a direct reconstruction
# signal: G learns to obey a code. But G is then only trained on *encoded* codes; random codes
# from the prior are a different distribution unless the KL term matches them exactly, so the
# cVAE-GAN alone can give unrealistic or repetitive outputs for random $z$. Recovering
# ($z \to \tilde B \to \hat z$) trains G on random codes directly and forces different codes to
# give distinguishable outputs (E must read $z$ back), which is the anti-collapse pressure; but
# the cLR-GAN alone never sees the true B for a given $z$, so nothing ties the outputs to the
# ground truth: it may be diverse in the wrong way (colours or artefacts that are not in the
# data), with poor fidelity, and it may still collapse when G hides the code in artefacts that
# E can read. BicycleGAN combines them: the bijection between codes and outputs is enforced in
# both directions, so random codes are realistic *and* different, and in the table it is the
# model closest to the top left corner: diverse and faithful.

# %% [markdown]
# ### Question 3 (2 points): what feature matching gives pix2pixHD
# pix2pixHD's objective has no L1 term. What gives its generator a signal tied to the paired
# photo, and what did your two runs show? Why does the generator need the instance boundary
# map to draw the seam between two touching cars, and why did neither run draw it yet?

# %% [markdown] nbgrader={"grade": true, "solution": true, "locked": false, "grade_id": "q_hd", "points": 2, "schema_version": 3}
# **Model answer.** Without feature matching the generator's only loss is the adversarial one,
# which asks for *a* realistic photo, not *this* photo: its outputs were far from the true
# photos (L1 about 0.43). Feature matching compares the discriminator's intermediate features
# of the fake with those of the *paired* real photo at every layer and scale: a dense,
# learned reconstruction loss (low layers: colours and edges, deep layers: larger structures)
# that also changes smoothly while D learns, so training is more stable; with two scales the
# coarse D adds the layout. The run with it was about twice as close to the photos (L1 about
# 0.22). The seams are not in the label map: two touching cars form one "car" region, so from
# labels alone the generator cannot know where one car ends; the instance edge map marks
# exactly those boundaries (59 of the 91 test cars touch another). Drawing a dark one-pixel
# line where the edge channel is 1 is a detail the generator learns after the large areas
# (800 steps gave a seam contrast near 0 for both runs, against 0.65 in the real photos); a
# longer run, or full mode, shows it.

# %% [markdown]
# ## 13. The lesson in numbers
# The cell below writes the key numbers to `lesson_metrics.json` (the course's tests check them).

# %%
if not GRADING:
    lesson = {
        "mode": "full" if FULL else "smoke",
        "image_size": IMAGE_SIZE,
        "steps": STEPS,
        "metrics": numbers,
        "pix2pixhd": hd_numbers,
        "pix2pixhd_step_seconds": {str(k): v for k, v in step_seconds.items()},
        "cars": {"instances": int(sum(cars)), "label_regions": int(sum(car_regions))},
        "final_losses": {v: {k: float(x[-1]) for k, x in h.history.items()} for v, h in histories.items()},
        "cpu_seconds": time.process_time() - START_CPU,
        "wall_seconds": time.time() - START_WALL,
    }
    with open("lesson_metrics.json", "w") as f:
        json.dump(lesson, f, indent=1)
    print(json.dumps(lesson["metrics"], indent=1))
