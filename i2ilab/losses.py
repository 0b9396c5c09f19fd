"""Losses of pix2pix, CycleGAN and MUNIT: adversarial terms by mode and reconstruction terms.

Pure functions of tensors written with ``keras.ops`` only (TensorFlow, JAX and PyTorch). Inputs
are cast to float32 first (mixed precision). Every function returns a float32 scalar, the mean
over all elements (batch included) unless stated otherwise.

Conventions of the references, kept here:
- ``GANLoss.d_loss`` returns the two discriminator terms ``(d_real, d_fake)`` unweighted. The
  pix2pix/CycleGAN trainers minimise ``0.5 * (d_real + d_fake)`` ("D loss halved", to slow D
  relative to G, Isola et al. Sec. 3.3); MUNIT minimises ``d_real + d_fake`` summed over its
  discriminator scales, without the 0.5.
- Logits are raw discriminator outputs (no sigmoid). A list or tuple of logit maps (a
  multi-scale discriminator) gives the sum over scales of each scale's mean.
"""

import keras
from keras import ops

from i2ilab.backend import input_gradient

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")

__all__ = [
    "GAN_MODES",
    "GANLoss",
    "FunctionGANLoss",
    "gan_loss",
    "as_gan_loss",
    "gradient_penalty",
    "l1_loss",
    "l2_loss",
    "cycle_loss",
    "identity_loss",
    "image_reconstruction_loss",
    "style_reconstruction_loss",
    "content_reconstruction_loss",
    "unit_kl_loss",
    "patch_nce_loss",
    "patch_nce_term",
]


def _f32(x):
    return ops.cast(x, "float32")


def _over_scales(fn, logits):
    """``fn(one_map)`` for one map, or the sum over a list of maps (multi-scale discriminator)."""
    if isinstance(logits, (list, tuple)):
        if not logits:
            raise ValueError("i2ilab.losses: got an empty list of logit maps.")
        total = fn(_f32(logits[0]))
        for scale in logits[1:]:
            total = total + fn(_f32(scale))
        return total
    return fn(_f32(logits))


def _check_pair(real_logits, fake_logits):
    multi = isinstance(real_logits, (list, tuple))
    if multi != isinstance(fake_logits, (list, tuple)) or (multi and len(real_logits) != len(fake_logits)):
        raise ValueError(
            "i2ilab.losses: real_logits and fake_logits must both be one map or lists of the same number of maps."
        )


class GANLoss:
    """Adversarial loss terms for one mode (see :func:`gan_loss`).

    Modes (logits ``r`` on real, ``f`` on fake images, means over all elements):

    ======== =========================================== =================
    mode     d_real, d_fake                              g_loss
    ======== =========================================== =================
    vanilla  softplus(-r), softplus(f)  (BCE on logits)  softplus(-f)
    lsgan    (r - 1)^2, f^2                              (f - 1)^2
    hinge    relu(1 - r), relu(1 + f)                    -f
    wgangp   -r, f  (+ :func:`gradient_penalty` in D)    -f
    ======== =========================================== =================

    ``vanilla`` is the non-saturating GAN of Goodfellow et al. used by pix2pix (BCE with label 1
    for G); ``lsgan`` is Mao et al., used by CycleGAN and MUNIT; ``hinge`` is the SAGAN/
    spectral-norm form; ``wgangp`` is Gulrajani et al. and needs the penalty (``uses_penalty``).
    """

    def __init__(self, mode):
        if mode not in GAN_MODES:
            raise ValueError(f"gan_loss: mode must be one of {GAN_MODES}, got {mode!r}.")
        self.mode = mode

    @property
    def uses_penalty(self):
        """True for ``wgangp``: the discriminator objective adds :func:`gradient_penalty`."""
        return self.mode == "wgangp"

    def d_loss(self, real_logits, fake_logits):
        """Discriminator terms ``(d_real, d_fake)``, each a float32 scalar.

        Args:
            real_logits: (B, h, w, 1) logits on real images, or a list of such maps.
            fake_logits: same structure, on generated images.
        """
        mode = self.mode
        if mode == "vanilla":
            real_fn, fake_fn = (lambda r: ops.mean(ops.softplus(-r))), (lambda f: ops.mean(ops.softplus(f)))
        elif mode == "lsgan":
            real_fn, fake_fn = (lambda r: ops.mean(ops.square(r - 1.0))), (lambda f: ops.mean(ops.square(f)))
        elif mode == "hinge":
            real_fn, fake_fn = (lambda r: ops.mean(ops.relu(1.0 - r))), (lambda f: ops.mean(ops.relu(1.0 + f)))
        else:
            real_fn, fake_fn = (lambda r: -ops.mean(r)), (lambda f: ops.mean(f))
        _check_pair(real_logits, fake_logits)
        return _over_scales(real_fn, real_logits), _over_scales(fake_fn, fake_logits)

    def g_loss(self, fake_logits):
        """Generator term, a float32 scalar, from the discriminator's logits on fakes."""
        if self.mode == "vanilla":
            return _over_scales(lambda f: ops.mean(ops.softplus(-f)), fake_logits)
        if self.mode == "lsgan":
            return _over_scales(lambda f: ops.mean(ops.square(f - 1.0)), fake_logits)
        return _over_scales(lambda f: -ops.mean(f), fake_logits)

    def __repr__(self):
        return f"GANLoss({self.mode!r})"


