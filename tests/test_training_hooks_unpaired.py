"""A lab's own loss functions in the unpaired trainers:
``DistanceGAN(distance_loss=)``, ``DiscoGAN(distance_stats=..., distance_loss=)``,
``UNIT(kl_loss=)`` and ``OneShot(kl_loss=)``.

For each: the hook is the function called (with the arguments the docstring names), a hook
that doubles the library's term doubles the logged term and leaves the others alone, and
passing the library's own function explicitly gives the default step to float rounding."""

import keras
import numpy as np
import pytest
from test_training_engine import state_of
from test_training_unit import batch as unit_batch
from test_training_unit import tiny_unit
from unpaired_networks import tiny_trainer, tiny_unpaired_networks, unpaired_batch

from i2ilab import losses
from i2ilab.training import OneShot

STATS_A, STATS_B = (0.5, 0.1), (0.6, 0.2)  # unpaired_networks.make_trainer's DistanceGAN statistics
DISCO_STATS = (STATS_A, STATS_B)


class Recording:
    """``factor * fn(*args)``; records the non-tensor arguments (the statistics) of each call."""

    def __init__(self, fn, factor=1.0):
        self.fn, self.factor, self.calls = fn, factor, []

    def __call__(self, *args):
        self.calls.append(tuple(tuple(float(v) for v in a) for a in args[2:]))
        return self.factor * self.fn(*args)


def one_step(trainer, a, b):
    """Logs and state after one step, run eagerly (the same step; no compile time)."""
    trainer.compile(run_eagerly=True)
    logs = trainer.train_on_batch(a, b, return_dict=True)
    return {k: float(v) for k, v in logs.items()}, state_of(trainer)


def assert_same_step(first, second):
    (logs_1, state_1), (logs_2, state_2) = first, second
    assert logs_1.keys() == logs_2.keys()
    for name in logs_1:
        assert logs_2[name] == pytest.approx(logs_1[name], rel=1e-6, abs=1e-7), name
    assert state_1.keys() == state_2.keys()
    for key in state_1:
        for x, y in zip(state_1[key], state_2[key], strict=True):
            np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-7, err_msg=key)


def assert_doubled(default_logs, logs, doubled):
    """The terms ``doubled`` are 2x the default's, the generator's other terms unchanged."""
    for name in doubled:
        assert logs[name] == pytest.approx(2.0 * default_logs[name], rel=1e-5), name
    unchanged = [n for n in default_logs if n not in doubled and not n.startswith("D")]
    for name in unchanged:
        assert logs[name] == pytest.approx(default_logs[name], rel=1e-5, abs=1e-7), name


# -------------------------------------------------------------------------------- DistanceGAN
def test_distancegan_distance_loss_is_the_one_called_for_both_directions():
    a, b = unpaired_batch("distancegan", 2)
    default = one_step(tiny_trainer("distancegan"), a, b)
    hook = Recording(losses.normalized_distance_loss, factor=2.0)
    logs, _ = one_step(tiny_trainer("distancegan", distance_loss=hook), a, b)
    assert set(hook.calls) == {(STATS_A, STATS_B), (STATS_B, STATS_A)}  # dist_A, then dist_B swapped
    assert_doubled(default[0], logs, ("dist_A", "dist_B"))
    explicit = tiny_trainer("distancegan", distance_loss=losses.normalized_distance_loss)
    assert_same_step(default, one_step(explicit, a, b))


def test_distancegan_custom_distance_loss_needs_normalised_distances():
    with pytest.raises(ValueError, match="normalize_distances=False") as err:
        tiny_trainer("distancegan", distance_loss=losses.normalized_distance_loss, normalize_distances=False)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------- DiscoGAN architecture
def test_discogan_architecture_distance_loss_gets_the_halved_statistics():
    """Iteration 0 is a D turn: every term is logged at the initial weights."""
    a, b = unpaired_batch("discogan", 2)
    default = one_step(tiny_trainer("discogan", distance_stats=DISCO_STATS), a, b)
    hook = Recording(losses.normalized_distance_loss, factor=2.0)
    logs, _ = one_step(tiny_trainer("discogan", distance_stats=DISCO_STATS, distance_loss=hook), a, b)
    halved_a, halved_b = (0.25, 0.05), (0.3, 0.1)
    assert set(hook.calls) == {(halved_a, halved_b), (halved_b, halved_a)}
    assert_doubled(default[0], logs, ("dist_A", "dist_B"))
    explicit = tiny_trainer("discogan", distance_stats=DISCO_STATS, distance_loss=losses.normalized_distance_loss)
    assert_same_step(default, one_step(explicit, a, b))


@pytest.mark.parametrize("options", [{}, {"distance_stats": DISCO_STATS, "normalize_distances": False}])
def test_discogan_distance_loss_needs_statistics_and_normalised_distances(options):
    with pytest.raises(ValueError, match="distance_loss") as err:
        tiny_trainer("discogan", distance_loss=losses.normalized_distance_loss, **options)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------- UNIT, OneShot
class RecordingKL:
    def __init__(self, factor=1.0):
        self.factor, self.shapes = factor, []

    def __call__(self, h):
        self.shapes.append(tuple(h.shape[1:]))
        return self.factor * losses.unit_kl_loss(h)


def test_unit_kl_loss_is_the_one_called_for_kl_and_kl_cyc():
    """D step first, then G: the codes h of the G objective are those of the initial G."""
    a, b = unit_batch(2)
    default = one_step(tiny_unit(), a, b)
    hook = RecordingKL(factor=2.0)
    logs, _ = one_step(tiny_unit(kl_loss=hook), a, b)
    assert set(hook.shapes) == {(4, 4, 16)}  # h_a, h_b and their cycle codes (dim 4, 2 downsamplings)
    assert len(hook.shapes) % 4 == 0
    assert_doubled(default[0], logs, ("kl", "kl_cyc"))
    assert_same_step(default, one_step(tiny_unit(kl_loss=losses.unit_kl_loss), a, b))


def ost_trainer(phase, **kwargs):
    """The tiny OneShot of ``phase`` (phase 1 without Enc_a / Dec_a), weights from seed 0."""
    keras.utils.set_random_seed(0)
    nets = tiny_unpaired_networks("ost")
    if phase == "autoencoder":
        nets = {k: v for k, v in nets.items() if k not in ("enc_a", "dec_a")}
    return OneShot(**nets, phase=phase, seed=0, **kwargs)


@pytest.mark.parametrize("phase", ["autoencoder", "ost"])
def test_oneshot_kl_loss_is_the_one_called(phase):
    """The default is the old inline ``mean(z^2)`` of the B code z = Enc_shared(Enc_b(b))."""
    a, b = unpaired_batch("ost", 1)
    fresh = ost_trainer(phase)
    z = keras.ops.convert_to_numpy(fresh.enc_shared(fresh.enc_b(b, training=True), training=True))
    default = one_step(fresh, a, b)
    assert default[0]["kl"] == pytest.approx(float(np.mean(np.square(z))), rel=1e-5)
    hook = RecordingKL(factor=2.0)
    logs, _ = one_step(ost_trainer(phase, kl_loss=hook), a, b)
    assert hook.shapes and set(hook.shapes) == {(4, 4, 16)}  # z at 16 px, width 4
    assert_doubled(default[0], logs, ("kl",))
    assert_same_step(default, one_step(ost_trainer(phase, kl_loss=losses.unit_kl_loss), a, b))
