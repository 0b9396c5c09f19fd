"""CycleGAN trainer: two generators, two discriminators, cycle and identity losses (Zhu et al. 2017)."""

import keras
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair
from i2ilab.training.pool import ImagePool


class CycleGAN(GANTrainer):
    """Unpaired translation A <-> B on batches ``(a, b)`` (Zhu et al. Sec. 3, eq. 3).

    Generators ``g_ab``: A -> B and ``g_ba``: B -> A; discriminators ``d_a`` (real vs fake A
    images) and ``d_b`` (real vs fake B images). Objective of the generators (one optimizer)::

        gan(d_b(g_ab(a))) + gan(d_a(g_ba(b)))
        + lambda_cycle * (|g_ba(g_ab(a)) - a| + |g_ab(g_ba(b)) - b|)
        + lambda_cycle * lambda_identity * (|g_ab(b) - b| + |g_ba(a) - a|)

    Each discriminator minimises ``0.5 * (d_real + d_fake)`` on real images and on fakes drawn
    through its :class:`ImagePool`; both share one optimizer.

    Update order per batch, as the reference: G step first (both generators, discriminators
    fixed but in training mode), then the D step on the pool outputs of this step's fakes.

    Logged (unweighted epoch means): ``G_A`` (adversarial loss of g_ab, judged by d_b), ``G_B``,
    ``cycle_A`` = |g_ba(g_ab(a)) - a|, ``cycle_B``, ``idt_A`` = |g_ab(b) - b|, ``idt_B``, ``D_A``
    (loss of d_a, on A images), ``D_B``. Naming differs from the reference in one place: there
    ``netD_A`` judges domain B (it pairs with G_A); here ``d_a`` judges domain A.

    Args:
        g_ab, g_ba: keras.Models image -> image (tanh outputs in [-1, 1]).
        d_a, d_b: keras.Models image -> logits (B, h, w, 1) (or a list of maps).
        lambda_cycle: cycle weight (lambda_A = lambda_B = 10 in the paper).
        lambda_identity: identity weight relative to lambda_cycle (0.5; 0 disables the
            identity forward passes).
        pool_size: image pool size (50; 0 = D sees the current fakes).
        gan_mode: ``lsgan`` (paper), ``vanilla``, ``hinge`` or ``wgangp``; or a GAN loss object
            with ``d_loss``/``g_loss`` (e.g. :class:`i2ilab.losses.FunctionGANLoss` made of a
            lab's own LSGAN functions).
        image_shape: (H, W, C) of the A images, to build the pools now; otherwise they are built
            from the first batch at ``fit`` (or from a checkpoint).
        gp_weight: gradient-penalty weight for ``wgangp``.
        seed: seed of the pools' and the trainer's SeedGenerators.
        cycle_loss: ``(real, reconstructed) -> scalar``, the cycle term of each direction
            (None: :func:`i2ilab.losses.cycle_loss`; a lab passes its own).
        identity_loss: ``(real, same) -> scalar``, the identity term of each generator
            (None: :func:`i2ilab.losses.identity_loss`).
        pool_rule: the image pools' per-image rule ``(buffer, count, image, u, pick) ->
            (output, buffer, count)`` in ``keras.ops`` (None: :func:`i2ilab.training.pool.pool_update`);
            see :class:`ImagePool`. The pools keep their variables, draws and data-parallel
            behaviour; only the rule that runs inside the compiled step changes.

    The defaults of ``gan_mode``, ``cycle_loss``, ``identity_loss`` and ``pool_rule`` are the
    library's own functions: the trainer then runs exactly as without these arguments.
    """

    def __init__(
        self,
        g_ab,
        g_ba,
        d_a,
        d_b,
        lambda_cycle=10.0,
        lambda_identity=0.5,
        pool_size=50,
        gan_mode="lsgan",
        image_shape=None,
        gp_weight=10.0,
        seed=None,
        cycle_loss=None,
        identity_loss=None,
        pool_rule=None,
        **kwargs,
    ):
        gan = losses.as_gan_loss(gan_mode)
        names = ("G_A", "G_B", "cycle_A", "cycle_B")
        if lambda_identity > 0:
            names += ("idt_A", "idt_B")
        names += ("D_A", "D_B")
        if gan.uses_penalty:
            names += ("D_gp",)
        super().__init__(names, **kwargs)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.lambda_cycle = float(lambda_cycle)
        self.lambda_identity = float(lambda_identity)
        self.gan = gan
        self.cycle_loss = losses.cycle_loss if cycle_loss is None else cycle_loss
        self.identity_loss = losses.identity_loss if identity_loss is None else identity_loss
        self.gp_weight = float(gp_weight)
        self.pool_size = int(pool_size)
        pool_seed_a = None if seed is None else seed + 1
        pool_seed_b = None if seed is None else seed + 2
        self.pool_a = ImagePool(self.pool_size, seed=pool_seed_a, rule=pool_rule, name="pool_a")
        self.pool_b = ImagePool(self.pool_size, seed=pool_seed_b, rule=pool_rule, name="pool_b")
        self.seed_generator = keras.random.SeedGenerator(seed)
        if image_shape is not None:
            self.build((None,) + tuple(image_shape))
        elif not self.pool_size:
            self.built = True

    @property
    def networks(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}

    def _optimizer_targets(self):
        return {
            "g": self.g_ab.trainable_variables + self.g_ba.trainable_variables,
            "d": self.d_a.trainable_variables + self.d_b.trainable_variables,
        }

    def build(self, input_shape):
        """Build the image pools for A images of ``input_shape`` (B, H, W, C)."""
        if self.pool_size and not self.pool_b.built:
            spec_a = keras.KerasTensor((1,) + tuple(input_shape)[1:], "float32")
            spec_fake_b = self.g_ab.compute_output_spec(spec_a)
            spec_fake_a = self.g_ba.compute_output_spec(spec_fake_b)
            self.pool_b.build(spec_fake_b.shape)
            self.pool_a.build(spec_fake_a.shape)
        self.built = True

    def call(self, a, training=False):
        return self.g_ab(a, training=training)

    def _pool_shapes(self):
        return {
            name: list(pool.image_shape)
            for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b))
            if pool.pool_size and pool.built
        }

    def _prepare_load(self, arrays, meta):
        shapes = meta.get("pool_shapes", {})
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            if pool.pool_size and not pool.built and name in shapes:
                pool.build((None,) + tuple(shapes[name]))
        self.built = self.pool_a.built and self.pool_b.built

    def _train_step(self, data):
        real_a, real_b = unpack_pair(data, "CycleGAN")
        real_a = ops.cast(real_a, "float32")
        real_b = ops.cast(real_b, "float32")
        g_vars = self.g_ab.trainable_variables + self.g_ba.trainable_variables
        d_vars = self.d_a.trainable_variables + self.d_b.trainable_variables
        lam_c = self.lambda_cycle
        lam_i = self.lambda_cycle * self.lambda_identity

        def g_objective():
            fake_b = to_float32(self.g_ab(real_a, training=True))
            rec_a = to_float32(self.g_ba(fake_b, training=True))
            fake_a = to_float32(self.g_ba(real_b, training=True))
            rec_b = to_float32(self.g_ab(fake_a, training=True))
            g_a = self.gan.g_loss(to_float32(self.d_b(fake_b, training=True)))
            g_b = self.gan.g_loss(to_float32(self.d_a(fake_a, training=True)))
            cycle_a = to_float32(self.cycle_loss(real_a, rec_a))
            cycle_b = to_float32(self.cycle_loss(real_b, rec_b))
            terms = {"G_A": g_a, "G_B": g_b, "cycle_A": cycle_a, "cycle_B": cycle_b}
            total = g_a + g_b + lam_c * (cycle_a + cycle_b)
            if self.lambda_identity > 0:
                idt_a = to_float32(self.identity_loss(real_b, to_float32(self.g_ab(real_b, training=True))))
                idt_b = to_float32(self.identity_loss(real_a, to_float32(self.g_ba(real_a, training=True))))
                terms.update(idt_A=idt_a, idt_B=idt_b)
                total = total + lam_i * (idt_a + idt_b)
            return total, (terms, fake_a, fake_b)

        _, (g_terms, fake_a, fake_b), g_grads, _ = shim.value_and_grad(g_objective, g_vars)
        self._apply(self.g_optimizer, g_grads, g_vars)

        pooled_a = self.pool_a.query(fake_a)
        pooled_b = self.pool_b.query(fake_b)

        def d_objective():
            terms = {}
            total = 0.0
            for name, disc, real, fake in (
                ("D_A", self.d_a, real_a, pooled_a),
                ("D_B", self.d_b, real_b, pooled_b),
            ):
                d_real, d_fake = self.gan.d_loss(
                    to_float32(disc(real, training=True)), to_float32(disc(fake, training=True))
                )
                terms[name] = 0.5 * (d_real + d_fake)
                total = total + terms[name]
                if self.gan.uses_penalty:
                    gp = losses.gradient_penalty(
                        lambda z, disc=disc: to_float32(disc(z, training=True)),
                        real,
                        fake,
                        seed=self.seed_generator,
                        weight=self.gp_weight,
                    )
                    terms["D_gp"] = terms.get("D_gp", 0.0) + gp
                    total = total + gp
            return total, terms

        _, d_terms, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
        self._apply(self.d_optimizer, d_grads, d_vars)
        self._track(**g_terms, **d_terms)

    def translate(self, x, direction="AtoB"):
        """``g_ab(x)`` (``direction="AtoB"``) or ``g_ba(x)`` (``"BtoA"``), numpy in [-1, 1]."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"CycleGAN.translate: direction must be 'AtoB' or 'BtoA', got {direction!r}.")
        generator = self.g_ab if direction == "AtoB" else self.g_ba
        return self._inference(direction, lambda t: generator(t, training=False), x)

    def sample_columns(self, x, y):
        """Columns ``real_A, fake_B, rec_A, real_B, fake_A, rec_B`` (numpy, [-1, 1]).

        ``x`` is a batch of A images, ``y`` a batch of B images (same batch size).
        """
        return self._cycle_columns(x, y)
