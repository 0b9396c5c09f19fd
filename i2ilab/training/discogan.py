"""DiscoGAN trainer (Kim et al. 2017; SKTBrain/DiscoGAN ``discogan/image_translation.py``), also
DistanceGAN in the DiscoGAN architecture (Benaim & Wolf 2017; ``discogan_arch/distance_gan_model.py``)."""

import functools

from keras import ops

from i2ilab import losses
from i2ilab.training import backend as shim
from i2ilab.training.base import GANTrainer, to_float32, unpack_pair


def masked_apply(trainer, optimizer, grads, variables, active):
    """Apply ``optimizer`` to ``variables`` only where the boolean scalar ``active`` is true.

    Both outcomes are computed and ``ops.where`` keeps one, for the variables and for the
    optimizer's own state (its step counter and moments), so a skipped step leaves no trace,
    and a trainer whose reference alternates networks from one iteration to the next (DiscoGAN's
    1 D step per 2 G steps, DualGAN's ``n_critic``) runs as one compiled step.
    """
    tracked = list(variables) + list(optimizer.variables)
    before = [ops.copy(v.value) for v in tracked]
    trainer._apply(optimizer, grads, variables)
    for variable, old in zip(tracked, before, strict=True):
        variable.assign(ops.where(active, variable.value, old))


def coupled_weight_decay(grads, variables, weight_decay):
    """torch's ``Adam(weight_decay=wd)``: ``wd * w`` added to each gradient (an L2 term)."""
    if not weight_decay:
        return list(grads)
    return [g + weight_decay * ops.cast(v.value, g.dtype) for g, v in zip(grads, variables, strict=True)]


