"""pix2pixHD trainer: high-resolution paired translation (Wang et al. 2018, section 3)."""

import keras
from keras import ops

from i2ilab import losses
from i2ilab.models.pix2pixhd import instance_edge_map
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, unpack_pair


def global_variables(generator):
    """The trainable variables of a local enhancer's global network G1 (its layers ``g_*``)."""
    return [v for layer in generator.layers if layer.name.startswith("g_") for v in layer.trainable_variables]


class _GlobalWarmup(keras.callbacks.Callback):
    """Releases G1 at the start of epoch ``fix_global_epochs`` (0-based) of ``fit``."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.trainer.fix_global_epochs and self.trainer.global_is_fixed():
            self.trainer.release_global()


class Pix2PixHD(GANTrainer):
    """Train pix2pixHD's generator (and feature encoder) with its multi-scale D on ``(x, y)``.

    Batches: ``x`` is either the generator input as it is (B, H, W, C), e.g. one-hot labels
    (the reference's ``--no_instance``), or a pair ``(labels, instances)``: labels (B, H, W, L)
    one-hot, instances (B, H, W, 1) integer ids; then G sees ``[labels, edges]`` with
    :func:`i2ilab.models.instance_edge_map` (section 3.3), plus the encoder's instance-wise
    features of ``y`` when an ``encoder`` is given (section 3.4). ``y``: the images (B, H, W, 3)
    in [-1, 1]. D sees ``[labels, edges, image]``.

    Objective (section 3.2, eq. 4 + the VGG loss; the reference's ``Pix2PixHDModel``):
    G: ``sum_k lsgan_g(D_k(fake)) + FM + VGG`` with FM = :func:`i2ilab.losses.feature_matching_loss`
    (weight ``lambda_feat``) and VGG = :func:`i2ilab.losses.vgg_perceptual_loss` (weight
    ``lambda_feat`` too, as the reference); D: ``0.5 * sum_k (lsgan_real + lsgan_fake)``.

    Update order per batch, as the reference's train.py: one forward computes every loss with
    the current G and D (D on the detached fake); then the G step; then the D step with the
    gradient of that same forward. So both gradients are taken at the same (G, D), and D's
    step does not affect G's (unlike pix2pix, where G steps against the updated D).

    Local-only warm-up (1024p, ``--niter_fix_global``): for the first ``fix_global_epochs``
    epochs of ``fit`` only the local enhancer (and the encoder) learns: G1's gradients are
    zeroed, so G1 and its Adam moments stay exactly as they are. At the start of the next epoch
    :meth:`release_global` gives G a fresh optimizer (its iteration counter and moments reset
    to 0; the learning rate is kept, which in the reference schedule is still ``opt.lr`` then).
    The phase is a trainer variable, so a checkpoint resumes it exactly.

    The frozen VGG's weights are variables of the trainer, so a checkpoint holds them too
    (12.9 M values for VGG19 up to relu5_1); they are restored as they were saved.

    Logged (epoch means): ``G_GAN``, ``G_GAN_Feat``, ``G_VGG`` (each FM / VGG
    term already carries lambda_feat, as the reference logs them), ``D_real``, ``D_fake``.

    Args:
        generator: :func:`i2ilab.models.global_generator` or :func:`local_enhancer` (any
            keras.Model (B, H, W, C) -> (B, H, W, 3)).
        discriminator: :func:`i2ilab.models.hd_discriminator`: a list over scales of lists of
            feature maps, the logits last.
        encoder: None, or :func:`i2ilab.models.feature_encoder` ((image, instances) ->
            features), trained with G's optimizer; needs ``(labels, instances)`` inputs.
        vgg: the perceptual loss's feature model: ``"imagenet"`` (the default:
            :func:`i2ilab.losses.vgg19_features` with ImageNet weights, downloaded on first
            use), a model such as ``vgg19_features(weights=None)``, or None (``--no_vgg_loss``).
        lambda_feat: weight of the feature matching and VGG terms (10).
        feature_matching: the GAN feature matching term (``--no_ganFeat_loss`` is False).
        gan_mode: ``lsgan`` (reference) or another mode of :func:`i2ilab.losses.gan_loss`.
        fix_global_epochs: epochs of local-only training (10 for the 1024p model, 0 otherwise);
            needs a local enhancer.
        feature_matching_loss: None (:func:`i2ilab.losses.feature_matching_loss`) or a lab's own
            function of the same signature ``(fake_outputs, real_outputs, weight) -> scalar``.
        edge_map: None (:func:`i2ilab.models.instance_edge_map`) or a lab's own function
            ``instances (B, H, W, 1) -> (B, H, W, 1)`` float32 in {0, 1}.
    """

    def __init__(
        self,
        generator,
        discriminator,
        encoder=None,
        vgg="imagenet",
        lambda_feat=10.0,
        feature_matching=True,
        gan_mode="lsgan",
        fix_global_epochs=0,
        feature_matching_loss=None,
        edge_map=None,
        **kwargs,
    ):
        gan = losses.gan_loss(gan_mode)
        if gan.uses_penalty:
            raise ValueError("Pix2PixHD: gan_mode='wgangp' needs a gradient penalty, which this trainer does not add.")
        names = ("G_GAN",) + (("G_GAN_Feat",) if feature_matching else ()) + (("G_VGG",) if vgg is not None else ())
        super().__init__(names + ("D_real", "D_fake"), **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.encoder = encoder
        self.vgg = losses.vgg19_features("imagenet") if isinstance(vgg, str) and vgg == "imagenet" else vgg
        if isinstance(self.vgg, str):
            raise ValueError(f"Pix2PixHD: vgg={vgg!r}; pass 'imagenet', a feature model, or None.")
        self.lambda_feat = float(lambda_feat)
        self.feature_matching = bool(feature_matching)
        self.gan = gan
        self.fix_global_epochs = int(fix_global_epochs)
        self.feature_matching_loss = feature_matching_loss or losses.feature_matching_loss
        self.edge_map = edge_map or instance_edge_map
        fixed = {id(v) for v in global_variables(generator)}
        self._global_mask = [id(v) not in fixed for v in generator.trainable_variables]
        if self.fix_global_epochs > 0 and (all(self._global_mask) or not any(self._global_mask)):
            raise ValueError(
                "Pix2PixHD: fix_global_epochs > 0 trains only a local enhancer's own layers at first; "
                "the generator must be i2ilab.models.local_enhancer (it has no separate global network)."
            )
        self.global_fixed = keras.Variable(
            1.0 if self.fix_global_epochs > 0 else 0.0, trainable=False, dtype="float32", name="global_fixed"
        )
        self.built = True

    @property
    def networks(self):
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.encoder is not None:
            nets["encoder"] = self.encoder
        return nets

    def _g_variables(self):
        return self.generator.trainable_variables + (self.encoder.trainable_variables if self.encoder else [])

    def _optimizer_targets(self):
        return {"g": self._g_variables(), "d": self.discriminator.trainable_variables}

    # ---------------------------------------------------------------------------- the warm-up
    def global_is_fixed(self):
        """Whether G1 is still held fixed (the local-only warm-up)."""
        self._sync()
        return float(keras.ops.convert_to_numpy(self.global_fixed.value)) > 0.5

    def release_global(self):
        """End the warm-up: G1 learns from now on, with a fresh G optimizer (iterations and
        moments 0, learning rate kept), as the reference's ``update_fixed_params``."""
        self._sync()
        self.global_fixed.assign(0.0)
        for variable in self.g_optimizer.variables:
            if variable.name != "learning_rate":
                variable.assign(ops.zeros(variable.shape, variable.dtype))

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        """``keras.Model.fit`` plus the callback that ends the local-only warm-up."""
        callbacks = list(callbacks or [])
        if self.fix_global_epochs > 0:
            callbacks.append(_GlobalWarmup(self))
        return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    # ------------------------------------------------------------------------------ the step
    def _condition(self, x):
        """(D's conditioning [labels, edges], instances or None) from a batch's ``x``."""
        if isinstance(x, (list, tuple)):
            if len(x) != 2:
                raise ValueError("Pix2PixHD: x must be the G input, or a pair (labels, instances).")
            labels, instances = x
            edges = ops.cast(self.edge_map(instances), "float32")
            return ops.concatenate([ops.cast(labels, "float32"), edges], axis=-1), instances
        if self.encoder is not None:
            raise ValueError("Pix2PixHD: with an encoder, x must be a pair (labels, instances).")
        return ops.cast(x, "float32"), None

    def _generate(self, condition, instances, image, training):
        if self.encoder is None:
            return ops.cast(self.generator(condition, training=training), "float32")
        features = self.encoder([image, ops.cast(instances, "int32")], training=training)
        g_in = ops.concatenate([condition, ops.cast(features, "float32")], axis=-1)
        return ops.cast(self.generator(g_in, training=training), "float32")

    def _d(self, condition, image):
        outputs = self.discriminator(ops.concatenate([condition, image], axis=-1), training=True)
        if not isinstance(outputs[0], (list, tuple)):  # num_D 1: Keras returns the one scale's list
            outputs = [outputs]
        return [[ops.cast(t, "float32") for t in scale] for scale in outputs]

    def _train_step(self, data):
        x, y = unpack_pair(data, "Pix2PixHD")
        y = ops.cast(y, "float32")
        condition, instances = self._condition(x)
        g_vars = self._g_variables()
        d_vars = self.discriminator.trainable_variables
        fake, g_pullback = shim.vjp(lambda: self._generate(condition, instances, y, True), g_vars)

        def d_objective():
            real_out = self._d(condition, y)
            fake_out = self._d(condition, ops.stop_gradient(fake))
            d_real, d_fake = self.gan.d_loss(losses.final_logits(real_out), losses.final_logits(fake_out))
            return 0.5 * (d_real + d_fake), ({"D_real": d_real, "D_fake": d_fake}, real_out)

        _, (d_terms, real_out), d_grads, _ = shim.value_and_grad(d_objective, d_vars)
        real_out = [[ops.stop_gradient(t) for t in scale] for scale in real_out]

        def g_objective(generated):
            fake_out = self._d(condition, generated)
            terms = {"G_GAN": self.gan.g_loss(losses.final_logits(fake_out))}
            if self.feature_matching:
                terms["G_GAN_Feat"] = ops.cast(
                    self.feature_matching_loss(fake_out, real_out, self.lambda_feat), "float32"
                )
            if self.vgg is not None:
                terms["G_VGG"] = losses.vgg_perceptual_loss(self.vgg, generated, y, weight=self.lambda_feat)
            total = terms["G_GAN"]
            for name in ("G_GAN_Feat", "G_VGG"):
                if name in terms:
                    total = total + terms[name]
            return total, terms

        _, g_terms, _, (fake_grad,) = shim.value_and_grad(g_objective, [], (fake,))
        g_grads = g_pullback(fake_grad)
        n_gen = len(self._global_mask)
        keep = 1.0 - self.global_fixed
        g_grads = [
            g * keep if i < n_gen and not self._global_mask[i] else g for i, g in enumerate(g_grads)
        ]  # G1 fixed during the warm-up: zero gradients leave it and its Adam moments untouched
        self._apply(self.g_optimizer, g_grads, g_vars)
        self._apply(self.d_optimizer, d_grads, d_vars)
        self._track(**g_terms, **d_terms)

    # ----------------------------------------------------------------------------- sampling
    def translate(self, x, image=None):
        """G's output (B, H, W, 3) in [-1, 1], numpy, for ``x`` as in training. With an
        encoder, ``image`` (B, H, W, 3) gives the instance-wise features (the reference's
        ``--use_encoded_image``)."""
        if self.encoder is not None and image is None:
            raise ValueError("Pix2PixHD.translate: with an encoder, pass image= (whose instance features G uses).")
        if isinstance(x, (list, tuple)):
            labels, instances = x

            def run(lab, inst, img):
                condition, _ = self._condition((lab, inst))
                return self._generate(condition, inst, img, False)

            img = image if image is not None else ops.zeros(ops.shape(labels)[:-1] + (3,))
            return self._inference("translate_instances", run, labels, instances, img)
        return self._inference("translate", lambda t: self._generate(t, None, None, False), x)

    def sample_columns(self, x, y):
        """Columns for a sample grid: ``{"output": G(x), "target": y}``, numpy."""
        return {"output": self.translate(x, image=y if self.encoder is not None else None), "target": self._numpy(y)}
