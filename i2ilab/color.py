"""sRGB <-> CIE Lab (D65, 2 degree observer), as in skimage.color: the library's one Lab conversion.

The colorization model of pix2pix and Zhang et al. (arXiv:1603.08511, Sec. 2) works in Lab:
the network sees L and predicts ab. The same formulas are written once and evaluated with three
array namespaces: NumPy (synthetic data, plots, metrics, files), TensorFlow (inside tf.data
pipelines, whatever the Keras backend) and keras.ops (inside models and trainers, on TensorFlow
and JAX). NumPy keeps float64 inputs in float64 (the metrics); everything else is float32.

Scaling used by the library (the pix2pix colorization model): L in [0, 100] -> L / 50 - 1 in
[-1, 1]; ab in about [-110, 110] -> ab / 110 (:func:`scale_l_ab`, :func:`unscale_l_ab`).
"""

from types import SimpleNamespace

import numpy as np

# Linear sRGB -> XYZ (D65), the matrix of skimage.color.
XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    dtype=np.float64,
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
# Reference white D65, 2 degree observer.
WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
# The matrix's own white (its row sums, D65 to 4 digits): with it every grey gets a = b = 0
# exactly, where the rounded D65 numbers give greys a chroma of about 0.003.
WHITE_EXACT_GREY = XYZ_FROM_RGB.sum(axis=1)

L_SCALE = 50.0
AB_SCALE = 110.0


def _np_namespace(dtype):
    return SimpleNamespace(
        where=np.where,
        power=np.power,
        maximum=np.maximum,
        minimum=np.minimum,
        einsum=np.einsum,
        stack=lambda xs: np.stack(xs, axis=-1),
        const=lambda a: np.asarray(a, dtype=dtype),
        asarray=lambda x: np.asarray(x, dtype),
    )


def _np_for(x):
    """The NumPy namespace for ``x``: float64 stays float64, anything else is float32."""
    return _np_namespace(np.float64 if np.asarray(x).dtype == np.float64 else np.float32)


def _tf_namespace():
    import tensorflow as tf

    # power via exp(p log x): 2-3x faster than tf.pow on CPU; every base here is >= 1e-6.
    return SimpleNamespace(
        where=tf.where,
        power=lambda x, p: tf.exp(p * tf.math.log(x)),
        maximum=tf.maximum,
        minimum=tf.minimum,
        einsum=tf.einsum,
        stack=lambda xs: tf.stack(xs, axis=-1),
        const=lambda a: tf.constant(np.asarray(a, np.float32)),
        asarray=lambda x: tf.cast(x, tf.float32),
    )


def _keras_namespace():
    from keras import ops

    return SimpleNamespace(
        where=ops.where,
        power=ops.power,
        maximum=ops.maximum,
        minimum=ops.minimum,
        einsum=ops.einsum,
        stack=lambda xs: ops.stack(xs, axis=-1),
        const=lambda a: ops.convert_to_tensor(np.asarray(a, np.float32)),
        asarray=lambda x: ops.cast(ops.convert_to_tensor(x), "float32"),
    )


def _rgb_to_lab(rgb, xp, white=WHITE_D65):
    rgb = xp.asarray(rgb)
    # sRGB companding -> linear; maximum() keeps the unused branch of where() finite.
    lin = xp.where(rgb > 0.04045, xp.power(xp.maximum(rgb + 0.055, 1e-6) / 1.055, 2.4), rgb / 12.92)
    xyz = xp.einsum("...j,ij->...i", lin, xp.const(XYZ_FROM_RGB / white[:, None]))
    f = xp.where(xyz > 0.008856, xp.power(xp.maximum(xyz, 1e-6), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return xp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)])


def _lab_to_rgb(lab, xp):
    lab = xp.asarray(lab)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = xp.maximum(fy - lab[..., 2] / 200.0, 0.0)  # skimage clips negative z to 0
    f = xp.stack([fx, fy, fz])
    xyz = xp.where(f > 0.2068966, f * f * f, (f - 16.0 / 116.0) / 7.787)
    lin = xp.einsum("...j,ij->...i", xyz, xp.const(RGB_FROM_XYZ * WHITE_D65[None, :]))
    rgb = xp.where(lin > 0.0031308, 1.055 * xp.power(xp.maximum(lin, 1e-6), 1.0 / 2.4) - 0.055, lin * 12.92)
    return xp.minimum(xp.maximum(rgb, 0.0), 1.0)


