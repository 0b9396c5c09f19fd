"""UNIT's latent term: "KL" = mean(h^2) of the authors' code, by hand."""

import keras
import numpy as np

from i2ilab import losses


def test_unit_kl_is_the_mean_square():
    h = np.arange(-3, 3, dtype="float32").reshape(1, 2, 3, 1)
    assert float(keras.ops.convert_to_numpy(losses.unit_kl_loss(h))) == np.mean(h**2) == 19 / 6
