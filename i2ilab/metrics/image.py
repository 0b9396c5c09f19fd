"""PSNR and SSIM in keras.ops (TensorFlow and JAX backends, usable inside a training step);
counterpart retrieval and translation error in NumPy (sets with known true counterparts).

Images: NHWC float in [-1, 1], so the data range (max_val) defaults to 2.0. PSNR and SSIM return
one value per image, shape (B,), as a backend tensor (keras.ops.convert_to_numpy for NumPy).
"""

import numpy as np
from keras import ops

__all__ = ["counterpart_retrieval", "psnr", "ssim", "translation_error"]


def psnr(images, references, max_val=2.0):
    """Peak signal-to-noise ratio per image in dB: 10 log10(max_val^2 / MSE); inf for identical images."""
    images = ops.convert_to_tensor(images, "float32")
    references = ops.convert_to_tensor(references, "float32")
    mse = ops.mean(ops.square(images - references), axis=(1, 2, 3))
    return 10.0 * ops.log10(max_val**2 / mse)


def _gaussian_kernel(size, sigma, channels):
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(offsets**2) / (2.0 * sigma**2))
    g /= g.sum()
    kernel = np.outer(g, g).astype(np.float32)
    return np.tile(kernel[:, :, None, None], (1, 1, channels, 1))


def ssim(images, references, max_val=2.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """Structural similarity (Wang et al. 2004) per image, averaged over valid positions and channels.

    Gaussian window (filter_size, filter_sigma) applied per channel without padding, population
    (biased) local variances, C1 = (k1 max_val)^2, C2 = (k2 max_val)^2: the definition of
    tf.image.ssim and of skimage's structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False). H and W must be at least filter_size.
    """
    images = ops.convert_to_tensor(images, "float32")
    references = ops.convert_to_tensor(references, "float32")
    if images.shape[1] is not None and min(images.shape[1], images.shape[2]) < filter_size:
        raise ValueError(
            f"ssim: images of {images.shape[1]}x{images.shape[2]} pixels are smaller than the "
            f"{filter_size}x{filter_size} window; pass a smaller filter_size."
        )
    kernel = ops.convert_to_tensor(_gaussian_kernel(filter_size, filter_sigma, images.shape[-1]))

    def blur(x):
        return ops.depthwise_conv(x, kernel, strides=1, padding="valid")

    mu_x = blur(images)
    mu_y = blur(references)
    var_x = blur(images * images) - mu_x * mu_x
    var_y = blur(references * references) - mu_y * mu_y
    cov = blur(images * references) - mu_x * mu_y
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    ssim_map = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ops.mean(ssim_map, axis=(1, 2, 3))


def _matched(outputs, truths, name):
    outputs = np.asarray(outputs, np.float32)
    truths = np.asarray(truths, np.float32)
    if outputs.ndim != 4 or outputs.shape != truths.shape:
        raise ValueError(
            f"{name}: outputs and truths must be (N, H, W, C) arrays of one shape (output i's true "
            f"counterpart is truths[i]); got {outputs.shape} and {truths.shape}."
        )
    if len(outputs) == 0:
        raise ValueError(f"{name}: no images (N = 0).")
    return outputs, truths


def counterpart_retrieval(outputs, truths):
    """Fraction of outputs whose nearest truth by mean L1, among all N truths, is their own.

    outputs, truths: (N, H, W, C) in [-1, 1]; ``truths[i]`` is the true counterpart of
    ``outputs[i]`` (e.g. the synthetic sets' ``testA_true``). A float in [0, 1]: 1 when every
    output is closer to its own counterpart than to any other, about 1/N (chance) when the
    outputs do not depend on their inputs the right way. A tie counts for the lowest index.
    Raises ValueError when the shapes differ or are not 4-D.
    """
    outputs, truths = _matched(outputs, truths, "counterpart_retrieval")
    # One output at a time: (N, H, W, C) memory instead of (N, N, H, W, C).
    nearest = [int(np.abs(truths - out).mean(axis=(1, 2, 3)).argmin()) for out in outputs]
    return float(np.mean(np.asarray(nearest) == np.arange(len(outputs))))


def translation_error(outputs, truths):
    """Mean absolute difference between the outputs and their true counterparts (a float; [-1, 1]
    images, so 0 to 2). Raises ValueError when the shapes differ or are not 4-D."""
    outputs, truths = _matched(outputs, truths, "translation_error")
    return float(np.abs(outputs - truths).mean())