def gan_loss(mode="vanilla"):
    """Return the :class:`GANLoss` of ``mode`` in ``vanilla | lsgan | hinge | wgangp``."""
    return GANLoss(mode)


class FunctionGANLoss:
    """A GAN loss made of two functions, e.g. a lab's own losses plugged into a trainer.

    Same interface as :class:`GANLoss`: ``d_loss(real_logits, fake_logits) -> (d_real, d_fake)``
    and ``g_loss(fake_logits) -> scalar``. The functions take one logit map each; a list of maps
    (a multi-scale discriminator) gives the sum over scales, as :class:`GANLoss` does.

    Args:
        d_loss: ``(real_logits, fake_logits) -> (d_real, d_fake)``, two float32 scalars.
        g_loss: ``fake_logits -> scalar``.
        name: shown in ``repr``.
    """

    uses_penalty = False

    def __init__(self, d_loss, g_loss, name="custom"):
        self._d_loss, self._g_loss, self.mode = d_loss, g_loss, name

    def d_loss(self, real_logits, fake_logits):
        _check_pair(real_logits, fake_logits)
        if not isinstance(real_logits, (list, tuple)):
            d_real, d_fake = self._d_loss(_f32(real_logits), _f32(fake_logits))
            return _f32(d_real), _f32(d_fake)
        pairs = [self._d_loss(_f32(r), _f32(f)) for r, f in zip(real_logits, fake_logits, strict=True)]
        d_real, d_fake = _f32(pairs[0][0]), _f32(pairs[0][1])
        for r, f in pairs[1:]:
            d_real, d_fake = d_real + _f32(r), d_fake + _f32(f)
        return d_real, d_fake

    def g_loss(self, fake_logits):
        return _over_scales(lambda f: _f32(self._g_loss(f)), fake_logits)

    def __repr__(self):
        return f"FunctionGANLoss({self.mode!r})"


def as_gan_loss(spec):
    """A GAN loss from a trainer's ``gan_mode`` argument: a mode name (:func:`gan_loss`) or an
    object with ``d_loss``, ``g_loss`` and ``uses_penalty`` (:class:`GANLoss`, :class:`FunctionGANLoss`)."""
    if isinstance(spec, str):
        return gan_loss(spec)
    if all(hasattr(spec, name) for name in ("d_loss", "g_loss", "uses_penalty")):
        return spec
    raise ValueError(
        f"gan_mode must be one of {GAN_MODES} or a GAN loss object (i2ilab.losses.FunctionGANLoss), got {spec!r}."
    )