class DiscoGAN(GANTrainer):
    """DiscoGAN on unpaired batches ``(a, b)`` in [-1, 1] (the library's loaders' range).

    The networks work in [0, 1], as the reference (which divides by 255 and ends its generators
    with a sigmoid): the step feeds them ``(a + 1) / 2`` and ``translate`` returns ``2 G(x) - 1``.
    ``g_ab``: A -> B, ``g_ba``: B -> A; ``d_a`` judges A images, ``d_b`` B images; each D returns
    ``[logits, feat1, feat2, feat3]`` (:func:`i2ilab.models.discogan_discriminator`).

    Per iteration, with ``fake_b = g_ab(a)``, ``fake_a = g_ba(b)`` and the cycles
    ``rec_a = g_ba(fake_b)``, ``rec_b = g_ab(fake_a)`` (reference ``image_translation.py``)::

        gen = sum over A, B of  (0.1 G + 0.9 fm) (1 - rate) + rate recon
        G_A = BCE(d_b(fake_b), 1),  fm_A = feature matching of d_b on (b, fake_b),
        recon_A = mean((rec_a - a)^2)     (likewise G_B, fm_B, recon_B)
        dis = D_A + D_B,  D_A = 0.5 BCE(d_a(a), 1) + 0.5 BCE(d_a(fake_a), 0)

    ``rate`` is 0.01 for the first ``curriculum`` (10,000) iterations, then 0.5
    (:func:`i2ilab.losses.discogan_rate`). BCE is taken on logits. Update order: iteration ``i``
    (counted from 0 over the whole run) is a D step if ``i % update_interval == 0`` and a G step
    otherwise, as the reference: 1 D step for 2 G steps, each on its own fresh batch. Every
    iteration runs the whole forward pass (each D sees its real and its fake batch once, in
    training mode, so BatchNorm statistics move on every iteration, as in the reference) and
    one backward pass of the turn's loss; the turn's optimizer steps, the other is untouched
    (:func:`masked_apply`). Both optimizers' default is the reference's Adam(2e-4, 0.5, 0.999)
    with ``weight_decay`` 1e-5, applied as torch does (coupled: added to the gradient).

    DistanceGAN in the DiscoGAN architecture: pass ``distance_stats=((mu_a, sigma_a), (mu_b,
    sigma_b))``, the statistics of the pairwise distances of each domain's [-1, 1] images
    (:func:`i2ilab.training.distancegan.distance_statistics`), and ``reconstruction=False``
    (its default; ``--use_reconst_loss`` is True): the rate-weighted term of each direction
    becomes ``dist_A`` = the normalised distance loss of (a, fake_b) (+ recon_A). The distances
    are taken on the [0, 1] images as the reference, with the statistics halved accordingly
    (distances of [0, 1] images are half those of the same images in [-1, 1]).

    Logged (epoch means of every iteration): ``G_A, fm_A, G_B, fm_B`` (+ ``recon_A, recon_B``,
    + ``dist_A, dist_B``), ``D_A, D_B``. BatchNorm: the reference never switches to eval mode;
    ``translate`` uses the moving statistics (``training=True`` gives the reference's batch
    statistics). The reference reads images in BGR order; the order does not matter here.

    Args:
        g_ab, g_ba, d_a, d_b: the networks (:mod:`i2ilab.models.discogan`).
        update_interval: 3 (one D step every 3 iterations).
        curriculum, starting_rate, default_rate: the rate schedule (10,000, 0.01, 0.5).
        gan_weight, fm_weight: 0.1 and 0.9.
        weight_decay: torch Adam's coupled L2 (1e-5), on both optimizers.
        reconstruction: include the cycle MSE (True for DiscoGAN).
        distance_stats: None (DiscoGAN) or the two domains' ``(mu, sigma)`` (DistanceGAN).
        normalize_distances: False is the reference's ``--unnormalized_distances``.
        distance_loss: ``(source, translated, source_stats, target_stats) -> scalar``, the
            DistanceGAN term of each direction, as :func:`i2ilab.losses.normalized_distance_loss`
            (None: that function with ``normalize=normalize_distances``; a lab passes its own).
            It gets the [0, 1] images and the halved statistics. Needs ``distance_stats``; with
            ``normalize_distances=False`` it is a ValueError (the raw form is the library's only).
    """

    def __init__(
        self,
        g_ab,
        g_ba,
        d_a,
        d_b,
        update_interval=3,
        curriculum=10_000,
        starting_rate=0.01,
        default_rate=0.5,
        gan_weight=0.1,
        fm_weight=0.9,
        weight_decay=1e-5,
        reconstruction=None,
        distance_stats=None,
        normalize_distances=True,
        distance_loss=None,
        **kwargs,
    ):
        if distance_loss is not None and (distance_stats is None or not normalize_distances):
            raise ValueError(
                "DiscoGAN: distance_loss is DistanceGAN's normalised distance term; it needs distance_stats "
                "and normalize_distances=True."
            )
        if reconstruction is None:
            reconstruction = distance_stats is None
        if not reconstruction and distance_stats is None:
            raise ValueError("DiscoGAN: reconstruction=False needs distance_stats (DistanceGAN's distance term).")
        names = ("G_A", "fm_A", "G_B", "fm_B")
        if reconstruction:
            names += ("recon_A", "recon_B")
        if distance_stats is not None:
            names += ("dist_A", "dist_B")
        super().__init__(names + ("D_A", "D_B"), **kwargs)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.update_interval = int(update_interval)
        self.curriculum, self.starting_rate, self.default_rate = int(curriculum), starting_rate, default_rate
        self.gan_weight, self.fm_weight = float(gan_weight), float(fm_weight)
        self.weight_decay = float(weight_decay)
        self.reconstruction = bool(reconstruction)
        self.normalize_distances = bool(normalize_distances)
        self.distance_loss = distance_loss or functools.partial(
            losses.normalized_distance_loss, normalize=self.normalize_distances
        )
        self.distance_stats = None
        if distance_stats is not None:
            (mu_a, sd_a), (mu_b, sd_b) = distance_stats
            self.distance_stats = ((0.5 * float(mu_a), 0.5 * float(sd_a)), (0.5 * float(mu_b), 0.5 * float(sd_b)))
        self.gan = losses.gan_loss("vanilla")
        self.built = True

    @property
    def networks(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}

    def _optimizer_targets(self):
        return {
            "g": self.g_ab.trainable_variables + self.g_ba.trainable_variables,
            "d": self.d_a.trainable_variables + self.d_b.trainable_variables,
        }

    def call(self, a, training=False):
        return self.g_ab(a, training=training)

    def _objectives(self, a, b, rate):
        """Every term of one iteration on [0, 1] images: (gen, dis, logged terms)."""
        fake_b = to_float32(self.g_ab(a, training=True))
        fake_a = to_float32(self.g_ba(b, training=True))
        rec_a = to_float32(self.g_ba(fake_b, training=True))
        rec_b = to_float32(self.g_ab(fake_a, training=True))
        terms, gen, dis = {}, 0.0, 0.0
        for side, disc, real, fake, source, rec, stats in (
            ("A", self.d_b, b, fake_b, a, rec_a, self.distance_stats),
            ("B", self.d_a, a, fake_a, b, rec_b, None if self.distance_stats is None else self.distance_stats[::-1]),
        ):
            real_logits, *real_feats = to_float32(disc(real, training=True))
            fake_logits, *fake_feats = to_float32(disc(fake, training=True))
            g_term = self.gan.g_loss(fake_logits)
            fm = losses.mean_feature_matching_loss(real_feats, fake_feats)
            recon = 0.0
            if self.reconstruction:
                terms[f"recon_{side}"] = losses.l2_loss(rec, source)
                recon = terms[f"recon_{side}"]
            if stats is not None:
                terms[f"dist_{side}"] = to_float32(self.distance_loss(source, fake, stats[0], stats[1]))
                recon = recon + terms[f"dist_{side}"]
            terms[f"G_{side}"], terms[f"fm_{side}"] = g_term, fm
            gen = gen + losses.rate_weighted_loss(g_term, fm, recon, rate, self.gan_weight, self.fm_weight)
            d_real, d_fake = self.gan.d_loss(real_logits, fake_logits)
            # d_b judges domain B: its loss is logged as D_B (the A -> B side)
            name = "D_B" if side == "A" else "D_A"
            terms[name] = 0.5 * (d_real + d_fake)
            dis = dis + terms[name]
        return gen, dis, terms

    def _train_step(self, data):
        a, b = unpack_pair(data, "DiscoGAN")
        a = (ops.cast(a, "float32") + 1.0) * 0.5
        b = (ops.cast(b, "float32") + 1.0) * 0.5
        iteration = self.optimizer.iterations
        d_turn = ops.equal(ops.mod(iteration, self.update_interval), 0)
        rate = losses.discogan_rate(iteration, self.curriculum, self.starting_rate, self.default_rate)
        g_vars = self.g_ab.trainable_variables + self.g_ba.trainable_variables
        d_vars = self.d_a.trainable_variables + self.d_b.trainable_variables

        def objective():
            gen, dis, terms = self._objectives(a, b, rate)
            return ops.where(d_turn, dis, gen), terms

        _, terms, grads, _ = shim.value_and_grad(objective, g_vars + d_vars)
        g_grads = coupled_weight_decay(grads[: len(g_vars)], g_vars, self.weight_decay)
        d_grads = coupled_weight_decay(grads[len(g_vars) :], d_vars, self.weight_decay)
        masked_apply(self, self.d_optimizer, d_grads, d_vars, d_turn)
        masked_apply(self, self.g_optimizer, g_grads, g_vars, ops.logical_not(d_turn))
        self._track(**terms)

    def translate(self, x, direction="AtoB", training=False):
        """``2 g_ab((x + 1) / 2) - 1`` (or g_ba for ``"BtoA"``): numpy in [-1, 1] from x in [-1, 1]."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"DiscoGAN.translate: direction must be 'AtoB' or 'BtoA', got {direction!r}.")
        generator = self.g_ab if direction == "AtoB" else self.g_ba
        return self._inference(
            f"{direction}{training}", lambda t: 2.0 * generator((t + 1.0) * 0.5, training=training) - 1.0, x
        )

    def sample_columns(self, x, y):
        """Columns ``real_A, fake_B, rec_A, real_B, fake_A, rec_B`` (numpy, [-1, 1])."""
        return self._cycle_columns(x, y, to_net=lambda t: (t + 1.0) * 0.5, from_net=lambda t: 2.0 * t - 1.0)