def rgb_to_lab(rgb):
    """sRGB (..., 3) in [0, 1] -> Lab (..., 3): L in [0, 100], a and b in about [-110, 110].

    keras.ops implementation (TensorFlow and JAX backends); agrees with skimage.color.rgb2lab to
    1e-3. Use `rgb_to_lab_np` for NumPy and `rgb_to_lab_tf` inside tf.data.
    """
    return _rgb_to_lab(rgb, _keras_namespace())


def lab_to_rgb(lab):
    """Lab (..., 3) -> sRGB (..., 3) clipped to [0, 1]; keras.ops; inverse of `rgb_to_lab`.

    Matches skimage.color.lab2rgb (which also clips to [0, 1]) to 1e-3.
    """
    return _lab_to_rgb(lab, _keras_namespace())


def rgb_to_lab_np(rgb, exact_grey=False):
    """NumPy version of `rgb_to_lab` (float64 for float64 input, else float32).

    ``exact_grey=True`` normalises by the matrix's own white (:data:`WHITE_EXACT_GREY`) instead
    of D65's rounded numbers, so that every grey gets a = b = 0 exactly (colour metrics);
    a and b then differ from skimage's by up to 5e-3.
    """
    return _rgb_to_lab(rgb, _np_for(rgb), WHITE_EXACT_GREY if exact_grey else WHITE_D65)


def lab_to_rgb_np(lab):
    """NumPy version of `lab_to_rgb` (float64 for float64 input, else float32)."""
    return _lab_to_rgb(lab, _np_for(lab))


def rgb_to_lab_tf(rgb):
    """TensorFlow version of `rgb_to_lab`, for tf.data pipelines under any Keras backend."""
    return _rgb_to_lab(rgb, _tf_namespace())


def lab_to_rgb_tf(lab):
    """TensorFlow version of `lab_to_rgb`."""
    return _lab_to_rgb(lab, _tf_namespace())


def scale_l_ab(lab):
    """Lab (..., 3) -> (L / 50 - 1 (..., 1), ab / 110 (..., 2)), the networks' scaling; any array type."""
    return lab[..., :1] / L_SCALE - 1.0, lab[..., 1:] / AB_SCALE


def unscale_l_ab(l_scaled, ab_scaled):
    """Inverse of :func:`scale_l_ab`: (L, ab) in unit scales -> (L in [0, 100], ab); any array type."""
    return (l_scaled + 1.0) * L_SCALE, ab_scaled * AB_SCALE


def rgb_to_l_ab(rgb):
    """Images (B, H, W, 3) in [-1, 1] -> (L (B, H, W, 1) = L/50 - 1, ab (B, H, W, 2) = ab/110); keras.ops."""
    from keras import ops

    return scale_l_ab(rgb_to_lab((ops.convert_to_tensor(rgb, "float32") + 1.0) * 0.5))


def rgb_to_l_ab_np(rgb):
    """NumPy version of :func:`rgb_to_l_ab` (float32)."""
    return scale_l_ab(rgb_to_lab_np((np.asarray(rgb, np.float32) + 1.0) * 0.5))


def l_ab_to_rgb(l_scaled, ab_scaled):
    """(L/50 - 1 (B, H, W, 1), ab/110 (B, H, W, 2)) -> RGB images (B, H, W, 3) in [-1, 1]; keras.ops.

    This is how a colorization network's output becomes a picture: L from the input, ab predicted.
    """
    from keras import ops

    lightness, ab = unscale_l_ab(
        ops.convert_to_tensor(l_scaled, "float32"), ops.convert_to_tensor(ab_scaled, "float32")
    )
    return lab_to_rgb(ops.concatenate([lightness, ab], axis=-1)) * 2.0 - 1.0