def gradient_penalty(critic, real, fake, alpha=None, seed=None, weight=10.0, target_norm=1.0):
    """WGAN-GP gradient penalty (Gulrajani et al. 2017, eq. 3), as the pix2pix/CycleGAN reference.

    ``x = alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U[0, 1)`` per sample;
    ``g = d sum(critic(x)) / dx`` flattened per sample; the result is
    ``weight * mean_b((||g_b + 1e-16||_2 - target_norm)^2)``. It stays differentiable w.r.t. the
    critic's weights (double backpropagation through :mod:`i2ilab.backend`).

    Args:
        critic: callable, (B, H, W, C) images -> logits (a tensor or a list of maps).
        real, fake: (B, H, W, C) batches (``fake`` is treated as a constant).
        alpha: optional (B, 1, 1, 1) mixing weights; drawn with ``keras.random.uniform`` and
            ``seed`` (an int or a ``keras.random.SeedGenerator``) when None.
        weight: lambda of the penalty (10 in the paper).
        target_norm: the norm the gradient is pulled to (1).
    """
    real = _f32(real)
    fake = ops.stop_gradient(_f32(fake))
    batch = ops.shape(real)[0]
    if alpha is None:
        alpha = keras.random.uniform((batch, 1, 1, 1), seed=seed)
    alpha = _f32(alpha)
    interpolated = alpha * real + (1.0 - alpha) * fake
    grads = input_gradient(critic, interpolated)
    grads = ops.reshape(grads, (batch, -1)) + 1e-16
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=1))
    return weight * ops.mean(ops.square(norms - target_norm))


def l1_loss(x, y):
    """Mean absolute error ``mean(|x - y|)`` over all elements; x, y of equal shape."""
    return ops.mean(ops.abs(_f32(x) - _f32(y)))


def l2_loss(x, y):
    """Mean squared error ``mean((x - y)^2)`` over all elements; x, y of equal shape."""
    return ops.mean(ops.square(_f32(x) - _f32(y)))


def cycle_loss(real, reconstructed):
    """Cycle-consistency loss ``mean(|F(G(x)) - x|)`` (Zhu et al. eq. 2); (B, H, W, C) each."""
    return l1_loss(reconstructed, real)


def identity_loss(real, same):
    """Identity mapping loss ``mean(|G(y) - y|)`` (Zhu et al. Sec. 5.2); ``same = G(real)``."""
    return l1_loss(same, real)


def image_reconstruction_loss(x, x_recon):
    """MUNIT image reconstruction ``mean(|G(E_c(x), E_s(x)) - x|)`` (Huang et al. eq. 1)."""
    return l1_loss(x_recon, x)


def style_reconstruction_loss(style, style_recon):
    """MUNIT latent style reconstruction ``mean(|E_s(G(c, s)) - s|)``; (B, style_dim) each (eq. 3)."""
    return l1_loss(style_recon, style)


def content_reconstruction_loss(content, content_recon):
    """MUNIT latent content reconstruction ``mean(|E_c(G(c, s)) - c|)``; (B, h, w, C) each (eq. 2)."""
    return l1_loss(content_recon, content)


# --- BicycleGAN (Zhu et al. 2017b) ------------------------------------------------------------
# The multi-scale LSGAN terms are GANLoss("lsgan") on D's list of maps: the sum over the scales of
# each scale's mean, as the reference's GANLoss; its D objective is d_real + d_fake, no 0.5.

__all__ += ["kl_loss", "latent_regression_loss"]


def kl_loss(mu, logvar):
    """KL(q(z|B) || N(0, I)) of E's Gaussian, *summed* over the batch and the nz dimensions.

    ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`` (BicycleGAN eq. 6; Kingma and Welling
    2014, appendix B). A sum, not a mean, as the authors' code (its weight lambda_kl 0.01 is
    tuned for that). mu, logvar: (B, nz) E outputs; returns a float32 scalar >= 0.
    """
    mu, logvar = _f32(mu), _f32(logvar)
    return -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar))


