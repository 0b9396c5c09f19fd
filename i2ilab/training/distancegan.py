"""DistanceGAN trainer, CycleGAN architecture (Benaim & Wolf 2017; sagiebenaim/DistanceGAN
``models/distance_gan_model.py`` run by ``train.py --model distance_gan``)."""

import functools

import keras
import numpy as np
from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair
from i2ilab.training.pool import ImagePool

#: Items :func:`distance_statistics` needs: 2 give one distance, no spread to normalise by.
MIN_ITEMS = 3


def distance_statistics(images, max_items=900, group=1, chunk=64):
    """``(mu, sigma)`` of the pairwise distances ``mean|x_i - x_j|`` over all pairs i < j.

    As the reference, estimated once before training from the first ``max_items`` items of a
    domain (900), ``sigma = sqrt(mean((d - mu)^2))``. An item is one image (``group=1``, the
    DiscoGAN-architecture code) or a batch of ``group`` consecutive images whose distance is
    taken over the whole batch (the CycleGAN-architecture code: batches of 2, ``group=2``).

    Args:
        images: (N, H, W, C) array (any range; use the range the trainer is given, [-1, 1]).
        chunk: rows of the distance matrix computed at once (memory only).
    Returns:
        two Python floats.
    """
    x = np.asarray(images, dtype="float32")
    n_items = min(len(x) // group, max_items)
    if n_items < MIN_ITEMS:
        raise ValueError(
            f"distance_statistics: need at least {MIN_ITEMS} items of {group} image(s) (2 give one distance, "
            "no spread), "
            f"got {len(x)} image(s)."
        )
    flat = x[: n_items * group].reshape(n_items, -1)
    values = []
    for start in range(0, n_items, chunk):
        rows = flat[start : start + chunk]
        d = np.abs(rows[:, None, :] - flat[None, :, :]).mean(axis=-1, dtype="float64")
        i = np.arange(start, start + len(rows))[:, None]
        values.append(d[i < np.arange(n_items)[None, :]])
    d = np.concatenate(values)
    mu = float(d.mean())
    sigma = float(np.sqrt(np.mean((d - mu) ** 2)))
    if not sigma > 0:
        raise ValueError(
            f"distance_statistics: the {len(d)} distance(s) between {n_items} items of {group} image(s) are all "
            f"equal (sigma 0), so the distance loss would divide by 0: estimate them from more, different images."
        )
    return mu, sigma


class DistanceGAN(GANTrainer):
    """One-sided DistanceGAN on unpaired batches ``(a, b)`` in [-1, 1] (Benaim & Wolf 2017, eq. 5).

    ``g_ab``: A -> B is trained by an LSGAN loss from ``d_b`` and the normalised distance loss
    ``dist_A`` (:func:`i2ilab.losses.normalized_distance_loss`: the pairwise distances between
    the batch's A images, normalised with A's statistics, should equal those between their
    translations, normalised with B's). The batch needs at least 2 images (the reference uses
    batches of exactly 2 and skips others). Optionally both directions: pass ``g_ba`` and
    ``d_a`` too (the reference's default trains both), and with ``lambda_cycle`` > 0 the
    CycleGAN cycle loss (``--use_cycle_loss``)::

        gen = gan(d_b(g_ab(a))) + lambda_distance_a * dist_A
              [+ gan(d_a(g_ba(b))) + lambda_distance_b * dist_B]
              [+ lambda_cycle * (|g_ba(g_ab(a)) - a| + |g_ab(g_ba(b)) - b|)]

    Each D minimises ``0.5 * (d_real + d_fake)`` on real images and fakes through its
    :class:`ImagePool` (50). Update order as the reference: the G step first, then the D step.

    Args:
        g_ab, d_b: the A -> B generator and the B discriminator
            (:func:`i2ilab.models.distancegan_generator`, :func:`~i2ilab.models.distancegan_discriminator`).
        stats_a, stats_b: ``(mu, sigma)`` of each domain's pairwise distances
            (:func:`distance_statistics` with ``group=2`` reproduces the reference's estimate).
        g_ba, d_a: the B -> A pair, for the two-sided variant (both or neither; without the
            discriminators, d_b and d_a None, the trainer only translates and g_ba alone will do).
        lambda_distance_a, lambda_distance_b: 1 and 1.
        lambda_cycle: 0 (off, the reference's default); 10 with ``--use_cycle_loss``.
        normalize_distances: False is ``--unnormalized_distances``.
        pool_size, gan_mode, image_shape, seed: as :class:`i2ilab.training.CycleGAN`.
        distance_loss: ``(source, translated, source_stats, target_stats) -> scalar``, the
            distance term of each direction (``dist_A`` with A's and B's ``(mu, sigma)``,
            ``dist_B`` with them swapped), as :func:`i2ilab.losses.normalized_distance_loss`
            (None: that function with ``normalize=normalize_distances``; a lab passes its own).
            A custom one is the normalised form: with ``normalize_distances=False`` it is a
            ValueError.

    The default ``distance_loss`` is the library's own function: the trainer then runs exactly
    as without the argument.

    Logged: ``G_A, dist_A, D_B`` (+ ``G_B, dist_B, D_A``, + ``cycle_A, cycle_B``).
    """

    def __init__(
        self,
        g_ab,
        d_b,
        stats_a,
        stats_b,
        g_ba=None,
        d_a=None,
        lambda_distance_a=1.0,
        lambda_distance_b=1.0,
        lambda_cycle=0.0,
        normalize_distances=True,
        pool_size=50,
        gan_mode="lsgan",
        image_shape=None,
        seed=None,
        distance_loss=None,
        **kwargs,
    ):
        if distance_loss is not None and not normalize_distances:
            raise ValueError(
                "DistanceGAN: distance_loss is the normalised distance term; normalize_distances=False "
                "(raw distances) runs the library's loss only, so pass one or the other."
            )
        if (g_ba is None) != (d_a is None) and d_b is not None:
            raise ValueError("DistanceGAN: pass both g_ba and d_a (two-sided) or neither (one-sided).")
        if lambda_cycle and g_ba is None:
            raise ValueError("DistanceGAN: lambda_cycle > 0 needs the B -> A generator (pass g_ba and d_a).")
        self.two_sided = g_ba is not None
        names = ("G_A", "dist_A")
        if self.two_sided:
            names += ("G_B", "dist_B")
        if lambda_cycle:
            names += ("cycle_A", "cycle_B")
        names += ("D_B",) + (("D_A",) if self.two_sided else ())
        super().__init__(names, **kwargs)
        self.g_ab, self.d_b, self.g_ba, self.d_a = g_ab, d_b, g_ba, d_a
        self.stats_a = tuple(float(v) for v in stats_a)
        self.stats_b = tuple(float(v) for v in stats_b)
        self.lambda_distance_a, self.lambda_distance_b = float(lambda_distance_a), float(lambda_distance_b)
        self.lambda_cycle = float(lambda_cycle)
        self.normalize_distances = bool(normalize_distances)
        self.distance_loss = distance_loss or functools.partial(
            losses.normalized_distance_loss, normalize=self.normalize_distances
        )
        self.gan = losses.as_gan_loss(gan_mode)
        if self.gan.uses_penalty:
            raise ValueError("DistanceGAN: gan_mode wgangp is not offered (the reference uses lsgan).")
        self.pool_size = int(pool_size)
        self.pool_b = ImagePool(self.pool_size, seed=None if seed is None else seed + 2, name="pool_b")
        self.pool_a = ImagePool(self.pool_size, seed=None if seed is None else seed + 1, name="pool_a")
        if image_shape is not None:
            self.build((None,) + tuple(image_shape))
        elif not self.pool_size:
            self.built = True

    @property
    def networks(self):
        nets = {"g_ab": self.g_ab, "d_b": self.d_b}
        if self.two_sided:
            nets.update(g_ba=self.g_ba, d_a=self.d_a)
        return nets

    def _pools(self):
        return (("pool_b", self.pool_b),) + ((("pool_a", self.pool_a),) if self.two_sided else ())

    def _optimizer_targets(self):
        g_vars = self.g_ab.trainable_variables + (self.g_ba.trainable_variables if self.two_sided else [])
        d_vars = self.d_b.trainable_variables + (self.d_a.trainable_variables if self.two_sided else [])
        return {"g": g_vars, "d": d_vars}

    def build(self, input_shape):
        """Build the image pools for images of ``input_shape`` (B, H, W, C)."""
        if self.pool_size and not self.pool_b.built:
            spec = keras.KerasTensor((1,) + tuple(input_shape)[1:], "float32")
            self.pool_b.build(self.g_ab.compute_output_spec(spec).shape)
            if self.two_sided:
                self.pool_a.build(self.g_ba.compute_output_spec(spec).shape)
        self.built = True

    def call(self, a, training=False):
        return self.g_ab(a, training=training)

    def _pool_shapes(self):
        return {name: list(pool.image_shape) for name, pool in self._pools() if pool.pool_size and pool.built}

    def _prepare_load(self, arrays, meta):
        shapes = meta.get("pool_shapes", {})
        for name, pool in self._pools():
            if pool.pool_size and not pool.built and name in shapes:
                pool.build((None,) + tuple(shapes[name]))
        self.built = all(pool.built for _, pool in self._pools())

    def _train_step(self, data):
        real_a, real_b = unpack_pair(data, "DistanceGAN")
        if real_a.shape[0] is not None and real_a.shape[0] < 2:
            raise ValueError(
                f"DistanceGAN.fit: the distance loss compares the images of a batch; got a batch of "
                f"{real_a.shape[0]}. Use batch_size >= 2 (the reference uses 2) and drop_remainder."
            )
        real_a = ops.cast(real_a, "float32")
        real_b = ops.cast(real_b, "float32")
        targets = self._optimizer_targets()

        def g_objective():
            fake_b = to_float32(self.g_ab(real_a, training=True))
            g_a = self.gan.g_loss(to_float32(self.d_b(fake_b, training=True)))
            dist_a = to_float32(self.distance_loss(real_a, fake_b, self.stats_a, self.stats_b))
            terms = {"G_A": g_a, "dist_A": dist_a}
            total = g_a + self.lambda_distance_a * dist_a
            fake_a = None
            if self.two_sided:
                fake_a = to_float32(self.g_ba(real_b, training=True))
                g_b = self.gan.g_loss(to_float32(self.d_a(fake_a, training=True)))
                dist_b = to_float32(self.distance_loss(real_b, fake_a, self.stats_b, self.stats_a))
                terms.update(G_B=g_b, dist_B=dist_b)
                total = total + g_b + self.lambda_distance_b * dist_b
            if self.lambda_cycle:
                cycle_a = losses.cycle_loss(real_a, to_float32(self.g_ba(fake_b, training=True)))
                cycle_b = losses.cycle_loss(real_b, to_float32(self.g_ab(fake_a, training=True)))
                terms.update(cycle_A=cycle_a, cycle_B=cycle_b)
                total = total + self.lambda_cycle * (cycle_a + cycle_b)
            return total, (terms, fake_b, fake_a)

        _, (g_terms, fake_b, fake_a), g_grads, _ = shim.value_and_grad(g_objective, targets["g"])
        self._apply(self.g_optimizer, g_grads, targets["g"])

        judged = [("D_B", self.d_b, real_b, self.pool_b.query(fake_b))]
        if self.two_sided:
            judged.append(("D_A", self.d_a, real_a, self.pool_a.query(fake_a)))

        def d_objective():
            terms, total = {}, 0.0
            for name, disc, real, fake in judged:
                d_real, d_fake = self.gan.d_loss(
                    to_float32(disc(real, training=True)), to_float32(disc(fake, training=True))
                )
                terms[name] = 0.5 * (d_real + d_fake)
                total = total + terms[name]
            return total, terms

        _, d_terms, d_grads, _ = shim.value_and_grad(d_objective, targets["d"])
        self._apply(self.d_optimizer, d_grads, targets["d"])
        self._track(**g_terms, **d_terms)

    def translate(self, x, direction="AtoB"):
        """``g_ab(x)`` (or ``g_ba(x)`` for ``"BtoA"``, two-sided only), numpy in [-1, 1]."""
        allowed = ("AtoB", "BtoA") if self.two_sided else ("AtoB",)
        if direction not in allowed:
            raise ValueError(f"DistanceGAN.translate: direction must be one of {allowed}, got {direction!r}.")
        generator = self.g_ab if direction == "AtoB" else self.g_ba
        return self._inference(direction, lambda t: generator(t, training=False), x)

    def sample_columns(self, x, y):
        """Columns ``real_A, fake_B`` (+ ``real_B, fake_A`` two-sided), numpy in [-1, 1]."""
        cols = {"real_A": self._numpy(x), "fake_B": self.translate(x)}
        if self.two_sided:
            cols.update(real_B=self._numpy(y), fake_A=self.translate(y, "BtoA"))
        return cols
