"""OST networks: the four pieces of the 12-block ResNet generator and D_b, exact counts, shapes."""

import keras
import numpy as np
import pytest

from i2ilab.models import build_model


def count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.mark.parametrize(
    ("model_type", "params"),
    [("ost_enc", 378_496), ("ost_shared", 7_080_960), ("ost_dec", 378_243), ("patchgan", 2_764_737)],
)
def test_parameter_counts_equal_the_authors(model_type, params):
    kwargs = {"in_channels": 3, "norm": "instance"} if model_type == "patchgan" else {}
    assert count(build_model(model_type, image_size=None, **kwargs)) == params


def test_the_pieces_compose_to_a_translation():
    keras.utils.set_random_seed(0)
    enc = build_model("ost_enc", image_size=16, ngf=4)
    shared = build_model("ost_shared", image_size=4, channels=16, n_blocks=1)
    dec = build_model("ost_dec", image_size=4, ngf=4)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    code = enc(x)
    assert tuple(code.shape) == (2, 4, 4, 16)
    y = keras.ops.convert_to_numpy(dec(shared(code)))
    assert y.shape == (2, 16, 16, 3) and np.abs(y).max() <= 1.0
