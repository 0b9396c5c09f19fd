"""UNIT trainer: unsupervised translation through a shared latent space (Liu, Breuel & Kautz 2017),
as the authors' re-released code trains it (mingyuliutw/UNIT ``trainer.py`` ``UNIT_Trainer``)."""

import keras
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair


class UNIT(GANTrainer):
    """Train two VAE generators and two multi-scale discriminators on batches ``(a, b)``.

    ``gen_a``/``gen_b`` follow :class:`i2ilab.models.VAEGen` (``encode(x) -> h``,
    ``decode(h) -> image``); ``dis_a``/``dis_b`` return a list of logit maps
    (:func:`i2ilab.models.unit_discriminator`). Encoding is stochastic in training: the
    decoders get ``h + n`` with ``n ~ N(0, I)`` of h's shape (fixed unit variance), drawn fresh
    for every encoding with the trainer's SeedGenerator; the test-time translation decodes h.

    Objective of the generators (reference ``gen_update``; paper eq. 1-5 with the VAE term as
    the authors' code computes it), with ``x_ab = gen_b.decode(h_a + n_a)``,
    ``x_ba = gen_a.decode(h_b + n_b)``, ``h_a' = gen_b.encode(x_ab)``, ``h_b' = gen_a.encode(x_ba)``::

        gan_w * (adv(dis_a(x_ba)) + adv(dis_b(x_ab)))
        + recon_x_w * (|gen_a.decode(h_a + n_a) - a| + |gen_b.decode(h_b + n_b) - b|)
        + recon_kl_w * (mean(h_a^2) + mean(h_b^2))
        + recon_x_cyc_w * (|gen_a.decode(h_a' + n_a') - a| + |gen_b.decode(h_b' + n_b') - b|)
        + recon_kl_cyc_w * (mean(h_a'^2) + mean(h_b'^2))

    ``adv`` is LSGAN's ``(D - 1)^2`` summed over the 3 scales. Discriminators (one optimizer)
    minimise ``gan_w * sum over domains and scales of [mean(D(fake)^2) + mean((D(real) - 1)^2)]``
    (no 0.5 factor), on fakes from a separate encode/decode pass with its own noise.

    Update order per batch, as the reference: **D step first**, then the G step (both VAEGens,
    one optimizer). Adam lr 1e-4, betas (0.5, 0.999), with **weight decay 1e-4** added to the
    gradient (torch Adam's coupled L2, not AdamW) for G and D.

    Deliberate differences from the reference, documented: the released code shares **no**
    layers between the domains (the paper shares the encoders' last and the decoders' first
    layers); this trainer follows the code, so the shared latent space is only encouraged by
    the cross-domain decoding, the cycle terms and the KL. The VGG perceptual term of the
    gta2city config (vgg_w 1) is not offered: the edges2shoes config (vgg_w 0) is followed.
    The reference halves the learning rate every 100,000 iterations (StepLR); here the LR is
    the optimizers' (set a schedule on them, or with a callback).

    Logged (unweighted epoch means): ``D`` (the weighted D objective), ``G_adv``, ``recon_x``,
    ``kl``, ``recon_cyc``, ``kl_cyc`` (the last two when their weights are > 0).

    Args:
        gen_a, gen_b: VAEGen of domain A and B. dis_a, dis_b: discriminators of A and B images.
        gan_w, recon_x_w, recon_kl_w, recon_x_cyc_w, recon_kl_cyc_w: loss weights (the configs:
            1, 10, 0.01, 10, 0.01).
        gan_mode: ``lsgan`` (reference), ``vanilla`` or ``hinge``.
        weight_decay: coupled L2 coefficient (1e-4; 0 disables).
        seed: seed of the trainer's SeedGenerator (the latent noise).
        kl_loss: ``(h) -> scalar``, the "KL" of a latent code h (B, h, w, C), used for ``kl``
            and ``kl_cyc`` (None: :func:`i2ilab.losses.unit_kl_loss`, ``mean(h^2)`` as the
            authors' code; a lab passes its own). The default runs exactly as without it.
    """

    _default_learning_rate = 1e-4

    def __init__(
        self,
        gen_a,
        gen_b,
        dis_a,
        dis_b,
        gan_w=1.0,
        recon_x_w=10.0,
        recon_kl_w=0.01,
        recon_x_cyc_w=10.0,
        recon_kl_cyc_w=0.01,
        gan_mode="lsgan",
        weight_decay=1e-4,
        seed=None,
        kl_loss=None,
        **kwargs,
    ):
        if gan_mode == "wgangp":
            raise ValueError(
                "UNIT: gan_mode='wgangp' needs a gradient penalty, which this trainer does not "
                "add; use 'lsgan' (reference), 'vanilla' or 'hinge'."
            )
        for name, gen in (("gen_a", gen_a), ("gen_b", gen_b)):
            if not (hasattr(gen, "encode") and hasattr(gen, "decode")):
                raise ValueError(f"UNIT: {name} needs encode() and decode() (use i2ilab.models.vae_generator).")
        names = ("D", "G_adv", "recon_x", "kl")
        cycle = recon_x_cyc_w > 0 or recon_kl_cyc_w > 0
        if cycle:
            names += ("recon_cyc", "kl_cyc")
        super().__init__(names, **kwargs)
        self.gen_a, self.gen_b, self.dis_a, self.dis_b = gen_a, gen_b, dis_a, dis_b
        self.gan_w = float(gan_w)
        self.recon_x_w = float(recon_x_w)
        self.recon_kl_w = float(recon_kl_w)
        self.recon_x_cyc_w = float(recon_x_cyc_w)
        self.recon_kl_cyc_w = float(recon_kl_cyc_w)
        self.cycle = cycle
        self.kl_loss = losses.unit_kl_loss if kl_loss is None else kl_loss
        self.gan = losses.gan_loss(gan_mode)
        self.weight_decay = float(weight_decay)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def networks(self):
        return {"gen_a": self.gen_a, "gen_b": self.gen_b, "dis_a": self.dis_a, "dis_b": self.dis_b}

    def _optimizer_targets(self):
        return {
            "g": self.gen_a.trainable_variables + self.gen_b.trainable_variables,
            "d": self.dis_a.trainable_variables + self.dis_b.trainable_variables,
        }

    def call(self, a, training=False):
        return self.gen_b.decode(self.gen_a.encode(a, training=training), training=training)

    def _noise(self, h):
        """N(0, I) noise of h's shape. Under a TF strategy every replica draws the noise of the
        global batch (same seed) and keeps its rows, so N devices draw what one would."""
        shape = ops.shape(h)
        full = (shape[0] * shim.replica_count(), shape[1], shape[2], shape[3])
        return shim.local_slice(keras.random.normal(full, seed=self.seed_generator))

    def _decayed(self, grads, variables):
        if not self.weight_decay:
            return grads
        return [g + self.weight_decay * ops.cast(v.value, g.dtype) for g, v in zip(grads, variables, strict=True)]

    def _train_step(self, data):
        x_a, x_b = unpack_pair(data, "UNIT")
        x_a = ops.cast(x_a, "float32")
        x_b = ops.cast(x_b, "float32")
        g_vars = self.gen_a.trainable_variables + self.gen_b.trainable_variables
        d_vars = self.dis_a.trainable_variables + self.dis_b.trainable_variables

        # D step (reference dis_update): its own encode/decode pass and noise, fakes constant.
        h_a = to_float32(self.gen_a.encode(x_a, training=True))
        h_b = to_float32(self.gen_b.encode(x_b, training=True))
        n_a, n_b = self._noise(h_a), self._noise(h_b)
        x_ba = ops.stop_gradient(to_float32(self.gen_a.decode(h_b + n_b, training=True)))
        x_ab = ops.stop_gradient(to_float32(self.gen_b.decode(h_a + n_a, training=True)))

        def d_objective():
            total = 0.0
            for disc, real, fake in ((self.dis_a, x_a, x_ba), (self.dis_b, x_b, x_ab)):
                d_real, d_fake = self.gan.d_loss(
                    to_float32(disc(real, training=True)), to_float32(disc(fake, training=True))
                )
                total = total + d_real + d_fake
            return self.gan_w * total, ()

        d_total, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
        self._apply(self.d_optimizer, self._decayed(d_grads, d_vars), d_vars)

        # G step (reference gen_update): fresh noise for each of its four encodings.
        noise = (self._noise(h_a), self._noise(h_b), self._noise(h_b), self._noise(h_a))
        _, g_terms, g_grads, _ = shim.value_and_grad(lambda: self._g_objective(x_a, x_b, noise), g_vars)
        self._apply(self.g_optimizer, self._decayed(g_grads, g_vars), g_vars)
        self._track(D=d_total, **g_terms)

    def _g_objective(self, x_a, x_b, noise):
        """G objective (class docstring) and its unweighted terms; ``noise`` = (n_a, n_b,
        n_b', n_a'): the noise of the encodings of a, b, x_ba and x_ab, in the reference's order."""
        n_a, n_b, n_b_recon, n_a_recon = noise
        h_a = to_float32(self.gen_a.encode(x_a, training=True))
        h_b = to_float32(self.gen_b.encode(x_b, training=True))
        x_a_recon = self.gen_a.decode(h_a + n_a, training=True)
        x_b_recon = self.gen_b.decode(h_b + n_b, training=True)
        x_ba = self.gen_a.decode(h_b + n_b, training=True)
        x_ab = self.gen_b.decode(h_a + n_a, training=True)
        adv = self.gan.g_loss(to_float32(self.dis_a(x_ba, training=True))) + self.gan.g_loss(
            to_float32(self.dis_b(x_ab, training=True))
        )
        recon_x = losses.l1_loss(x_a_recon, x_a) + losses.l1_loss(x_b_recon, x_b)
        kl = to_float32(self.kl_loss(h_a)) + to_float32(self.kl_loss(h_b))
        terms = {"G_adv": adv, "recon_x": recon_x, "kl": kl}
        total = self.gan_w * adv + self.recon_x_w * recon_x + self.recon_kl_w * kl
        if self.cycle:
            h_b_recon = to_float32(self.gen_a.encode(x_ba, training=True))
            h_a_recon = to_float32(self.gen_b.encode(x_ab, training=True))
            x_aba = self.gen_a.decode(h_a_recon + n_a_recon, training=True)
            x_bab = self.gen_b.decode(h_b_recon + n_b_recon, training=True)
            recon_cyc = losses.l1_loss(x_aba, x_a) + losses.l1_loss(x_bab, x_b)
            kl_cyc = to_float32(self.kl_loss(h_a_recon)) + to_float32(self.kl_loss(h_b_recon))
            terms.update(recon_cyc=recon_cyc, kl_cyc=kl_cyc)
            total = total + self.recon_x_cyc_w * recon_cyc + self.recon_kl_cyc_w * kl_cyc
        return total, terms

    # ------------------------------------------------------------------------------- sampling
    def translate(self, x, direction="AtoB"):
        """Test-time translation (no noise), numpy (B, H, W, C) in [-1, 1]: ``AtoB`` encodes with
        gen_a and decodes with gen_b (the reference's test.py a2b), ``BtoA`` the other way."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"UNIT.translate: direction must be 'AtoB' or 'BtoA', got {direction!r}.")
        source, target = (self.gen_a, self.gen_b) if direction == "AtoB" else (self.gen_b, self.gen_a)
        return self._inference(direction, lambda t: target.decode(source.encode(t, training=False), training=False), x)

    def sample_columns(self, x, y):
        """Columns ``real_A, recon_A, fake_B, real_B, recon_B, fake_A`` (numpy, [-1, 1], no noise)."""

        def both(a, b):
            h_a, h_b = self.gen_a.encode(a, training=False), self.gen_b.encode(b, training=False)
            return (
                self.gen_a.decode(h_a, training=False),
                self.gen_b.decode(h_a, training=False),
                self.gen_b.decode(h_b, training=False),
                self.gen_a.decode(h_b, training=False),
            )

        recon_a, fake_b, recon_b, fake_a = self._inference("columns", both, x, y)
        return {
            "real_A": self._numpy(x),
            "recon_A": recon_a,
            "fake_B": fake_b,
            "real_B": self._numpy(y),
            "recon_B": recon_b,
            "fake_A": fake_a,
        }
