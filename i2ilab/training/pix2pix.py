"""pix2pix trainer: conditional GAN + L1 for paired translation (Isola et al. 2017, Sec. 3)."""

import keras
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair


class Pix2Pix(GANTrainer):
    """Train a generator G: x -> y and a PatchGAN D on paired batches ``(x, y)``.

    Objective (Isola et al. eq. 4): G minimises ``gan.g_loss(D(x, G(x))) + lambda_l1 *
    L1(G(x), y)``; D minimises ``0.5 * (d_real + d_fake)``, the reference's halved D loss.

    Update order per batch, as the PyTorch reference: G forward once (training mode); D step on
    real pairs and on the detached fake; G step against the *updated* D, reusing the first G
    forward (its pullback), so G's BatchNorm statistics move once per step.

    Logged (epoch means in the progress bar, unweighted): ``G_GAN``, ``G_L1``, ``D_real``,
    ``D_fake`` (+ ``D_gp`` for ``wgangp``). Without a discriminator only ``G_L1``.

    Ablations of the paper's Table 1: ``lambda_l1=0`` is cGAN only (G_L1 is still logged);
    ``discriminator=None`` is L1 only (no D, no d_optimizer); ``conditional=False`` gives D only
    the output (the unconditional "GAN" rows).

    Args:
        generator: keras.Model (B, H, W, Cin) -> (B, H, W, Cout) tanh images.
        discriminator: keras.Model on (B, H, W, Cin + Cout) if conditional else (B, H, W, Cout),
            returning logits (B, h, w, 1) (or a list of maps); or None.
        lambda_l1: weight of the L1 term (100 in the paper).
        gan_mode: ``vanilla`` (paper), ``lsgan``, ``hinge`` or ``wgangp``; or a GAN loss object
            with ``d_loss``/``g_loss`` (e.g. :class:`i2ilab.losses.FunctionGANLoss` made of a
            lab's own functions).
        l1_loss: the reconstruction term ``(generated, target) -> scalar``
            (:func:`i2ilab.losses.l1_loss`; a lab passes its own).
        conditional: D sees ``concat([x, y])`` on the channel axis (6 channels for RGB).
        gp_weight: gradient-penalty weight for ``wgangp``.
        seed: seed of the trainer's SeedGenerator (penalty interpolation).
    """

    def __init__(
        self,
        generator,
        discriminator,
        lambda_l1=100.0,
        gan_mode="vanilla",
        l1_loss=None,
        conditional=True,
        gp_weight=10.0,
        seed=None,
        **kwargs,
    ):
        gan = losses.as_gan_loss(gan_mode)
        if discriminator is None:
            names = ("G_L1",)
        else:
            names = ("G_GAN", "G_L1", "D_real", "D_fake") + (("D_gp",) if gan.uses_penalty else ())
        super().__init__(names, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.lambda_l1 = float(lambda_l1)
        self.gan = gan
        self.l1_loss = losses.l1_loss if l1_loss is None else l1_loss
        self.conditional = bool(conditional)
        self.gp_weight = float(gp_weight)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def networks(self):
        nets = {"generator": self.generator}
        if self.discriminator is not None:
            nets["discriminator"] = self.discriminator
        return nets

    def _optimizer_targets(self):
        return {
            "g": self.generator.trainable_variables,
            "d": None if self.discriminator is None else self.discriminator.trainable_variables,
        }

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def _d_input(self, x, image):
        if self.conditional:
            return ops.concatenate([ops.cast(x, "float32"), image], axis=-1)
        return image

    def _train_step(self, data):
        x, y = unpack_pair(data, "Pix2Pix")
        y = ops.cast(y, "float32")
        g_vars = self.generator.trainable_variables
        fake, g_pullback = shim.vjp(lambda: ops.cast(self.generator(x, training=True), "float32"), g_vars)
        tracked = {}
        if self.discriminator is not None:
            d_vars = self.discriminator.trainable_variables
            real_in = self._d_input(x, y)
            fake_in = self._d_input(x, ops.stop_gradient(fake))

            def d_objective():
                real_logits = to_float32(self.discriminator(real_in, training=True))
                fake_logits = to_float32(self.discriminator(fake_in, training=True))
                d_real, d_fake = self.gan.d_loss(real_logits, fake_logits)
                total = 0.5 * (d_real + d_fake)
                terms = {"D_real": d_real, "D_fake": d_fake}
                if self.gan.uses_penalty:
                    gp = losses.gradient_penalty(
                        lambda z: to_float32(self.discriminator(z, training=True)),
                        real_in,
                        fake_in,
                        seed=self.seed_generator,
                        weight=self.gp_weight,
                    )
                    total = total + gp
                    terms["D_gp"] = gp
                return total, terms

            _, d_terms, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
            self._apply(self.d_optimizer, d_grads, d_vars)
            tracked.update(d_terms)

        def g_objective(generated):
            g_l1 = self.l1_loss(generated, y)
            terms = {"G_L1": g_l1}
            total = self.lambda_l1 * g_l1
            if self.discriminator is not None:
                logits = to_float32(self.discriminator(self._d_input(x, generated), training=True))
                g_gan = self.gan.g_loss(logits)
                terms["G_GAN"] = g_gan
                total = total + g_gan
            return total, terms

        _, g_terms, _, (fake_grad,) = shim.value_and_grad(g_objective, [], (fake,))
        self._apply(self.g_optimizer, g_pullback(fake_grad), g_vars)
        tracked.update(g_terms)
        self._track(**tracked)

    def translate(self, x, training=False):
        """G(x) as a numpy array (B, H, W, Cout) in [-1, 1].

        ``training=True`` reproduces the paper's test protocol (dropout on, batch statistics)
        without changing any state: BatchNorm moving averages and dropout seeds are left as they
        were.
        """
        if training:
            self._sync()
            with keras.StatelessScope():
                return self._numpy(self.generator(x, training=True))
        return self._inference("translate", lambda t: self.generator(t, training=False), x)

    def sample_columns(self, x, y):
        """Columns for a sample grid: ``{"input": x, "output": G(x), "target": y}``, numpy."""
        return {"input": self._numpy(x), "output": self.translate(x), "target": self._numpy(y)}
