"""DistanceGAN trainer (CycleGAN architecture): the distance statistics, G step then D step
against a hand-written objective, one- and two-sided runs, exact resume with the pool."""

import itertools

import keras
import numpy as np
import pytest
from test_training_engine import _two_epochs_and_reload, values
from unpaired_networks import tiny_trainer, tiny_unpaired_networks, unpaired_batch

from i2ilab.training import DistanceGAN
from i2ilab.training import backend as shim
from i2ilab.training.distancegan import distance_statistics


def test_distance_statistics_over_all_pairs_of_items():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (7, 3, 3, 2)).astype("float32")
    d = [np.abs(x[i] - x[j]).mean() for i, j in itertools.combinations(range(5), 2)]
    mu, sigma = distance_statistics(x, max_items=5, chunk=2)
    assert mu == pytest.approx(np.mean(d), rel=1e-6) and sigma == pytest.approx(np.std(d), rel=1e-5)
    pairs = x[:6].reshape(3, -1)  # items of 2 images: distances between whole batches
    d2 = [np.abs(pairs[i] - pairs[j]).mean() for i, j in itertools.combinations(range(3), 2)]
    assert distance_statistics(x, group=2) == pytest.approx((np.mean(d2), np.std(d2)), rel=1e-5)
    with pytest.raises(ValueError, match="at least 3 items"):
        distance_statistics(x[:5], group=2)  # 2 items: one distance, no spread
    with pytest.raises(ValueError, match="sigma 0"):
        distance_statistics(np.zeros((4, 3, 3, 2), "float32"))


def test_one_sided_g_step_then_d_step_equal_the_reference():
    t = tiny_trainer("distancegan", pool_size=0, g_ba=None, d_a=None)
    assert set(t.networks) == {"g_ab", "d_b"}
    t.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    a, b = unpaired_batch("distancegan", 3)
    g_vars, d_vars = t.g_ab.trainable_variables, t.d_b.trainable_variables
    g0, d0 = values(g_vars), values(d_vars)

    def dist_loss(x, y):
        terms = []
        for i, j in itertools.combinations(range(3), 2):
            dx = (keras.ops.mean(keras.ops.abs(x[i] - x[j])) - 0.5) / 0.1
            dy = (keras.ops.mean(keras.ops.abs(y[i] - y[j])) - 0.6) / 0.2
            terms.append(keras.ops.abs(dx - dy))
        return sum(terms) / 3.0

    def g_objective():
        fake = t.g_ab(a, training=True)
        return keras.ops.mean(keras.ops.square(t.d_b(fake) - 1.0)) + dist_loss(a, fake), fake

    _, fake, g_grads, _ = shim.value_and_grad(g_objective, g_vars)

    def d_objective():
        real_term = keras.ops.mean(keras.ops.square(t.d_b(b) - 1.0))
        return 0.5 * (real_term + keras.ops.mean(keras.ops.square(t.d_b(fake)))), ()

    _, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
    logs = t.train_on_batch(a, b, return_dict=True)
    assert set(logs) == {"G_A", "dist_A", "D_B"}
    for before, after, grads in ((g0, values(g_vars), g_grads), (d0, values(d_vars), d_grads)):
        for w0, w1, g in zip(before, after, grads, strict=True):
            np.testing.assert_allclose(w1, w0 - keras.ops.convert_to_numpy(g), rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_two_sided_with_cycle_resumes_exactly_with_the_pools(tmp_path):
    t = tiny_trainer("distancegan", pool_size=3, lambda_cycle=10.0)
    t.compile()
    a, b = unpaired_batch("distancegan", 4)
    history = _two_epochs_and_reload(t, a, b, tmp_path, 2)
    assert set(history) == {"G_A", "dist_A", "G_B", "dist_B", "cycle_A", "cycle_B", "D_B", "D_A"}
    assert int(keras.ops.convert_to_numpy(t.pool_a.count)) == 3
    assert list(t.sample_columns(a[:2], b[:2])) == ["real_A", "fake_B", "real_B", "fake_A"]


def test_argument_errors():
    nets = tiny_unpaired_networks("distancegan")
    with pytest.raises(ValueError, match="both g_ba and d_a"):
        DistanceGAN(nets["g_ab"], nets["d_b"], (0, 1), (0, 1), g_ba=nets["g_ba"])
    with pytest.raises(ValueError, match="lambda_cycle > 0 needs"):
        DistanceGAN(nets["g_ab"], nets["d_b"], (0, 1), (0, 1), lambda_cycle=10.0)
    one_sided = DistanceGAN(nets["g_ab"], nets["d_b"], (0, 1), (0, 1), pool_size=0)
    with pytest.raises(ValueError, match="direction must be one of"):
        one_sided.translate(np.zeros((1, 16, 16, 3), "float32"), "BtoA")
    one_sided.compile()
    a, b = unpaired_batch("distancegan", 1)
    with pytest.raises(ValueError, match="got a batch of 1"):
        one_sided.train_on_batch(a, b)
