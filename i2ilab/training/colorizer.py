"""Colorization by regression: predict Lab ab from L (the L2 baseline of Zhang et al. 2016, Sec. 1)."""

from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, unpack_pair

COLOR_LOSSES = ("l2", "l1")


class Colorizer(GANTrainer):
    """Train ``generator``: L (B, H, W, 1) = L/50 - 1 -> ab (B, H, W, 2) ~ ab/110 on ``(L, ab)``.

    One optimizer, no discriminator (``d_optimizer`` is None). The loss is the mean squared
    (``"l2"``) or absolute (``"l1"``) error on ab. Zhang et al. show that L2 regression predicts
    the mean of the plausible colours (desaturated); the labs compare it with other losses.
    Logged: ``loss``.

    Args:
        generator: keras.Model (B, H, W, 1) -> (B, H, W, 2), e.g.
            ``unet_generator(in_channels=1, out_channels=2)``.
        loss: ``"l2"`` or ``"l1"`` (the library's losses), or a function
            ``(predicted_ab, target_ab) -> float32 scalar`` written with ``keras.ops`` (a lab's
            own loss; it runs inside the compiled train step).
    """

    def __init__(self, generator, loss="l2", **kwargs):
        if callable(loss):
            loss_fn, loss_name = loss, getattr(loss, "__name__", "custom")
        elif loss in COLOR_LOSSES:
            loss_fn, loss_name = (losses.l2_loss if loss == "l2" else losses.l1_loss), loss
        else:
            raise ValueError(f"Colorizer: loss must be one of {COLOR_LOSSES} or a function, got {loss!r}.")
        super().__init__(("loss",), **kwargs)
        self.generator = generator
        self.loss_name = loss_name
        self._loss_fn = loss_fn
        self.built = True

    @property
    def networks(self):
        return {"generator": self.generator}

    def _optimizer_targets(self):
        return {"g": self.generator.trainable_variables}

    def call(self, l_channel, training=False):
        return self.generator(l_channel, training=training)

    def _train_step(self, data):
        l_channel, ab = unpack_pair(data, "Colorizer")
        g_vars = self.generator.trainable_variables

        def objective():
            pred = ops.cast(self.generator(l_channel, training=True), "float32")
            return self._loss_fn(pred, ab), ()

        loss, _, grads, _ = shim.value_and_grad(objective, g_vars)
        self._apply(self.g_optimizer, grads, g_vars)
        self._track(loss=loss)

    def predict_ab(self, l_channel):
        """Predicted ab/110 (B, H, W, 2) as numpy."""
        return self._inference("ab", lambda t: self.generator(t, training=False), l_channel)

    def translate(self, l_channel):
        """Colourised RGB images (B, H, W, 3) in [-1, 1] from L (B, H, W, 1) = L/50 - 1."""
        from i2ilab.data import l_ab_to_rgb

        return self._inference("rgb", lambda t: l_ab_to_rgb(t, self.generator(t, training=False)), l_channel)

    def sample_columns(self, x, y):
        """Columns ``input`` (grey, 3 channels), ``output`` and ``target`` as RGB in [-1, 1]."""
        from i2ilab.data import l_ab_to_rgb

        def columns(l_channel, ab):
            grey = l_ab_to_rgb(l_channel, ops.zeros_like(ab))
            output = l_ab_to_rgb(l_channel, self.generator(l_channel, training=False))
            return grey, output, l_ab_to_rgb(l_channel, ab)

        grey, output, target = self._inference("columns", columns, x, y)
        return {"input": grey, "output": output, "target": target}