def latent_regression_loss(z, z_recon):
    """Latent regression ``mean(|E(G(A, z)) - z|)`` of the cLR-GAN (BicycleGAN eq. 7).

    z: (B, nz) the random codes G was given; z_recon: (B, nz) the mu E recovers from G's output
    (a point estimate: logvar is not used). Returns a float32 scalar.
    """
    return l1_loss(z_recon, z)


# --- pix2pixHD (Wang et al. 2018, section 3.2 eq. 4 and the perceptual loss of section 4) --------

#: VGG19 layers of pix2pixHD's perceptual loss (relu1_1 .. relu5_1) and their weights.
VGG_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

__all__ += [
    "VGG_LAYERS",
    "VGG_LAYER_WEIGHTS",
    "final_logits",
    "feature_matching_loss",
    "vgg19_features",
    "vgg_perceptual_loss",
]


def final_logits(outputs):
    """The logit maps of a multi-scale D that returns every feature (pix2pixHD
    ``getIntermFeat``): ``[scale[-1] for scale in outputs]``, ready for a :class:`GANLoss`,
    whose terms are then summed over the scales as the reference's ``GANLoss``."""
    return [scale[-1] for scale in outputs]


def feature_matching_loss(fake_outputs, real_outputs, weight=10.0):
    """pix2pixHD's discriminator feature matching loss (Wang et al. eq. 4).

    ``sum_i sum_j weight * (4 / (n_layers + 1)) / num_D * mean|D_i^j(fake) - D_i^j(real)|``
    over the num_D scales i and each scale's intermediate features j (all of a scale's maps but
    its final logits; n_layers + 1 of them, 4 for n_layers 3), the real features held constant
    (stop_gradient), as the reference's ``loss_G_GAN_Feat`` with ``lambda_feat`` = ``weight``.

    Args:
        fake_outputs, real_outputs: lists over scales of lists of maps, as returned by
            :func:`i2ilab.models.hd_discriminator` on the fake and the real pair.
    Returns a float32 scalar.
    """
    if len(fake_outputs) != len(real_outputs) or not fake_outputs:
        raise ValueError("feature_matching_loss: fake and real outputs must list the same (non-zero) number of scales.")
    num_d = len(fake_outputs)
    total = ops.zeros((), "float32")
    for fake, real in zip(fake_outputs, real_outputs, strict=True):
        n_features = len(fake) - 1  # n_layers + 1
        coefficient = weight * (4.0 / n_features) / num_d
        for f, r in zip(fake[:-1], real[:-1], strict=True):
            total = total + coefficient * ops.mean(ops.abs(_f32(f) - ops.stop_gradient(_f32(r))))
    return total


def vgg19_features(weights="imagenet", layers=VGG_LAYERS, name="vgg19_features"):
    """Frozen VGG19 feature extractor of the perceptual loss: (B, H, W, 3) -> a list of the
    ``layers`` activations (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 by default).

    ``weights="imagenet"`` downloads the ImageNet weights of ``keras.applications.VGG19`` on
    first use (like any Keras application; cached in ~/.keras/models); ``weights=None`` gives
    random weights (the tests). pix2pixHD feeds its torchvision VGG19 the [-1, 1] images as they
    are, without ImageNet normalisation, and so does :func:`vgg_perceptual_loss`. Keras' VGG19
    weights come from the Caffe model (BGR, mean-subtracted 0..255 inputs), not torchvision's,
    so the loss values differ from the reference's (a deliberate difference: the Keras
    application, as the course uses throughout).
    """
    vgg = keras.applications.VGG19(include_top=False, weights=weights, input_shape=(None, None, 3))
    vgg.trainable = False
    model = keras.Model(vgg.input, [vgg.get_layer(n).output for n in layers], name=name)
    model.trainable = False
    return model


