"""CUT / FastCUT trainer: contrastive unpaired translation (Park, Efros, Zhang & Zhu 2020), as the
authors' code trains it (taesungp/contrastive-unpaired-translation ``models/cut_model.py``)."""

import keras
from keras import ops

from i2ilab import losses
from i2ilab.models.cut import NCE_LAYERS, PatchSampleF, nce_feature_model
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair

#: The authors' ``--CUT_mode`` settings: lambda_NCE, nce_idt, flip_equivariance.
CUT_MODES = {
    "CUT": {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False},
    "FastCUT": {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True},
}


class CUT(GANTrainer):
    """One generator A -> B, one discriminator of B images and the patch sampler F, on batches
    ``(a, b)`` of unpaired images (Park et al. Sec. 3, eq. 5).

    ``generator``: :func:`i2ilab.models.cut_generator` (its NCE layers are read with
    :func:`i2ilab.models.nce_feature_model`); ``discriminator``: image -> logits;
    ``patch_sampler``: a :class:`i2ilab.models.PatchSampleF` (None: a new one with nc 256). F's
    MLPs are created here from the generator's NCE-layer channels when F has none yet (the
    reference creates them on its first forward pass).

    Per batch, ``real = [a, b]`` (CUT: nce_idt) or ``a`` (FastCUT), flipped horizontally as a
    whole with probability 0.5 when ``flip_equivariance`` (FastCUT), ``fake = G(real)``,
    ``fake_B`` its A part and ``idt_B`` its B part. Then, as the reference:

    1. **D step first**: ``0.5 * (mean(D(fake_B)^2) + mean((D(b) - 1)^2))`` (LSGAN; fakes constant).
    2. G and F step: ``lambda_gan * mean((D(fake_B) - 1)^2) + NCE``, with NCE =
       ``0.5 * (NCE(a, fake_B) + NCE(b, idt_B))`` for CUT and ``NCE(a, fake_B)`` for FastCUT.

    ``NCE(src, tgt)``: features of src and tgt at ``nce_layers`` (the features of a flipped
    tgt are flipped back); ``num_patches`` random positions per layer (the same for every image,
    and for the query and the key); both through F; then :func:`i2ilab.losses.patch_nce_term`
    with weight lambda_nce (keys detached, negatives from the same image only). The key branch
    is computed before the G step, with the weights it is evaluated at, as a constant.

    G and F share one Adam (the reference has one each, with the same settings; Adam is
    per-variable and both step every iteration, so the updates are the same). Adam lr 2e-4,
    betas (0.5, 0.999); the reference's linear decay over the last epochs is a schedule on the
    optimizers (not set here).

    Logged (epoch means, the reference's names and scale): ``D_real``, ``D_fake`` (unhalved),
    ``G_GAN`` (times lambda_gan), ``NCE`` (times lambda_nce, so FastCUT's is about 10x CUT's),
    ``NCE_Y`` (CUT only).

    Args:
        generator, discriminator, patch_sampler: the three networks (above).
        cut_mode: ``"CUT"`` or ``"FastCUT"``: the defaults of the next three (:data:`CUT_MODES`).
        lambda_nce, nce_idt, flip_equivariance: None = the mode's value.
        lambda_gan: weight of the G adversarial term (1).
        nce_layers: generator layer indices (reference positions; default 0, 4, 8, 12, 16).
        num_patches: patches per layer and image (256).
        nce_t: temperature (0.07).
        gan_mode: ``lsgan`` (reference), ``vanilla`` or ``hinge``.
        seed: seed of the trainer's SeedGenerator (flips and patch ids).
        nce_loss: ``(feat_q, feat_k, batch_size, nce_t) -> per-patch losses (B * P,)``, the
            PatchNCE of each layer (None: :func:`i2ilab.losses.patch_nce_loss`; a lab passes
            its own).
    """

    def __init__(
        self,
        generator,
        discriminator,
        patch_sampler=None,
        cut_mode="CUT",
        lambda_nce=None,
        nce_idt=None,
        flip_equivariance=None,
        lambda_gan=1.0,
        nce_layers=NCE_LAYERS,
        num_patches=256,
        nce_t=0.07,
        gan_mode="lsgan",
        seed=None,
        nce_loss=None,
        **kwargs,
    ):
        if cut_mode not in CUT_MODES:
            raise ValueError(f"CUT: cut_mode must be one of {sorted(CUT_MODES)}, got {cut_mode!r}.")
        if gan_mode == "wgangp":
            raise ValueError(
                "CUT: gan_mode='wgangp' needs a gradient penalty; use 'lsgan' (reference), 'vanilla' or 'hinge'."
            )
        mode = CUT_MODES[cut_mode]
        self.cut_mode = cut_mode
        self.lambda_nce = float(mode["lambda_nce"] if lambda_nce is None else lambda_nce)
        self.nce_idt = bool(mode["nce_idt"] if nce_idt is None else nce_idt)
        self.flip_equivariance = bool(mode["flip_equivariance"] if flip_equivariance is None else flip_equivariance)
        names = ("D_real", "D_fake", "G_GAN", "NCE") + (("NCE_Y",) if self.nce_idt else ())
        super().__init__(names, **kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.lambda_gan = float(lambda_gan)
        self.nce_layers = tuple(int(i) for i in nce_layers)
        self.num_patches = int(num_patches)
        self.nce_t = float(nce_t)
        self.gan = losses.gan_loss(gan_mode)
        self.nce_loss = losses.patch_nce_loss if nce_loss is None else nce_loss
        self.features = nce_feature_model(generator, self.nce_layers)
        self.patch_sampler = PatchSampleF() if patch_sampler is None else patch_sampler
        self.patch_sampler.create_mlps([t.shape[-1] for t in self.features.outputs])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def networks(self):
        return {"generator": self.generator, "discriminator": self.discriminator, "patch_sampler": self.patch_sampler}

    def _optimizer_targets(self):
        return {
            "g": self.generator.trainable_variables + self.patch_sampler.trainable_variables,
            "d": self.discriminator.trainable_variables,
        }

    def call(self, a, training=False):
        return self.generator(a, training=training)

    # ------------------------------------------------------------------------- random draws
    def _flip_draw(self):
        """True with probability 0.5 (one draw per step, for the whole batch)."""
        return keras.random.uniform((), seed=self.seed_generator) < 0.5

    def _patch_ids(self, shapes):
        """Patch ids for feature maps of these shapes (B, H, W, C): one list per NCE call."""
        return [PatchSampleF.sample_ids(shape, self.num_patches, seed=self.seed_generator) for shape in shapes]

    # ---------------------------------------------------------------------------- the step
    def _feature_shapes(self, x):
        shapes = [tuple(t.shape) for t in self.features.compute_output_spec(keras.KerasTensor(tuple(x.shape)))]
        if any(d is None for s in shapes for d in s[1:3]):
            raise ValueError(
                "CUT.fit: the images' height and width must be known when the step is traced; "
                "use batches of a fixed image size."
            )
        return shapes

    def _keys(self, src, ids):
        """F(features of src) at the ids: the detached keys of one NCE call."""
        pooled = self.patch_sampler(self.features(src, training=True), ids)
        return [ops.stop_gradient(to_float32(k)) for k in pooled]

    def _nce(self, tgt, keys, ids, flip, batch):
        feats = self.features(tgt, training=True)
        if flip is not None:
            feats = [ops.where(flip, ops.flip(f, axis=2), f) for f in feats]
        queries = self.patch_sampler(feats, ids)
        total = 0.0
        for q, k in zip(queries, keys, strict=True):
            total = total + self.lambda_nce * ops.mean(to_float32(self.nce_loss(q, k, batch, self.nce_t)))
        return total / len(queries)

    def _train_step(self, data):
        real_a, real_b = unpack_pair(data, "CUT")
        real_a = ops.cast(real_a, "float32")
        real_b = ops.cast(real_b, "float32")
        batch = ops.shape(real_a)[0]
        gen_vars = self.generator.trainable_variables
        f_vars = self.patch_sampler.trainable_variables
        d_vars = self.discriminator.trainable_variables

        real = ops.concatenate([real_a, real_b], axis=0) if self.nce_idt else real_a
        flip = self._flip_draw() if self.flip_equivariance else None
        if flip is not None:
            real = ops.where(flip, ops.flip(real, axis=2), real)

        # G's forward pass, once (as the reference's forward()): a constant for the D step, and
        # pulled back to G's weights in the G step.
        fake, pullback = shim.vjp(lambda: to_float32(self.generator(real, training=True)), gen_vars)
        fake_b = ops.stop_gradient(fake[:batch])

        def d_objective():
            d_real, d_fake = self.gan.d_loss(
                to_float32(self.discriminator(real_b, training=True)),
                to_float32(self.discriminator(fake_b, training=True)),
            )
            return 0.5 * (d_real + d_fake), {"D_real": d_real, "D_fake": d_fake}

        _, d_terms, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
        self._apply(self.d_optimizer, d_grads, d_vars)

        # Patch ids and the (detached) keys of each NCE call, then the G and F step.
        shapes = self._feature_shapes(real_a)
        ids_x = self._patch_ids(shapes)
        keys_x = self._keys(real_a, ids_x)
        if self.nce_idt:
            ids_y = self._patch_ids(shapes)
            keys_y = self._keys(real_b, ids_y)

        def g_objective(fake):
            fake_b = fake[:batch]
            g_gan = self.lambda_gan * self.gan.g_loss(to_float32(self.discriminator(fake_b, training=True)))
            nce = self._nce(fake_b, keys_x, ids_x, flip, batch)
            terms = {"G_GAN": g_gan, "NCE": nce}
            if self.nce_idt:
                nce_y = self._nce(fake[batch:], keys_y, ids_y, flip, batch)
                terms["NCE_Y"] = nce_y
                nce = 0.5 * (nce + nce_y)
            return g_gan + nce, terms

        # The NCE features of G(real) depend on G's weights twice: through G(real) (pulled back)
        # and through G's encoder that reads them (direct).
        _, g_terms, direct, (fake_grad,) = shim.value_and_grad(g_objective, gen_vars + f_vars, inputs=(fake,))
        via_fake = pullback(fake_grad)
        g_grads = [d + v for d, v in zip(direct[: len(gen_vars)], via_fake, strict=True)] + direct[len(gen_vars) :]
        self._apply(self.g_optimizer, g_grads, gen_vars + f_vars)
        self._track(**d_terms, **g_terms)

    # ------------------------------------------------------------------------------- sampling
    def translate(self, x):
        """``generator(x)``, numpy (B, H, W, C) in [-1, 1] (A -> B; CUT has one direction)."""
        return self._inference("AtoB", lambda t: self.generator(t, training=False), x)

    def sample_columns(self, x, y):
        """Columns ``real_A, fake_B, real_B`` and, for CUT (nce_idt), ``idt_B`` (numpy, [-1, 1])."""
        columns = {"real_A": self._numpy(x), "fake_B": self.translate(x), "real_B": self._numpy(y)}
        if self.nce_idt:
            columns["idt_B"] = self.translate(y)
        return columns
