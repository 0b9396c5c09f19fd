"""One compiled train step of Pix2Pix, CycleGAN and MUNIT gives the same losses and weights on
TensorFlow and on JAX (same initial weights and batch, dropout off, no pool, fixed styles).

The test runs the TensorFlow step in-process and the JAX step in a subprocess that executes this
file as a script; both start from weights saved to one .npz file.
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

KINDS = ("pix2pix", "cyclegan", "munit")
SIZE = 16


def _networks(kind):
    from tiny_networks import tiny_gan_networks

    return tiny_gan_networks(kind, SIZE)


def _trainer(kind, nets, styles):
    from i2ilab.training import MUNIT, CycleGAN, Pix2Pix

    if kind == "pix2pix":
        return Pix2Pix(nets["generator"], nets["discriminator"])
    if kind == "cyclegan":
        return CycleGAN(nets["g_ab"], nets["g_ba"], nets["d_a"], nets["d_b"], pool_size=0)

    class FixedStyleMUNIT(MUNIT):
        """The four style draws of a step (D: s_a, s_b; G: s_a, s_b) come from the file."""

        def _random_styles(self, batch):
            self.draws = getattr(self, "draws", 0) + 1
            return keras.ops.convert_to_tensor(styles[(self.draws - 1) % 4])

    return FixedStyleMUNIT(nets["gen_a"], nets["gen_b"], nets["dis_a"], nets["dis_b"], recon_x_cyc_w=10.0)


def write_inputs(path):
    """Initial weights of all networks (built on this backend), a batch and four style draws."""
    keras.utils.set_random_seed(3)
    arrays = {}
    for kind in KINDS:
        for name, net in _networks(kind).items():
            for i, w in enumerate(net.get_weights()):
                arrays[f"{kind}/{name}/{i}"] = w
    rng = np.random.default_rng(0)
    arrays["x"] = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    arrays["y"] = np.tanh(2 * arrays["x"][..., ::-1]).astype("float32")
    for k in range(4):
        arrays[f"style{k}"] = rng.standard_normal((2, 3)).astype("float32")
    np.savez(path, **arrays)


def run_steps(path):
    """One train step per trainer from the saved state; returns losses and updated weights."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    styles = [arrays[f"style{k}"] for k in range(4)]
    out = {}
    for kind in KINDS:
        nets = _networks(kind)
        for name, net in nets.items():
            n = len(net.get_weights())
            net.set_weights([arrays[f"{kind}/{name}/{i}"] for i in range(n)])
        trainer = _trainer(kind, nets, styles)
        # Adam's update is lr * sign(g) for any g >> epsilon, so the pure float noise of the
        # zero-gradient biases in front of InstanceNorm would become +-lr updates that differ
        # between backends; epsilon 1e-3 keeps those ~1e-9 and real updates Adam-like.
        trainer.compile(
            g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
            d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
        )
        logs = trainer.train_on_batch(arrays["x"], arrays["y"], return_dict=True)
        for key, value in logs.items():
            out[f"{kind}/loss/{key}"] = np.asarray(value, "float64")
        for name, net in nets.items():
            for i, w in enumerate(net.get_weights()):
                out[f"{kind}/{name}/{i}"] = w
    return out


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="compares TensorFlow (in-process) with JAX (subprocess); run once, from the TF session",
)
def test_one_step_matches_across_tensorflow_and_jax(tmp_path):
    inputs, jax_out = tmp_path / "inputs.npz", tmp_path / "jax.npz"
    write_inputs(inputs)
    # XLA's LLVM optimisation level 0 halves the CPU compile time of these steps.
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    )
    repo = pathlib.Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, str(pathlib.Path(__file__).resolve()), str(inputs), str(jax_out)],
        env=env,
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tf_results = run_steps(inputs)
    log, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, log[-4000:]
    with np.load(jax_out) as f:
        jax_results = {k: f[k] for k in f.files}
    assert tf_results.keys() == jax_results.keys()
    for kind in KINDS:
        names = [k for k in tf_results if k.startswith(f"{kind}/loss/")]
        assert len(names) >= 4, names
    for key, tf_value in tf_results.items():
        if "/loss/" in key:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, err_msg=key)
        else:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, atol=2e-5, err_msg=key)


if __name__ == "__main__":
    results = run_steps(sys.argv[1])
    np.savez(sys.argv[2], **results)
