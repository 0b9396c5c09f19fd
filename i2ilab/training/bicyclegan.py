"""BicycleGAN trainer: multimodal paired translation, cVAE-GAN + cLR-GAN (Zhu et al. 2017b, Sec. 3)."""

import keras
import numpy as np
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair


def cvae_gan_terms(generator, discriminator, a, b, mu, logvar, eps, adversarial, kl=losses.kl_loss, training=True):
    """The cVAE-GAN half of G's objective, B -> z -> B^ (Zhu et al. 2017b, Sec. 3.1, eqs. 4-6).

    ``z = mu + exp(logvar / 2) * eps`` (the reparameterisation), ``fake = G([a, z])``.
    a (B, H, W, Cin), b (B, H, W, Cout) in [-1, 1]; mu, logvar, eps (B, nz); ``adversarial``
    maps D's output (a map or a list over scales) to G's GAN term; ``kl`` is
    :func:`i2ilab.losses.kl_loss` (a sum). Returns ``(fake, {"G_GAN", "G_L1", "kl"})``,
    unweighted float32 scalars, ``G_L1 = mean|fake - b|``.
    """
    z = ops.cast(mu, "float32") + ops.exp(0.5 * ops.cast(logvar, "float32")) * eps
    fake = to_float32(generator([a, z], training=training))
    terms = {
        "G_GAN": adversarial(to_float32(discriminator(fake, training=training))),
        "G_L1": losses.l1_loss(fake, b),
        "kl": kl(mu, logvar),
    }
    return fake, terms


def clr_gan_terms(
    generator, encoder, discriminator2, a, z, adversarial, latent=losses.latent_regression_loss, training=True
):
    """The cLR-GAN half of G's objective, z -> B^ -> z^ (Zhu et al. 2017b, Sec. 3.2, eqs. 7-8).

    ``fake = G([a, z])`` with a random code z (B, nz) ~ N(0, I); ``mu2 = E(fake)[0]`` (the mean:
    a point estimate, as the reference). Returns ``(fake, {"G_GAN2": adversarial(D2(fake)),
    "z_L1": latent(z, mu2)})``, unweighted float32 scalars (:func:`i2ilab.losses.latent_regression_loss`).
    """
    fake = to_float32(generator([a, z], training=training))
    mu2 = to_float32(encoder(fake, training=training))[0]
    terms = {"G_GAN2": adversarial(to_float32(discriminator2(fake, training=training))), "z_L1": latent(z, mu2)}
    return fake, terms


