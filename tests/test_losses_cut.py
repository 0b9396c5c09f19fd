"""PatchNCE (CUT) against a NumPy computation by hand: same-image negatives only, keys detached,
the -10 diagonal, the layer average with lambda_NCE."""

import keras
import numpy as np

from i2ilab import losses
from i2ilab.training import backend as shim


def numpy_patch_nce(q, k, batch, t=0.07):
    p = q.shape[0] // batch
    out = []
    for b in range(batch):
        qb, kb = q[b * p : (b + 1) * p], k[b * p : (b + 1) * p]
        for i in range(p):
            logits = [qb[i] @ kb[i]] + [(-10.0 if j == i else qb[i] @ kb[j]) for j in range(p)]
            logits = np.array(logits) / t
            out.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[0])
    return np.array(out)


def unit_rows(n, d, seed):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype("float32")


def test_patch_nce_equals_the_hand_computation():
    q, k = unit_rows(6, 4, 0), unit_rows(6, 4, 1)
    got = keras.ops.convert_to_numpy(losses.patch_nce_loss(q, k, batch_size=2))
    np.testing.assert_allclose(got, numpy_patch_nce(q, k, 2), rtol=1e-5)
    # negatives come from the same image only: the other image's keys do not matter
    k2 = k.copy()
    k2[3:] = unit_rows(3, 4, 2)
    got2 = keras.ops.convert_to_numpy(losses.patch_nce_loss(q, k2, batch_size=2))
    np.testing.assert_allclose(got2[:3], got[:3], rtol=1e-6)
    assert not np.allclose(got2[3:], got[3:])
    # perfect positives, orthogonal negatives, t = 1: log(e^1 + 2 e^0 + e^-10) - 1 per patch
    eye = np.eye(3, dtype="float32")
    value = keras.ops.convert_to_numpy(losses.patch_nce_loss(eye, eye, batch_size=1, nce_t=1.0))
    expected = np.log(np.e + 2.0 + np.exp(-10.0)) - 1.0
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_keys_are_detached_and_the_term_averages_layers():
    q, k = unit_rows(4, 3, 3), unit_rows(4, 3, 4)
    qv, kv = keras.Variable(q), keras.Variable(k)
    _, _, (gq, gk), _ = shim.value_and_grad(
        lambda: (keras.ops.mean(losses.patch_nce_loss(qv.value, kv.value, batch_size=2)), ()), [qv, kv]
    )
    assert np.abs(keras.ops.convert_to_numpy(gq)).max() > 1e-3
    assert gk is None or np.abs(keras.ops.convert_to_numpy(gk)).max() == 0.0
    q2, k2 = unit_rows(4, 3, 5), unit_rows(4, 3, 6)
    term = float(keras.ops.convert_to_numpy(losses.patch_nce_term([q, q2], [k, k2], batch_size=2, weight=10.0)))
    expected = 10.0 * (numpy_patch_nce(q, k, 2).mean() + numpy_patch_nce(q2, k2, 2).mean()) / 2
    np.testing.assert_allclose(term, expected, rtol=1e-5)