def vgg_perceptual_loss(features, fake, real, layer_weights=VGG_LAYER_WEIGHTS, weight=10.0):
    """pix2pixHD's VGG loss: ``weight * sum_i w_i * mean|F_i(fake) - F_i(real)|``.

    ``features``: a model (e.g. :func:`vgg19_features`) mapping (B, H, W, 3) images to the list
    of feature maps F_i; the real features are held constant (stop_gradient). fake, real:
    (B, H, W, 3) in [-1, 1], fed as they are (the reference does not normalise them).
    Default weights [1/32, 1/16, 1/8, 1/4, 1] and ``weight`` = lambda_feat 10. Float32 scalar.
    """
    f_fake = features(_f32(fake))
    f_real = features(_f32(real))
    if len(f_fake) != len(layer_weights):
        raise ValueError(f"vgg_perceptual_loss: {len(f_fake)} feature maps but {len(layer_weights)} layer weights.")
    total = ops.zeros((), "float32")
    for w, a, b in zip(layer_weights, f_fake, f_real, strict=True):
        total = total + w * ops.mean(ops.abs(_f32(a) - ops.stop_gradient(_f32(b))))
    return weight * total


# --- the unpaired family: UNIT's latent term, CUT's PatchNCE ------------------------


def unit_kl_loss(h):
    """UNIT's "KL" term ``mean(h^2)`` over all elements of the latent code h (B, h, w, C).

    The encoder's posterior is N(h, I) with the variance fixed at 1, so KL(N(h, I) || N(0, I))
    is ``sum(h^2) / 2`` up to a constant; the authors' code (``__compute_kl``) uses the mean of
    h^2, weighted by recon_kl_w 0.01 (Liu et al. 2017, eq. 4, the prior term of the VAE loss).
    """
    return ops.mean(ops.square(_f32(h)))


def patch_nce_loss(feat_q, feat_k, batch_size, nce_t=0.07):
    """PatchNCE per patch (Park et al. 2020, eq. 2; the authors' ``PatchNCELoss``), (B * P,).

    ``feat_q`` (B * P, D): projected patches of the output G(x); ``feat_k`` (B * P, D): the
    same positions in the input x, rows sample-major (row b * P + n). For patch i of image b,
    the positive is ``k_i`` and the negatives are the other P - 1 patches **of the same image**
    (never other images); the keys are constants (``stop_gradient``), gradients flow through
    the queries only. ``l_pos = <q_i, k_i>``, ``l_neg = q_i . k_j`` with the diagonal j = i
    replaced by -10, then cross-entropy of ``[l_pos, l_neg] / nce_t`` with target 0:
    ``logsumexp([l_pos, l_neg] / t) - l_pos / t``. ``batch_size``: the number of images B.
    """
    q = _f32(feat_q)
    k = ops.stop_gradient(_f32(feat_k))
    dim = q.shape[-1]
    l_pos = ops.sum(q * k, axis=1, keepdims=True)
    qb = ops.reshape(q, (batch_size, -1, dim))
    kb = ops.reshape(k, (batch_size, -1, dim))
    l_neg = ops.einsum("bnd,bmd->bnm", qb, kb)
    n = ops.shape(qb)[1]
    eye = ops.eye(n, dtype="bool")[None]
    l_neg = ops.where(eye, -10.0, l_neg)
    l_neg = ops.reshape(l_neg, (-1, n))
    logits = ops.concatenate([l_pos, l_neg], axis=1) / nce_t
    return ops.logsumexp(logits, axis=1) - logits[:, 0]


def patch_nce_term(feats_q, feats_k, batch_size, nce_t=0.07, weight=1.0):
    """CUT's NCE term over the NCE layers: ``sum_l weight * mean(patch_nce_loss_l) / L``
    (``calculate_NCE_loss``, with weight = lambda_NCE); lists of (B * P, D) rows per layer."""
    total = 0.0
    for q, k in zip(feats_q, feats_k, strict=True):
        total = total + weight * ops.mean(patch_nce_loss(q, k, batch_size, nce_t))
    return total / len(feats_q)


# ---------------------------------------------------------- DiscoGAN, DistanceGAN, DualGAN, OST
__all__ += [
    "mean_feature_matching_loss",
    "rate_weighted_loss",
    "discogan_rate",
    "pairwise_distances",
    "normalized_distance_loss",
]


