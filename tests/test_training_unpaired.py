"""One compiled train step of DiscoGAN, DistanceGAN (two-sided), DualGAN and OneShot gives the same
losses and weights on TensorFlow and on JAX (same initial weights and batch, no pools, the
DualGAN penalty's draws fixed).

TensorFlow runs in-process, JAX in a subprocess that executes this file as a script; both start
from weights saved to one .npz file (as tests/test_training_parity.py does for the other trainers).
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from unpaired_networks import make_trainer, tiny_unpaired_networks, unpaired_batch

from i2ilab.training.dualgan import TF1RMSprop

KINDS = ("discogan", "distancegan", "dualgan", "ost")
OPTIONS = {"discogan": {}, "distancegan": {"pool_size": 0}, "dualgan": {}, "ost": {"pool_size": 0}}


def write_inputs(path):
    keras.utils.set_random_seed(3)
    arrays = {}
    rng = np.random.default_rng(0)
    for kind in KINDS:
        for name, net in tiny_unpaired_networks(kind).items():
            for i, w in enumerate(net.get_weights()):
                arrays[f"{kind}/{name}/{i}"] = w
        arrays[f"{kind}/a"], arrays[f"{kind}/b"] = unpaired_batch(kind, 2, seed=1)
    arrays["eps"] = rng.uniform(size=(2, 2, 1, 1, 1)).astype("float32")
    np.savez(path, **arrays)


def run_steps(path, steps=1):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    out = {}
    for kind in KINDS:
        nets = tiny_unpaired_networks(kind)
        for name, net in nets.items():
            net.set_weights([arrays[f"{kind}/{name}/{i}"] for i in range(len(net.get_weights()))])
        trainer = make_trainer(kind, nets, **OPTIONS[kind])
        if kind == "dualgan":
            eps = [keras.ops.convert_to_tensor(e) for e in arrays["eps"]]
            trainer._penalty_eps = lambda batch, eps=eps: tuple(eps)
            optimizers = [TF1RMSprop(5e-5) for _ in range(2)]
        else:
            # epsilon 1e-3: the zero-gradient biases in front of the instance norms would make
            # lr * sign(noise) Adam updates that differ between backends (test_training_parity.py)
            optimizers = [keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3) for _ in range(2)]
        trainer.compile(g_optimizer=optimizers[0], d_optimizer=optimizers[1])
        a, b = arrays[f"{kind}/a"], arrays[f"{kind}/b"]
        for step in range(steps):
            logs = trainer.train_on_batch(a, b, return_dict=True)
            for key, value in logs.items():
                out[f"{kind}/loss{step}/{key}"] = np.asarray(value, "float64")
        for name, net in nets.items():
            for i, w in enumerate(net.get_weights()):
                out[f"{kind}/{name}/{i}"] = w
    return out


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="compares TensorFlow (in-process) with JAX (subprocess); run once, from the TF session",
)
def test_one_step_matches_across_tensorflow_and_jax(tmp_path):
    """DiscoGAN runs two iterations (its D step, then a G step), the others one."""
    inputs, jax_out = tmp_path / "inputs.npz", tmp_path / "jax.npz"
    write_inputs(inputs)
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    )
    here = pathlib.Path(__file__).resolve()
    proc = subprocess.Popen(
        [sys.executable, str(here), str(inputs), str(jax_out)],
        env=env,
        cwd=here.parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tf_results = run_steps(inputs, steps=2)
    log, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, log[-4000:]
    with np.load(jax_out) as f:
        jax_results = {k: f[k] for k in f.files}
    assert tf_results.keys() == jax_results.keys()
    for kind in KINDS:
        assert len([k for k in tf_results if k.startswith(f"{kind}/loss0/")]) >= 4, kind
    for key, tf_value in tf_results.items():
        if "/loss" in key:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, atol=2e-5, err_msg=key)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    np.savez(sys.argv[2], **run_steps(sys.argv[1], steps=2))
