"""MUNIT trainer: multimodal unpaired translation with content and style codes (Huang et al. 2018)."""

import keras
import numpy as np
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair


class MUNIT(GANTrainer):
    """Train two MUNIT auto-encoders and two multi-scale discriminators on batches ``(a, b)``.

    ``gen_a``/``gen_b`` follow i2ilab.models.munit_generator: ``encode(x) -> (content, style)``,
    ``decode(content, style) -> image``, attribute ``style_dim``; ``dis_a``/``dis_b`` return a
    list of logit maps (multiscale_discriminator). Random styles are drawn from N(0, I) with the
    trainer's SeedGenerator, fresh for the D step and for the G step, as in the reference.

    Objective (Huang et al. Sec. 3.2, eq. 5; reference ``gen_update``), per batch with random
    styles ``s_a, s_b`` and ``(c_a, s_a') = gen_a.encode(a)``, ``(c_b, s_b') = gen_b.encode(b)``,
    ``x_ba = gen_a.decode(c_b, s_a)``, ``x_ab = gen_b.decode(c_a, s_b)``::

        G: gan_w * (adv(dis_a(x_ba)) + adv(dis_b(x_ab)))
           + recon_x_w * (|gen_a.decode(c_a, s_a') - a| + |... - b|)
           + recon_s_w * (|style(x_ba) - s_a| + |style(x_ab) - s_b|)
           + recon_c_w * (|content(x_ab) - c_a| + |content(x_ba) - c_b|)
           + recon_x_cyc_w * (|gen_a.decode(content(x_ab), s_a') - a| + |... - b|)
        D: gan_w * sum over scales of (d_real + d_fake), for dis_a and dis_b, on fakes made
           with fresh random styles (no 0.5 factor; MUNIT's LSGAN sums over scales).

    Update order per batch, as the reference: D step, then G step. Both images are encoded
    once per step (the D step's content codes are the G step's, whose gradient is pulled back
    through that same pass), where the reference encodes them twice: same numbers, less work.
    ``compile()`` defaults to Adam(1e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-8) for both, the
    reference's optimizer.

    Logged (unweighted epoch means, summed over both domains): ``D`` (the D objective),
    ``G_adv``, ``recon_x``, ``recon_s``, ``recon_c``, and ``recon_cyc`` when its weight > 0.

    Weight decay: the reference's Adam(weight_decay=1e-4) is a coupled L2 term. It is
    reproduced exactly by adding ``weight_decay * w`` to every gradient (of G and D) before the
    optimizer, whichever Keras optimizer is used (so leave the optimizer's own ``weight_decay``
    unset).

    Args:
        gen_a, gen_b: MUNIT generators of domain A and B.
        dis_a, dis_b: discriminators of domain A and B images.
        gan_w, recon_x_w, recon_s_w, recon_c_w, recon_x_cyc_w: loss weights (reference
            edges2shoes config: 1, 10, 1, 1, 0; summer2winter uses recon_x_cyc_w 10).
        gan_mode: ``lsgan`` (reference), ``vanilla``, ``hinge`` or ``wgangp`` (no penalty here).
        weight_decay: coupled L2 coefficient (1e-4; 0 disables).
        num_sample_styles: number of random-style columns in :meth:`sample_columns`.
        seed: seed of the trainer's SeedGenerator (training styles).
        style_reconstruction_loss: ``(style, style_recon) -> scalar``, the latent style term
            (default :func:`i2ilab.losses.style_reconstruction_loss`, mean |.|); a lab passes
            its own.
        content_reconstruction_loss: ``(content, content_recon) -> scalar``, the latent content
            term (default :func:`i2ilab.losses.content_reconstruction_loss`).
        style_sampler: None, or ``style_sampler(n, style_dim, seed) -> (n, style_dim)`` float32
            codes from N(0, I), the same for the same seed (NumPy, e.g. Lab 4's
            ``sample_styles``). None: training draws ``keras.random.normal`` codes and
            :meth:`sample_styles` uses ``np.random.default_rng(seed)``. Given: it replaces
            :meth:`sample_styles` (so :meth:`translate` and :meth:`sample_columns` use it), and
            training draws its random styles from a bank of ``style_bank_size`` codes made by
            it once (``seed``: the trainer's seed, 0 if None): every D and G step picks rows of
            the bank at random with the trainer's SeedGenerator (a NumPy function cannot run
            inside the compiled step).
        style_bank_size: number of codes in that bank (only with ``style_sampler``).
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
        recon_s_w=1.0,
        recon_c_w=1.0,
        recon_x_cyc_w=0.0,
        gan_mode="lsgan",
        weight_decay=1e-4,
        num_sample_styles=3,
        seed=None,
        style_reconstruction_loss=None,
        content_reconstruction_loss=None,
        style_sampler=None,
        style_bank_size=16384,
        **kwargs,
    ):
        if gan_mode == "wgangp":
            raise ValueError(
                "MUNIT: gan_mode='wgangp' needs a gradient penalty, which this trainer does not "
                "add; use 'lsgan' (reference), 'vanilla' or 'hinge'."
            )
        names = ("D", "G_adv", "recon_x", "recon_s", "recon_c")
        if recon_x_cyc_w > 0:
            names += ("recon_cyc",)
        super().__init__(names, **kwargs)
        self.gen_a, self.gen_b, self.dis_a, self.dis_b = gen_a, gen_b, dis_a, dis_b
        if getattr(gen_a, "style_dim", None) != getattr(gen_b, "style_dim", None) or not getattr(
            gen_a, "style_dim", None
        ):
            raise ValueError(
                "MUNIT: gen_a and gen_b need the same positive `style_dim` attribute "
                "(use i2ilab.models.munit_generator)."
            )
        self.style_dim = int(gen_a.style_dim)
        self.gan_w = float(gan_w)
        self.recon_x_w = float(recon_x_w)
        self.recon_s_w = float(recon_s_w)
        self.recon_c_w = float(recon_c_w)
        self.recon_x_cyc_w = float(recon_x_cyc_w)
        self.gan = losses.gan_loss(gan_mode)
        self.weight_decay = float(weight_decay)
        self.num_sample_styles = int(num_sample_styles)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.style_loss = (
            losses.style_reconstruction_loss if style_reconstruction_loss is None else style_reconstruction_loss
        )
        self.content_loss = (
            losses.content_reconstruction_loss if content_reconstruction_loss is None else content_reconstruction_loss
        )
        self.style_sampler = style_sampler
        self.style_bank = None
        if style_sampler is not None:
            if not callable(style_sampler):
                raise TypeError(
                    "MUNIT: style_sampler must be a function (n, style_dim, seed) -> (n, style_dim) codes, "
                    f"got {style_sampler!r}."
                )
            self.style_bank = self._sampled(int(style_bank_size), 0 if seed is None else int(seed))
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
        return self.gen_a(a, training=training)

    def _random_styles(self, batch):
        """N(0, I) codes (batch, style_dim). Under a TF strategy every replica draws the codes of
        the global batch (same seed) and keeps its rows, so N devices draw what one would."""
        replicas = shim.replica_count()
        if self.style_bank is None:
            codes = keras.random.normal((batch * replicas, self.style_dim), seed=self.seed_generator)
        else:  # rows of the bank drawn with style_sampler, picked at random
            rows = keras.random.randint((batch * replicas,), 0, self.style_bank.shape[0], seed=self.seed_generator)
            codes = ops.take(ops.convert_to_tensor(self.style_bank), rows, axis=0)
        return shim.local_slice(codes)

    def _decayed(self, grads, variables):
        if not self.weight_decay:
            return grads
        return [g + self.weight_decay * ops.cast(v.value, g.dtype) for g, v in zip(grads, variables, strict=True)]

    def _train_step(self, data):
        x_a, x_b = unpack_pair(data, "MUNIT")
        x_a = ops.cast(x_a, "float32")
        x_b = ops.cast(x_b, "float32")
        batch = ops.shape(x_a)[0]  # dynamic under tf.function when the last batch is short
        g_vars = self.gen_a.trainable_variables + self.gen_b.trainable_variables
        d_vars = self.dis_a.trainable_variables + self.dis_b.trainable_variables

        # Both images are encoded once, with their pullback kept: the generators do not change
        # before the G step, so the D step's content codes and the G step's first encoding are
        # the same numbers (the reference computes them twice).
        codes, e_pullback = shim.vjp(
            lambda: (*self.gen_a.encode(x_a, training=True), *self.gen_b.encode(x_b, training=True)),
            g_vars,
        )

        # D step: fakes with fresh random styles, treated as constants.
        s_a = self._random_styles(batch)
        s_b = self._random_styles(batch)
        c_a, c_b = ops.stop_gradient(codes[0]), ops.stop_gradient(codes[2])
        x_ba = ops.stop_gradient(to_float32(self.gen_a.decode(c_b, s_a, training=True)))
        x_ab = ops.stop_gradient(to_float32(self.gen_b.decode(c_a, s_b, training=True)))

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

        # G step: new random styles, from the codes on through both auto-encoders.
        s_a = self._random_styles(batch)
        s_b = self._random_styles(batch)

        _, g_terms, g_grads, code_grads = shim.value_and_grad(
            lambda *c: self._g_objective(x_a, x_b, c, s_a, s_b), g_vars, codes
        )
        g_grads = [g + e for g, e in zip(g_grads, e_pullback(tuple(code_grads)), strict=True)]
        self._apply(self.g_optimizer, self._decayed(g_grads, g_vars), g_vars)
        self._track(D=d_total, **g_terms)

    def _g_objective(self, x_a, x_b, codes, s_a, s_b):
        """G objective (class docstring) and its unweighted terms, from the codes
        ``(c_a, s_a', c_b, s_b')`` of ``x_a`` and ``x_b`` and the random styles ``s_a, s_b``."""
        c_a, s_a_prime, c_b, s_b_prime = codes
        x_a_recon = self.gen_a.decode(c_a, s_a_prime, training=True)
        x_b_recon = self.gen_b.decode(c_b, s_b_prime, training=True)
        x_ba = self.gen_a.decode(c_b, s_a, training=True)
        x_ab = self.gen_b.decode(c_a, s_b, training=True)
        c_b_recon, s_a_recon = self.gen_a.encode(x_ba, training=True)
        c_a_recon, s_b_recon = self.gen_b.encode(x_ab, training=True)
        adv = self.gan.g_loss(to_float32(self.dis_a(x_ba, training=True))) + self.gan.g_loss(
            to_float32(self.dis_b(x_ab, training=True))
        )
        recon_x = losses.image_reconstruction_loss(x_a, x_a_recon) + losses.image_reconstruction_loss(x_b, x_b_recon)
        recon_s = self.style_loss(s_a, s_a_recon) + self.style_loss(s_b, s_b_recon)
        recon_c = self.content_loss(c_a, c_a_recon) + self.content_loss(c_b, c_b_recon)
        terms = {"G_adv": adv, "recon_x": recon_x, "recon_s": recon_s, "recon_c": recon_c}
        total = self.gan_w * adv + self.recon_x_w * recon_x + self.recon_s_w * recon_s + self.recon_c_w * recon_c
        if self.recon_x_cyc_w > 0:
            x_aba = self.gen_a.decode(c_a_recon, s_a_prime, training=True)
            x_bab = self.gen_b.decode(c_b_recon, s_b_prime, training=True)
            recon_cyc = losses.image_reconstruction_loss(x_a, x_aba) + losses.image_reconstruction_loss(x_b, x_bab)
            terms["recon_cyc"] = recon_cyc
            total = total + self.recon_x_cyc_w * recon_cyc
        return total, terms

    # ------------------------------------------------------------------------------- sampling
    def sample_styles(self, n, seed=0):
        """``n`` style codes (n, style_dim) from N(0, I), drawn with NumPy from ``seed``.

        Sampling does not touch the training random stream, and a fixed seed gives the same
        styles at every epoch, so sample grids are comparable over training. With a
        ``style_sampler`` (constructor), it draws them: ``style_sampler(n, style_dim, seed)``.
        """
        if self.style_sampler is not None:
            return self._sampled(n, seed)
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, self.style_dim)).astype("float32")

    def _sampled(self, n, seed):
        """``style_sampler(n, style_dim, seed)`` as float32 NumPy, its shape checked."""
        codes = np.asarray(ops.convert_to_numpy(self.style_sampler(n, self.style_dim, seed)), "float32")
        if codes.shape != (n, self.style_dim):
            raise ValueError(
                f"MUNIT: style_sampler({n}, {self.style_dim}, seed={seed}) returned shape {codes.shape}, "
                f"expected ({n}, {self.style_dim})."
            )
        return codes

    def translate(self, x, style=None, direction="AtoB", seed=0):
        """Translate a batch with one style per image, numpy (B, H, W, C) in [-1, 1].

        Args:
            x: (B, H, W, C) images of the source domain.
            style: (B, style_dim) or (style_dim,) codes, or images (B, H, W, C) of the target
                domain whose style is used (example-guided translation); None draws N(0, I)
                codes with :meth:`sample_styles` from ``seed``.
            direction: ``"AtoB"`` (encode with gen_a, decode with gen_b) or ``"BtoA"``.
        """
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"MUNIT.translate: direction must be 'AtoB' or 'BtoA', got {direction!r}.")
        source, target = (self.gen_a, self.gen_b) if direction == "AtoB" else (self.gen_b, self.gen_a)
        x = np.asarray(x, "float32")
        batch = x.shape[0]
        if style is None:
            style = self.sample_styles(batch, seed)
        style = np.asarray(style, "float32")
        if style.ndim == 4:

            def guided(images, examples):
                content, _ = source.encode(images, training=False)
                _, codes = target.encode(examples, training=False)
                return target.decode(content, codes, training=False)

            return self._inference(f"guided_{direction}", guided, x, style)
        if style.ndim == 1:
            style = np.broadcast_to(style[None], (batch, self.style_dim))

        def with_codes(images, codes):
            content, _ = source.encode(images, training=False)
            return target.decode(content, codes, training=False)

        return self._inference(f"codes_{direction}", with_codes, x, style)

    def sample_columns(self, x, y):
        """Columns for a grid, A -> B (numpy, [-1, 1]), the reference's sample layout:

        ``input`` (a), ``recon`` (gen_a's reconstruction), ``style_1 .. style_k``
        (``num_sample_styles`` fixed random styles, the same at every call), ``style_source``
        (b) and ``guided`` (a's content with b's style).
        """
        x = np.asarray(x, "float32")
        batch = x.shape[0]
        recon = self._inference("recon", lambda t: self.gen_a(t, training=False), x)
        columns = {"input": x, "recon": recon}
        styles = self.sample_styles(self.num_sample_styles)
        for k in range(self.num_sample_styles):
            columns[f"style_{k + 1}"] = self.translate(x, np.repeat(styles[k : k + 1], batch, axis=0))
        columns["style_source"] = self._numpy(y)
        columns["guided"] = self.translate(x, style=y)
        return columns