def mean_feature_matching_loss(real_features, fake_features):
    """DiscoGAN's feature matching: ``sum_l mean_{h,w,c}((E_b f_l(real) - E_b f_l(fake))^2)``.

    The first moment over the batch of each discriminator feature map, compared squared and
    averaged over its elements (the reference's ``HingeEmbeddingLoss(l2, 1)``, which is the
    mean), summed over the layers (Kim et al. 2017, code; not in the paper's equations).

    Args:
        real_features, fake_features: lists of (B, h, w, c) maps of the same shapes (the batch
            sizes of real and fake may differ).
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError("mean_feature_matching_loss: give two non-empty lists with the same number of feature maps.")
    total = 0.0
    for real, fake in zip(real_features, fake_features, strict=True):
        diff = ops.mean(_f32(real), axis=0) - ops.mean(_f32(fake), axis=0)
        total = total + ops.mean(ops.square(diff))
    return total


def discogan_rate(iteration, curriculum=10_000, starting_rate=0.01, default_rate=0.5):
    """DiscoGAN's reconstruction rate: ``starting_rate`` for iterations < ``curriculum``, then ``default_rate``.

    ``iteration`` counts every iteration from 0 (D and G steps alike); a float32 scalar.
    """
    early = ops.cast(iteration, "float32") < float(curriculum)
    return ops.where(early, float(starting_rate), float(default_rate))


def rate_weighted_loss(gan, feature_matching, reconstruction, rate, gan_weight=0.1, fm_weight=0.9):
    """DiscoGAN's generator objective of one direction (reference ``image_translation.py``)::

        (gan_weight * gan + fm_weight * feature_matching) * (1 - rate) + rate * reconstruction

    ``gan`` is the BCE of the other domain's discriminator on this generator's fakes, the
    reconstruction is the cycle MSE (DiscoGAN, Kim et al. eq. 3-5 with the code's weights) or
    DistanceGAN's distance loss (Benaim & Wolf 2017, eq. 5 in the DiscoGAN architecture).
    """
    return (gan_weight * gan + fm_weight * feature_matching) * (1.0 - rate) + rate * reconstruction


def pairwise_distances(x):
    """``d[i, j] = mean(|x_i - x_j|)`` over all pixels and channels; x (B, ...) -> (B, B) float32."""
    x = _f32(x)
    flat = ops.reshape(x, (ops.shape(x)[0], -1))
    return ops.mean(ops.abs(flat[:, None, :] - flat[None, :, :]), axis=-1)


def normalized_distance_loss(source, translated, source_stats, target_stats, normalize=True):
    """DistanceGAN's distance loss (Benaim & Wolf 2017, eq. 2 and Sec. 4.1, normalised form).

    ``mean_{i<j} |(d(x_i, x_j) - mu_s) / sigma_s - (d(G(x_i), G(x_j)) - mu_t) / sigma_t|`` with
    ``d`` the mean absolute difference of two images (:func:`pairwise_distances`); the source
    distances use the source domain's statistics, the translated ones the TARGET domain's, as
    the reference. ``normalize=False`` (the reference's ``--unnormalized_distances``) compares
    the raw distances.

    Args:
        source: (B, H, W, C) images x, B >= 2.
        translated: (B, H', W', C') their translations G(x).
        source_stats, target_stats: ``(mu, sigma)`` of the pairwise distances within each
            domain (:func:`i2ilab.training.distancegan.distance_statistics`).
    """
    d_s = pairwise_distances(source)
    d_t = pairwise_distances(translated)
    if normalize:
        (mu_s, sigma_s), (mu_t, sigma_t) = source_stats, target_stats
        d_s = (d_s - mu_s) / sigma_s
        d_t = (d_t - mu_t) / sigma_t
    n = ops.shape(d_s)[0]
    rows = ops.arange(n)
    upper = ops.cast(rows[:, None] < rows[None, :], "float32")
    pairs = ops.sum(upper)
    return ops.sum(upper * ops.abs(d_s - d_t)) / pairs
