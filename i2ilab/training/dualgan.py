"""DualGAN trainer (Yi et al. 2017, Sec. 3 and Algorithm 1; duxingren14/DualGAN ``model.py``)."""

import keras
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair
from i2ilab.training.discogan import masked_apply


@keras.saving.register_keras_serializable(package="i2ilab")
class TF1RMSprop(keras.optimizers.RMSprop):
    """``tf.train.RMSPropOptimizer`` of TensorFlow 1: Keras' RMSprop with the mean square
    accumulator started at ONE (TF1's ``rms`` slot) instead of zero.

    ``ms = rho ms + (1 - rho) g^2``, ``w -= lr g / sqrt(ms + epsilon)``, momentum 0. Started at
    zero, the first updates are about ``lr / sqrt(1 - rho)`` = 3.2 lr; started at one they are
    ``~ lr * g``, small, as the reference trained. Defaults: TF1's rho (``decay``) 0.9 and
    epsilon 1e-10.
    """

    def __init__(self, learning_rate=5e-5, rho=0.9, epsilon=1e-10, **kwargs):
        super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for variable in self.variables:
            if variable.path.endswith("_velocity"):
                variable.assign(ops.ones(variable.shape, variable.dtype))


class DualGAN(GANTrainer):
    """DualGAN on unpaired batches ``(a, b)`` in [-1, 1]: two U-Net generators, two WGAN critics.

    ``g_ab``: A -> B (the reference's ``A_g``), ``g_ba``: B -> A (``B_g``); ``d_b`` judges B
    images (the reference's ``A_d``, which pairs with A_g), ``d_a`` judges A images (``B_d``).
    With ``fake_b = g_ab(a)``, ``fake_a = g_ba(b)`` and the reconstructions ``rec_a =
    g_ba(fake_b)``, ``rec_b = g_ab(fake_a)`` (L1 means; ``loss_metric="l2"``: squares)::

        D: D_B = mean(d_b(fake_b)) - mean(d_b(b)) + gp_B,  D_A likewise,  minimise D_A + D_B
        G: -mean(d_b(fake_b)) - mean(d_a(fake_a)) + lambda_a |rec_a - a| + lambda_b |rec_b - b|

    ``gp`` is the WGAN-GP penalty 10 * mean((||grad d(x_hat)|| - 1)^2) at ``x_hat = real +
    eps (fake - real)``, one ``eps ~ U(0, 1)`` per image (:func:`i2ilab.losses.gradient_penalty`;
    the reference's norm is sqrt(1e-8 + sum g^2), the library's adds 1e-16 to each g: the same
    to float32 precision). ``gan_mode="wgan"`` drops the penalty and clips every critic weight
    to +-``clip_value`` after each D step, the reference's ``--GAN_type wgan``.

    Update order per batch, as the reference: the D step (fakes from the current generators),
    then, on every ``n_critic``-th iteration (every iteration by default), the G step, which
    recomputes the fakes and judges them with the updated critics. Default optimizers: the
    reference's ``RMSPropOptimizer(5e-5, decay=0.9)``, :class:`TF1RMSprop`.

    The reference's ``--flip`` is meant to flip training images but can never turn on (a bool
    compared with the string 'True'); flipping is a data-pipeline choice here (the loaders'
    own options), off as the authors trained.

    Logged: ``G_A`` (= -mean(d_b(fake_b))), ``G_B``, ``recon_A``, ``recon_B`` (unweighted),
    ``D_A``, ``D_B`` (critic losses with their penalty), ``gp_A``, ``gp_B`` (wgangp only).

    Args:
        lambda_a, lambda_b: 500 and 500 (the README's facades run uses 1000).
        gp_weight: 10. clip_value: 0.01 (``wgan`` only). n_critic: 1.
        loss_metric: ``"l1"`` (default) or ``"l2"``.
        seed: seed of the penalty's draws.
    """

    _default_learning_rate = 5e-5

    def __init__(
        self,
        g_ab,
        g_ba,
        d_a,
        d_b,
        lambda_a=500.0,
        lambda_b=500.0,
        gan_mode="wgangp",
        gp_weight=10.0,
        clip_value=0.01,
        n_critic=1,
        loss_metric="l1",
        seed=None,
        **kwargs,
    ):
        if gan_mode not in ("wgangp", "wgan"):
            raise ValueError(f"DualGAN: gan_mode must be 'wgangp' or 'wgan', got {gan_mode!r}.")
        if loss_metric not in ("l1", "l2"):
            raise ValueError(f"DualGAN: loss_metric must be 'l1' or 'l2', got {loss_metric!r}.")
        names = ("G_A", "G_B", "recon_A", "recon_B", "D_A", "D_B")
        if gan_mode == "wgangp":
            names += ("gp_A", "gp_B")
        super().__init__(names, **kwargs)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.lambda_a, self.lambda_b = float(lambda_a), float(lambda_b)
        self.gan_mode = gan_mode
        self.gp_weight, self.clip_value = float(gp_weight), float(clip_value)
        self.n_critic = int(n_critic)
        self.recon = losses.l1_loss if loss_metric == "l1" else losses.l2_loss
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def networks(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}

    def _optimizer_targets(self):
        return {
            "g": self.g_ab.trainable_variables + self.g_ba.trainable_variables,
            "d": self.d_a.trainable_variables + self.d_b.trainable_variables,
        }

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """As :meth:`GANTrainer.compile`; the default optimizers are ``TF1RMSprop(5e-5)``."""
        super().compile(
            g_optimizer=TF1RMSprop(self._default_learning_rate) if g_optimizer is None else g_optimizer,
            d_optimizer=TF1RMSprop(self._default_learning_rate) if d_optimizer is None else d_optimizer,
            **kwargs,
        )

    def call(self, a, training=False):
        return self.g_ab(a, training=training)

    def _penalty_eps(self, batch):
        """The two penalties' ``eps`` (B, 1, 1, 1) each, uniform in [0, 1) (a test replaces this)."""
        return (
            keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator),
            keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator),
        )

    def _train_step(self, data):
        real_a, real_b = unpack_pair(data, "DualGAN")
        real_a = ops.cast(real_a, "float32")
        real_b = ops.cast(real_b, "float32")
        targets = self._optimizer_targets()
        fake_b = ops.stop_gradient(to_float32(self.g_ab(real_a, training=True)))
        fake_a = ops.stop_gradient(to_float32(self.g_ba(real_b, training=True)))
        eps_b, eps_a = self._penalty_eps(ops.shape(real_a)[0])

        def d_objective():
            terms, total = {}, 0.0
            for side, disc, real, fake, eps in (
                ("B", self.d_b, real_b, fake_b, eps_b),
                ("A", self.d_a, real_a, fake_a, eps_a),
            ):
                critic = to_float32(disc(fake, training=True))
                terms[f"D_{side}"] = ops.mean(critic) - ops.mean(to_float32(disc(real, training=True)))
                if self.gan_mode == "wgangp":
                    gp = losses.gradient_penalty(
                        lambda z, disc=disc: to_float32(disc(z, training=True)),
                        real,
                        fake,
                        alpha=1.0 - eps,
                        weight=self.gp_weight,
                    )
                    terms[f"gp_{side}"] = gp
                    terms[f"D_{side}"] = terms[f"D_{side}"] + gp
                total = total + terms[f"D_{side}"]
            return total, terms

        _, d_terms, d_grads, _ = shim.value_and_grad(d_objective, targets["d"])
        self._apply(self.d_optimizer, d_grads, targets["d"])
        if self.gan_mode == "wgan":
            for variable in targets["d"]:
                variable.assign(ops.clip(variable.value, -self.clip_value, self.clip_value))

        def g_objective():
            fake_b = to_float32(self.g_ab(real_a, training=True))
            fake_a = to_float32(self.g_ba(real_b, training=True))
            rec_a = to_float32(self.g_ba(fake_b, training=True))
            rec_b = to_float32(self.g_ab(fake_a, training=True))
            g_a = -ops.mean(to_float32(self.d_b(fake_b, training=True)))
            g_b = -ops.mean(to_float32(self.d_a(fake_a, training=True)))
            recon_a, recon_b = self.recon(rec_a, real_a), self.recon(rec_b, real_b)
            total = g_a + g_b + self.lambda_a * recon_a + self.lambda_b * recon_b
            return total, {"G_A": g_a, "G_B": g_b, "recon_A": recon_a, "recon_B": recon_b}

        _, g_terms, g_grads, _ = shim.value_and_grad(g_objective, targets["g"])
        if self.n_critic == 1:
            self._apply(self.g_optimizer, g_grads, targets["g"])
        else:
            g_turn = ops.equal(ops.mod(self.optimizer.iterations, self.n_critic), 0)
            masked_apply(self, self.g_optimizer, g_grads, targets["g"], g_turn)
        self._track(**g_terms, **d_terms)

    def translate(self, x, direction="AtoB"):
        """``g_ab(x)`` (``"AtoB"``) or ``g_ba(x)`` (``"BtoA"``), numpy in [-1, 1]."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"DualGAN.translate: direction must be 'AtoB' or 'BtoA', got {direction!r}.")
        generator = self.g_ab if direction == "AtoB" else self.g_ba
        return self._inference(direction, lambda t: generator(t, training=False), x)

    def sample_columns(self, x, y):
        """Columns ``real_A, fake_B, rec_A, real_B, fake_A, rec_B`` (numpy, [-1, 1])."""
        return self._cycle_columns(x, y)