class BicycleGAN(GANTrainer):
    """Train G(A, z), the encoder E(B) -> (mu, logvar) and two discriminators on paired ``(a, b)``.

    Each batch is split in halves, as the authors' code (``bicycle_gan_model.py``): the first
    half (A1, B1) trains the cVAE-GAN, the cLR-GAN uses **A1 too** with a random code, and D2's
    real images are the second half's B2 (A2 is not used). With the default batch of 2 each
    branch sees one image. Per step, with ``eps, z ~ N(0, I)`` (drawn in that order)::

        mu, logvar = E(B1);  z_enc = mu + exp(logvar / 2) * eps
        fake_enc = G(A1, z_enc);  fake_rand = G(A1, z);  mu2 = E(fake_rand)[0]
        G, E: lambda_gan * gan(D(fake_enc)) + lambda_gan2 * gan(D2(fake_rand))
              + lambda_l1 * mean|fake_enc - B1| + lambda_kl * KL(mu, logvar)      (eq. 9)
        G only: lambda_z * mean|mu2 - z|   (E gets no gradient from it: the reference freezes
              E for this term; Sec. 3.4 / implementation details)
        D:  gan_d(D(B1), D(fake_enc)),  D2: gan_d(D2(B2), D2(fake_rand))   (no 0.5 factor)

    KL is a sum over the batch and the nz dimensions (:func:`i2ilab.losses.kl_loss`); the GAN
    terms of a multi-scale D are summed over its scales (LSGAN: MSE to 1 / 0 per scale).

    Update order per batch, as the reference's ``optimize_parameters``: one forward pass, the
    G and E step, then the D and D2 steps on the fakes of that forward pass (made by G before
    its update), detached. The reference's four Adam optimizers (G, E, D, D2, all lr 2e-4,
    betas (0.5, 0.999)) are two here: ``g_optimizer`` over G's and E's variables and
    ``d_optimizer`` over D's and D2's. Adam works per variable and all four step every
    iteration with one learning rate and schedule, so the numbers are the same.

    Logged (unweighted epoch means; the reference's names): ``G_GAN``, ``G_GAN2``, ``G_L1``,
    ``kl``, ``z_L1``, ``D`` (d_real + d_fake of D, summed over its scales), ``D2``.
    A half whose weights are all 0 (the cVAE-GAN alone: ``lambda_gan2 = lambda_z = 0``; the
    cLR-GAN alone: ``lambda_gan = lambda_l1 = lambda_kl = 0``) is not computed, its
    discriminator does not move, and its names are not logged.

    Args:
        generator: keras.Model [(B, H, W, Cin) images, (B, nz) codes] -> (B, H, W, Cout) tanh
            images (:func:`i2ilab.models.bicycle_unet_generator`).
        encoder: keras.Model (B, H, W, Cout) -> [mu (B, nz), logvar (B, nz)]
            (:func:`i2ilab.models.bicycle_encoder`).
        discriminator, discriminator2: keras.Models (B, H, W, Cout) -> a logit map or a list of
            maps (:func:`i2ilab.models.bicycle_discriminator`); D judges fake_enc, D2 fake_rand.
        lambda_gan, lambda_gan2, lambda_l1, lambda_kl, lambda_z: the reference's weights
            (1, 1, 10, 0.01, 0.5).
        gan_mode: ``lsgan`` (reference), ``vanilla`` or ``hinge``, or a GAN loss object with
            ``d_loss``/``g_loss`` (:class:`i2ilab.losses.FunctionGANLoss`).
        z_loss_trains_encoder: False (the reference's BicycleGAN): E is frozen for the z loss;
            True: the z loss also trains E, as in the paper's cLR-GAN alone (eq. 8), i.e.
            ``lambda_gan=0, lambda_l1=0, lambda_kl=0`` with this flag; the cVAE-GAN alone is
            ``lambda_gan2=0, lambda_z=0``.
        num_sample_z: random-code columns in :meth:`sample_columns`.
        seed: seed of the trainer's SeedGenerator (eps and the random codes).
        kl_loss: ``(mu, logvar) -> scalar``, the KL term (None: :func:`i2ilab.losses.kl_loss`,
            a sum; a lab passes its own).
        latent_loss: ``(z, z_recon) -> scalar``, the latent regression term (None:
            :func:`i2ilab.losses.latent_regression_loss`).
        cvae_half, clr_half: None (:func:`cvae_gan_terms`, :func:`clr_gan_terms` with the
            ``kl_loss`` and ``latent_loss`` above) or a lab's own functions of the same
            positional signature, ``(generator, discriminator, a, b, mu, logvar, eps,
            adversarial)`` and ``(generator, encoder, discriminator2, a, z, adversarial)``,
            each returning ``(fake, terms)`` with the terms named as above. They run inside the
            compiled step; networks with dropout need ``training=True`` in their calls.

    The batch must hold at least 2 pairs; with an odd size the second half gets the extra pair
    (the reference skips batches that are not of the full size). Under data parallelism each
    replica splits its own share in halves.
    """

    def __init__(
        self,
        generator,
        encoder,
        discriminator,
        discriminator2,
        lambda_gan=1.0,
        lambda_gan2=1.0,
        lambda_l1=10.0,
        lambda_kl=0.01,
        lambda_z=0.5,
        gan_mode="lsgan",
        z_loss_trains_encoder=False,
        num_sample_z=3,
        seed=None,
        kl_loss=None,
        latent_loss=None,
        cvae_half=None,
        clr_half=None,
        **kwargs,
    ):
        gan = losses.as_gan_loss(gan_mode)
        if gan.uses_penalty:
            raise ValueError(
                "BicycleGAN: gan_mode='wgangp' needs a gradient penalty, which this trainer does not add; "
                "use 'lsgan' (reference), 'vanilla' or 'hinge'."
            )
        # A half whose weights are all 0 is not computed (nor its D trained): the baselines
        # cVAE-GAN alone (lambda_gan2 = lambda_z = 0) and cLR-GAN alone (lambda_gan = lambda_l1 =
        # lambda_kl = 0) cost one half of the step; their logs leave its terms out.
        self.uses_cvae = any(float(w) != 0.0 for w in (lambda_gan, lambda_l1, lambda_kl))
        self.uses_clr = any(float(w) != 0.0 for w in (lambda_gan2, lambda_z))
        if not (self.uses_cvae or self.uses_clr):
            raise ValueError("BicycleGAN: every loss weight is 0; nothing would train.")
        names = (("G_GAN", "G_L1", "kl", "D") if self.uses_cvae else ()) + (
            ("G_GAN2", "z_L1", "D2") if self.uses_clr else ()
        )
        super().__init__(names, **kwargs)
        self.generator, self.encoder = generator, encoder
        self.discriminator, self.discriminator2 = discriminator, discriminator2
        self.nz = self._code_size(generator, encoder)
        self.lambda_gan = float(lambda_gan)
        self.lambda_gan2 = float(lambda_gan2)
        self.lambda_l1 = float(lambda_l1)
        self.lambda_kl = float(lambda_kl)
        self.lambda_z = float(lambda_z)
        self.gan = gan
        self.z_loss_trains_encoder = bool(z_loss_trains_encoder)
        self.num_sample_z = int(num_sample_z)
        self.kl_loss = losses.kl_loss if kl_loss is None else kl_loss
        self.latent_loss = losses.latent_regression_loss if latent_loss is None else latent_loss
        self.cvae_half = cvae_half or (lambda *args: cvae_gan_terms(*args, kl=self.kl_loss))
        self.clr_half = clr_half or (lambda *args: clr_gan_terms(*args, latent=self.latent_loss))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @staticmethod
    def _code_size(generator, encoder):
        inputs = generator.inputs if isinstance(generator, keras.Model) else None
        outputs = encoder.outputs if isinstance(encoder, keras.Model) else None
        if not inputs or len(inputs) != 2 or not outputs or len(outputs) != 2:
            raise ValueError(
                "BicycleGAN: the generator must take [image, z] and the encoder return [mu, logvar] "
                "(use i2ilab.models.bicycle_unet_generator and bicycle_encoder)."
            )
        nz, enc_nz = inputs[1].shape[-1], outputs[0].shape[-1]
        if nz != enc_nz:
            raise ValueError(f"BicycleGAN: the generator takes codes of size {nz}, the encoder gives {enc_nz}.")
        return int(nz)

    @property
    def networks(self):
        return {
            "generator": self.generator,
            "encoder": self.encoder,
            "discriminator": self.discriminator,
            "discriminator2": self.discriminator2,
        }

    def _optimizer_targets(self):
        return {
            "g": self.generator.trainable_variables + self.encoder.trainable_variables,
            "d": self.discriminator.trainable_variables + self.discriminator2.trainable_variables,
        }

    def call(self, inputs, training=False):
        """G([images, codes])."""
        return self.generator(inputs, training=training)

    def _random_z(self, n):
        """N(0, I) codes (n, nz) from the trainer's SeedGenerator (eps, then the random z)."""
        return keras.random.normal((n, self.nz), seed=self.seed_generator)

    def _train_step(self, data):
        a, b = unpack_pair(data, "BicycleGAN")
        a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
        if a.shape[0] is not None and a.shape[0] < 2:
            raise ValueError(
                f"BicycleGAN.fit: a batch of {a.shape[0]} pair(s); BicycleGAN splits each batch in "
                "halves (cVAE-GAN, cLR-GAN), so use batch_size >= 2 (the reference's 2)."
            )
        half = ops.shape(a)[0] // 2
        a_enc, b_enc, b_rand = a[:half], b[:half], b[half:]
        g_vars = self.generator.trainable_variables
        e_vars = self.encoder.trainable_variables

        # E(B1) once, its pullback kept: E's gradient comes back through mu and logvar only.
        if self.uses_cvae:
            codes, e_pullback = shim.vjp(lambda: to_float32(self.encoder(b_enc, training=True)), e_vars)
            codes = tuple(codes)
        else:
            codes = ()
        n = ops.shape(a_enc)[0]
        eps = self._random_z(n)
        z_random = self._random_z(n)
        weights = {
            "G_GAN": self.lambda_gan,
            "G_GAN2": self.lambda_gan2,
            "G_L1": self.lambda_l1,
            "kl": self.lambda_kl,
            "z_L1": self.lambda_z,
        }

        def g_objective(*codes):
            terms, fakes = {}, {}
            if self.uses_cvae:
                mu, logvar = codes
                fakes["D"], cvae = self._half(
                    "cvae_half",
                    ("G_GAN", "G_L1", "kl"),
                    self.cvae_half(self.generator, self.discriminator, a_enc, b_enc, mu, logvar, eps, self.gan.g_loss),
                )
                terms.update(cvae)
            if self.uses_clr:
                # Unless z_loss_trains_encoder, E's variables are not differentiated here: the z
                # loss trains G only (the rest of E's gradient comes back through mu and logvar).
                fakes["D2"], clr = self._half(
                    "clr_half",
                    ("G_GAN2", "z_L1"),
                    self.clr_half(self.generator, self.encoder, self.discriminator2, a_enc, z_random, self.gan.g_loss),
                )
                terms.update(clr)
            total = sum(weights[k] * v for k, v in terms.items())
            return total, (terms, {k: ops.stop_gradient(v) for k, v in fakes.items()})

        direct = g_vars + (e_vars if self.z_loss_trains_encoder else [])
        _, (g_terms, fakes), grads, code_grads = shim.value_and_grad(g_objective, direct, codes)
        g_grads = grads[: len(g_vars)]
        e_grads = e_pullback(list(code_grads)) if self.uses_cvae else [ops.zeros(v.shape, v.dtype) for v in e_vars]
        if self.z_loss_trains_encoder:
            e_grads = [u + v for u, v in zip(e_grads, grads[len(g_vars) :], strict=True)]
        self._apply(self.g_optimizer, g_grads + e_grads, g_vars + e_vars)

        pairs = {"D": (self.discriminator, b_enc), "D2": (self.discriminator2, b_rand)}
        d_vars = self.discriminator.trainable_variables + self.discriminator2.trainable_variables

        def d_objective():
            terms = {}
            for name, fake in fakes.items():
                disc, real = pairs[name]
                d_real, d_fake = self.gan.d_loss(
                    to_float32(disc(real, training=True)), to_float32(disc(fake, training=True))
                )
                terms[name] = d_real + d_fake
            return sum(terms.values()), terms

        # An unused D gets zero gradients: with Adam's moments at 0 it does not move.
        _, d_terms, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
        self._apply(self.d_optimizer, d_grads, d_vars)
        self._track(**g_terms, **d_terms)

    @staticmethod
    def _half(name, keys, result):
        """Check a half's ``(fake, terms)`` and cast its terms to float32 scalars."""
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], dict)):
            raise ValueError(f"BicycleGAN: {name} must return (fake, terms), terms a dict with keys {keys}.")
        fake, terms = result
        missing = [k for k in keys if k not in terms]
        if missing:
            raise ValueError(f"BicycleGAN: {name} returned terms {sorted(terms)}; missing {missing}.")
        return to_float32(fake), {k: ops.cast(terms[k], "float32") for k in keys}

    # ------------------------------------------------------------------------------- sampling
    def sample_z(self, n, seed=0):
        """``n`` codes (n, nz) from N(0, I), drawn with NumPy from ``seed`` (not the training
        stream), so sample grids use the same codes at every epoch."""
        return np.random.default_rng(seed).standard_normal((n, self.nz)).astype("float32")

    def encode(self, images):
        """mu of E(images), numpy (B, nz): the code of an example output (the reference's test
        ``encode`` uses the mean, no sampling)."""
        return self._inference("encode", lambda t: self.encoder(t, training=False)[0], images)

    def translate(self, x, z=None, seed=0):
        """G(x, z) as numpy (B, H, W, Cout) in [-1, 1], dropout off (the reference's ``eval()``).

        Args:
            x: (B, H, W, Cin) input images in [-1, 1].
            z: (B, nz) or (nz,) codes (e.g. :meth:`encode` of an example output), or None for
                :meth:`sample_z` codes from ``seed``, one per image.
        """
        x = np.asarray(x, "float32")
        if z is None:
            z = self.sample_z(x.shape[0], seed)
        z = np.asarray(z, "float32")
        if z.ndim == 1:
            z = np.broadcast_to(z[None], (x.shape[0], self.nz))
        if z.shape != (x.shape[0], self.nz):
            raise ValueError(f"BicycleGAN.translate: z has shape {z.shape}, expected ({x.shape[0]}, {self.nz}).")
        return self._inference("translate", lambda t, c: self.generator([t, c], training=False), x, z)

    def sample_columns(self, x, y):
        """Columns for a grid (numpy, [-1, 1]): ``input`` (A), ``encoded`` (G(A, mu of E(B))),
        ``random_1 .. random_k`` (``num_sample_z`` fixed random codes, the same at every call)
        and ``target`` (B)."""
        x = np.asarray(x, "float32")
        columns = {"input": x, "encoded": self.translate(x, self.encode(y))}
        codes = self.sample_z(self.num_sample_z)
        for k in range(self.num_sample_z):
            columns[f"random_{k + 1}"] = self.translate(x, codes[k])
        columns["target"] = self._numpy(y)
        return columns
