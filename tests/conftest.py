"""Shared pytest setup: fixed seeds, the parity fixtures, the tf_only marker.

The test process keeps the environment a user has: no log level, warning filter or matplotlib
backend is set here (matplotlib picks a headless backend by itself where there is no display).
"""

import pathlib

import keras
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# The parity fixtures live in ../shared/parity next to a developer checkout, and in
# tests/fixtures/parity inside the repository (a copy, so CI has them).
PARITY_DIR = REPO / "tests" / "fixtures" / "parity"


def pytest_collection_modifyitems(config, items):
    """Mark tests that only run on the TensorFlow backend so `make test-jax` can skip them."""
    backend = keras.backend.backend()
    for item in items:
        if item.get_closest_marker("tf_only") and backend != "tensorflow":
            item.add_marker(pytest.mark.skip(reason="TensorFlow backend only"))


def pytest_configure(config):
    config.addinivalue_line("markers", "tf_only: needs the TensorFlow backend (tf.data, tf.function)")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def backend():
    return keras.backend.backend()


@pytest.fixture(scope="module")
def synthetic_cache(tmp_path_factory):
    """A temporary I2ILAB_CACHE for one test module: its synthetic sets are written once there.
    Modules that train through the CLI use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("I2ILAB_CACHE", str(tmp_path_factory.mktemp("i2ilab_cache")))
        yield


@pytest.fixture(scope="session")
def parity_dir():
    return PARITY_DIR


def load_parity(name):
    """Return the arrays of one parity fixture file as a dict."""
    with np.load(PARITY_DIR / name) as f:
        return {k: f[k] for k in f.files}
