"""One-shot translation trainer, OST (Benaim & Wolf 2018, Sec. 3; sagiebenaim/OneShotTranslation
``drawing_and_style_transfer/models/autoencoder_model.py`` and ``ost.py``)."""

from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair
from i2ilab.training.pool import ImagePool

PHASES = ("autoencoder", "ost")


class OneShot(GANTrainer):
    """OST's two phases on batches ``(a, b)`` in [-1, 1]; ``a`` is the one A image (repeated).

    The B path is ``Dec_b(Dec_shared(Enc_shared(Enc_b(b))))`` and the A path swaps in Enc_a /
    Dec_a around the same shared layers (:mod:`i2ilab.models.ost`).

    Phase ``"autoencoder"`` (``--model autoencoder``, domain B only; the batches' ``a`` is
    ignored): with the code ``z = Enc_shared(Enc_b(b))`` and ``bb = Dec_b(Dec_shared(z))``::

        G = gan(d_b(bb)) + lambda_idt_b * |bb - b| + kl_weight * mean(z^2)   (lambda_idt_b 10)

    Phase ``"ost"`` (``--model ost``; start from phase 1's Enc_b, Enc_shared, Dec_shared, Dec_b
    and a fresh D_b), with ``ab = Dec_b(Dec_shared(Enc_shared(Enc_a(a))))``, ``aa`` the A path's
    reconstruction, ``aba = Dec_a(Dec_shared(Enc_shared(Enc_b(ab))))``::

        G_A = gan(d_b(ab)) + lambda_cycle * |aba - a| + lambda_idt_a * |aa - a|     (10, 1)
        G_B = |bb - b| + kl_weight * mean(z^2) + gan(d_b(bb))                       (idt weight 1)

    G_A trains Enc_a and Dec_a ONLY, G_B trains Enc_b, Enc_shared, Dec_shared and Dec_b: the
    A-side losses never reach the shared layers (the reference zeroes their gradient before the
    B update), so the shared layers keep the B autoencoder's representation. Both gradients are
    taken at the same weights and applied by one optimizer (every one of the reference's Adams
    steps once per iteration). The reference also builds a D_a that has an optimizer and no loss
    and never changes; it is not built here.

    D (``d_b``, LSGAN): phase 1 ``0.5 (d_real + d_fake(pool(bb)))``; phase 2 the reference's two
    halves, ``0.5 (d_real + d_fake(pool(ab))) + 0.5 (d_real + d_fake(pool(bb)))``, both fakes
    through the one pool (queried with ab first). Update order: the G step, then the D step.
    The "KL" is ``mean(z^2)``: no noise is added to the code.

    Logged: phase 1 ``G_gan, idt_B, kl, D``; phase 2 ``G_A, cycle_A, idt_A, G_B, idt_B, kl, D``.
    The A image's augmentation (random flip, rotation by up to 7 degrees) and the lambda LR
    rule are the data pipeline's and the callbacks' business.

    Args:
        enc_b, enc_shared, dec_shared, dec_b, d_b: the networks of both phases.
        enc_a, dec_a: the A-side networks (phase ``"ost"`` only).
        phase: ``"autoencoder"`` or ``"ost"``.
        lambda_cycle: 10. lambda_idt_a: 1. lambda_idt_b: None = 10 in phase 1, 1 in phase 2.
        kl_weight: 0.1. pool_size: 50. gan_mode: ``lsgan``. seed: the pool's seed.
        kl_loss: ``(z) -> scalar``, the "KL" of the B code z (B, h, w, C) (None:
            :func:`i2ilab.losses.unit_kl_loss`, ``mean(z^2)`` as the reference; a lab passes
            its own). The default runs exactly as without it.
    """

    def __init__(
        self,
        enc_b,
        enc_shared,
        dec_shared,
        dec_b,
        d_b,
        enc_a=None,
        dec_a=None,
        phase="ost",
        lambda_cycle=10.0,
        lambda_idt_a=1.0,
        lambda_idt_b=None,
        kl_weight=0.1,
        pool_size=50,
        gan_mode="lsgan",
        image_shape=None,
        seed=None,
        kl_loss=None,
        **kwargs,
    ):
        if phase not in PHASES:
            raise ValueError(f"OneShot: phase must be one of {PHASES}, got {phase!r}.")
        if phase == "ost" and (enc_a is None or dec_a is None):
            raise ValueError("OneShot: phase 'ost' needs enc_a and dec_a (the A-side encoder and decoder).")
        if phase == "autoencoder" and (enc_a is not None or dec_a is not None):
            raise ValueError("OneShot: phase 'autoencoder' trains the B autoencoder only; leave enc_a and dec_a out.")
        names = (
            ("G_gan", "idt_B", "kl", "D")
            if phase == "autoencoder"
            else ("G_A", "cycle_A", "idt_A", "G_B", "idt_B", "kl", "D")
        )
        super().__init__(names, **kwargs)
        self.phase = phase
        self.enc_a, self.enc_b, self.enc_shared, self.dec_shared, self.dec_a, self.dec_b = (
            enc_a,
            enc_b,
            enc_shared,
            dec_shared,
            dec_a,
            dec_b,
        )
        self.d_b = d_b
        self.lambda_cycle, self.lambda_idt_a = float(lambda_cycle), float(lambda_idt_a)
        self.lambda_idt_b = float((10.0 if phase == "autoencoder" else 1.0) if lambda_idt_b is None else lambda_idt_b)
        self.kl_weight = float(kl_weight)
        self.kl_loss = losses.unit_kl_loss if kl_loss is None else kl_loss
        self.gan = losses.as_gan_loss(gan_mode)
        if self.gan.uses_penalty:
            raise ValueError("OneShot: gan_mode wgangp is not offered (the reference uses lsgan).")
        self.pool_size = int(pool_size)
        self.pool = ImagePool(self.pool_size, seed=seed, name="pool_b")
        if image_shape is not None:
            self.build((None,) + tuple(image_shape))
        elif not self.pool_size:
            self.built = True

    @property
    def networks(self):
        nets = {"enc_b": self.enc_b, "enc_shared": self.enc_shared, "dec_shared": self.dec_shared, "dec_b": self.dec_b}
        if self.phase == "ost":
            nets.update(enc_a=self.enc_a, dec_a=self.dec_a)
        nets["d_b"] = self.d_b
        return nets

    def _b_vars(self):
        return [
            v for net in (self.enc_b, self.enc_shared, self.dec_shared, self.dec_b) for v in net.trainable_variables
        ]

    def _a_vars(self):
        if self.phase != "ost":
            return []
        return self.enc_a.trainable_variables + self.dec_a.trainable_variables

    def _optimizer_targets(self):
        return {"g": self._a_vars() + self._b_vars(), "d": self.d_b.trainable_variables}

    def build(self, input_shape):
        """Build the image pool for B images of ``input_shape`` (B, H, W, C)."""
        if self.pool_size and not self.pool.built:
            self.pool.build((None,) + tuple(input_shape)[1:])
        self.built = True

    def _pool_shapes(self):
        return {"pool_b": list(self.pool.image_shape)} if self.pool_size and self.pool.built else {}

    def _prepare_load(self, arrays, meta):
        shape = meta.get("pool_shapes", {}).get("pool_b")
        if self.pool_size and not self.pool.built and shape is not None:
            self.pool.build((None,) + tuple(shape))
        self.built = self.pool.built

    def call(self, a, training=False):
        return self._a_to_b(a, training)

    def _decode_b(self, z, training):
        return to_float32(self.dec_b(self.dec_shared(z, training=training), training=training))

    def _a_to_b(self, a, training):
        return self._decode_b(self.enc_shared(self.enc_a(a, training=training), training=training), training)

    def _b_objective(self, real_b):
        z = to_float32(self.enc_shared(self.enc_b(real_b, training=True), training=True))
        bb = self._decode_b(z, True)
        gan = self.gan.g_loss(to_float32(self.d_b(bb, training=True)))
        idt = losses.l1_loss(bb, real_b)
        kl = to_float32(self.kl_loss(z))
        return gan + self.lambda_idt_b * idt + self.kl_weight * kl, gan, idt, kl, bb

    def _train_step(self, data):
        real_a, real_b = unpack_pair(data, "OneShot")
        real_a = ops.cast(real_a, "float32")
        real_b = ops.cast(real_b, "float32")
        b_vars, a_vars = self._b_vars(), self._a_vars()

        def b_objective():
            total, gan, idt, kl, bb = self._b_objective(real_b)
            name = "G_gan" if self.phase == "autoencoder" else "G_B"
            return total, ({name: gan, "idt_B": idt, "kl": kl}, bb)

        _, (terms, bb), b_grads, _ = shim.value_and_grad(b_objective, b_vars)
        fakes = [bb]
        grads, variables = b_grads, b_vars
        if self.phase == "ost":

            def a_objective():
                code_a = self.enc_shared(self.enc_a(real_a, training=True), training=True)
                shared = self.dec_shared(code_a, training=True)
                ab = to_float32(self.dec_b(shared, training=True))
                aa = to_float32(self.dec_a(shared, training=True))
                back = self.dec_shared(self.enc_shared(self.enc_b(ab, training=True), training=True), training=True)
                aba = to_float32(self.dec_a(back, training=True))
                gan = self.gan.g_loss(to_float32(self.d_b(ab, training=True)))
                cycle, idt = losses.l1_loss(aba, real_a), losses.l1_loss(aa, real_a)
                total = gan + self.lambda_cycle * cycle + self.lambda_idt_a * idt
                return total, ({"G_A": gan, "cycle_A": cycle, "idt_A": idt}, ab)

            _, (a_terms, ab), a_grads, _ = shim.value_and_grad(a_objective, a_vars)
            terms.update(a_terms)
            fakes = [ab, bb]
            grads, variables = list(a_grads) + list(b_grads), a_vars + b_vars
        self._apply(self.g_optimizer, grads, variables)

        pooled = [self.pool.query(fake) for fake in fakes]

        def d_objective():
            total = 0.0
            for fake in pooled:
                d_real, d_fake = self.gan.d_loss(
                    to_float32(self.d_b(real_b, training=True)), to_float32(self.d_b(fake, training=True))
                )
                total = total + 0.5 * (d_real + d_fake)
            return total, total

        _, d_total, d_grads, _ = shim.value_and_grad(d_objective, self.d_b.trainable_variables)
        self._apply(self.d_optimizer, d_grads, self.d_b.trainable_variables)
        self._track(D=d_total, **terms)

    def translate(self, x, direction="AtoB"):
        """``"AtoB"``: the A image(s) through Enc_a and the B decoder (phase ``"ost"``);
        ``"BtoB"``: the B autoencoder's reconstruction. Numpy in [-1, 1]."""
        if direction == "AtoB" and self.phase == "ost":
            return self._inference("AtoB", lambda t: self._a_to_b(t, False), x)
        if direction == "BtoB":
            return self._inference(
                "BtoB", lambda t: self._decode_b(self.enc_shared(self.enc_b(t, training=False)), False), x
            )
        allowed = ("AtoB", "BtoB") if self.phase == "ost" else ("BtoB",)
        raise ValueError(
            f"OneShot.translate: direction must be one of {allowed} in phase {self.phase!r}, got {direction!r}."
        )

    def sample_columns(self, x, y):
        """Phase ``"ost"``: ``real_A, fake_B, real_B, rec_B``; phase 1: ``real_B, rec_B`` (numpy, [-1, 1])."""
        cols = {}
        if self.phase == "ost":
            cols.update(real_A=self._numpy(x), fake_B=self.translate(x))
        cols.update(real_B=self._numpy(y), rec_B=self.translate(y, "BtoB"))
        return cols
