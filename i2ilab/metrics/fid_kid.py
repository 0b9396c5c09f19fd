"""FID and KID: distances between the feature distributions of real and generated images.

- FID (Heusel et al. 2017): fit a Gaussian (mean, covariance) to each feature set and take the
  Frechet distance |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)). Biased for small sets:
  compare FIDs only at equal sample counts.
- KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of the squared MMD
  with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets; it is
  unbiased, so small sets give honest (if noisy) numbers; the standard error says how noisy.

The feature extractor is pluggable: any keras.Model mapping images in [-1, 1] to (N, D) features
(or (N, h, w, D) maps, average-pooled over space). `inception_feature_model` gives the usual
Inception-v3 pool features (2048-d) from a local weights file; nothing is ever downloaded here.

Getting the Inception-v3 weights file (once, on a machine with internet access):
    import keras
    keras.applications.InceptionV3(include_top=False, weights="imagenet")
downloads `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5` (about 84 MB) into
`~/.keras/models/` ($KERAS_HOME/models if set), which is where `inception_feature_model` looks by
default; copy that file to offline machines and pass its path. These are the Keras ImageNet weights,
not the TF-slim graph of the original FID code (pt_inception-2015-12-05), so FIDs computed here are
comparable with each other, not with published FIDs.
"""

import os
import pathlib

import keras
import numpy as np

__all__ = [
    "INCEPTION_WEIGHTS_FILE",
    "default_inception_weights_path",
    "inception_feature_model",
    "extract_features",
    "feature_statistics",
    "frechet_distance",
    "fid_from_features",
    "polynomial_kernel",
    "mmd2_unbiased",
    "kid_from_features",
    "fid",
    "kid",
]

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def default_inception_weights_path():
    """Where Keras caches the Inception-v3 no-top weights: $KERAS_HOME/models or ~/.keras/models."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return pathlib.Path(home) / "models" / INCEPTION_WEIGHTS_FILE


def inception_feature_model(weights_path=None, image_size=299):
    """Inception-v3 pool features (N, 2048) from a local weights file; never downloads.

    weights_path: the Keras no-top ImageNet weights (`INCEPTION_WEIGHTS_FILE`, see the module
    docstring for how to get it); default `default_inception_weights_path()`. The returned model
    takes images of any size in [-1, 1] (which is exactly Inception's own input scaling), resizes
    them bilinearly to image_size x image_size and returns the global-average-pooled last block.
    Raises FileNotFoundError naming the path and how to obtain the file when it is missing.
    """
    path = pathlib.Path(weights_path) if weights_path is not None else default_inception_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"inception_feature_model: no Inception-v3 weights file at {path}. i2ilab never downloads "
            "weights. On a machine with internet access run `import keras; "
            'keras.applications.InceptionV3(include_top=False, weights="imagenet")`, which saves '
            f"{INCEPTION_WEIGHTS_FILE} into ~/.keras/models/; copy it here and pass "
            "weights_path=<that file>, or use any keras.Model as the feature extractor instead."
        )
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize")(inputs)
    backbone = keras.applications.InceptionV3(
        include_top=False, weights=str(path), input_shape=(image_size, image_size, 3), pooling="avg"
    )
    return keras.Model(inputs, backbone(x), name="inception_features")


def _pool(features):
    features = np.asarray(features)
    if features.ndim == 4:
        features = features.mean(axis=(1, 2))
    if features.ndim != 2:
        raise ValueError(
            f"extract_features: the feature model must return (N, D) or (N, h, w, D), got shape {features.shape}."
        )
    return features


def extract_features(model, images, batch_size=32, verbose=1):
    """Run a feature model over images and return float64 features (N, D).

    images: an array (N, H, W, C) in [-1, 1], or an iterable of such batches (e.g. a tf.data
    Dataset of images). Outputs of shape (N, h, w, D) are averaged over space. A progress bar is
    shown unless verbose=0.
    """
    if isinstance(images, np.ndarray):
        features = model.predict(images.astype(np.float32), batch_size=batch_size, verbose=verbose)
        return _pool(features).astype(np.float64)
    progress = keras.utils.Progbar(None, verbose=verbose, unit_name="batch")
    chunks = []
    for step, batch in enumerate(images, start=1):
        chunks.append(_pool(keras.ops.convert_to_numpy(model(batch, training=False))))
        progress.update(step)
    if not chunks:
        raise ValueError("extract_features: the image iterable yielded no batches.")
    return np.concatenate(chunks).astype(np.float64)


def feature_statistics(features):
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), N >= 2, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"feature_statistics: need features (N, D) with N >= 2, got shape {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrtm_product(sigma1, sigma2):
    """Real part of (sigma1 sigma2)^(1/2), or None when scipy's result is not trustworthy."""
    import scipy.linalg

    product = sigma1 @ sigma2
    root = scipy.linalg.sqrtm(product)
    if not np.all(np.isfinite(root)):
        return None
    if np.linalg.norm(root @ root - product) > 1e-3 * np.linalg.norm(product) + 1e-12:
        return None
    if np.iscomplexobj(root):
        if np.abs(root.imag).max() > 1e-3 * max(np.abs(root.real).max(), 1.0):
            return None
        root = root.real
    return root


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    |mu1 - mu2|^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2)), with the matrix square
    root from scipy.linalg.sqrtm. When that root is not finite or not accurate (singular
    covariances, e.g. fewer samples than feature dimensions), eps * I is added to both covariances
    and the root recomputed, as in the original FID code; small imaginary parts from round-off are
    dropped. Returns a Python float (>= 0 up to round-off).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"frechet_distance: shapes do not match: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / "
            f"{sigma2.shape}; need mu (D,) and sigma (D, D) for both."
        )
    root = _sqrtm_product(sigma1, sigma2)
    if root is None:
        offset = eps * np.eye(mu1.size)
        root = _sqrtm_product(sigma1 + offset, sigma2 + offset)
        if root is None:
            raise ValueError(
                "frechet_distance: the matrix square root of sigma1 @ sigma2 failed even with "
                f"eps={eps} added to the diagonals; check the features for NaN/inf or raise eps."
            )
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root))


def fid_from_features(features1, features2, eps=1e-6):
    """FID between two feature sets (N1, D) and (N2, D): the Frechet distance of their Gaussians."""
    mu1, sigma1 = feature_statistics(features1)
    mu2, sigma2 = feature_statistics(features2)
    return frechet_distance(mu1, sigma1, mu2, sigma2, eps=eps)


def polynomial_kernel(x, y):
    """KID's kernel matrix k(x_i, y_j) = (x_i . y_j / d + 1)^3 for x (n, d), y (m, d) -> (n, m)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased squared MMD with the polynomial kernel between samples x (m, d) and y (n, d), m, n >= 2.

    mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j).
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"mmd2_unbiased: need at least 2 samples per set, got {m} and {n}.")
    kxx = polynomial_kernel(x, x)
    kyy = polynomial_kernel(y, y)
    kxy = polynomial_kernel(x, y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean()


def kid_from_features(features1, features2, num_subsets=100, subset_size=1000, seed=0):
    """KID between two feature sets: (mean, standard error) of the unbiased MMD^2 over subsets.

    Each of num_subsets rounds draws subset_size features from each set without replacement
    (subset_size is capped at the smaller set size), as in Binkowski et al.; the standard error is
    std(ddof=1) / sqrt(num_subsets) of the subset values (nan for a single subset). The subsets
    overlap when the sets are small, so it understates the spread between independent test sets.
    """
    features1 = np.asarray(features1, np.float64)
    features2 = np.asarray(features2, np.float64)
    if features1.ndim != 2 or features2.ndim != 2 or features1.shape[1] != features2.shape[1]:
        raise ValueError(
            f"kid_from_features: need features (N1, D) and (N2, D), got {features1.shape} and {features2.shape}."
        )
    size = min(subset_size, len(features1), len(features2))
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = features1[rng.choice(len(features1), size, replace=False)]
        y = features2[rng.choice(len(features2), size, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    stderr = values.std(ddof=1) / np.sqrt(num_subsets) if num_subsets > 1 else float("nan")
    return float(values.mean()), float(stderr)


def _model_or_inception(feature_model):
    return inception_feature_model() if feature_model is None else feature_model


def fid(real_images, generated_images, feature_model=None, batch_size=32, verbose=1):
    """FID between image sets (arrays or iterables of batches, in [-1, 1]) under a feature model.

    feature_model: any keras.Model (see `extract_features`); None loads Inception-v3 from
    `default_inception_weights_path()` (error if missing). To get FID and KID of the same sets,
    call `extract_features` once and use `fid_from_features` / `kid_from_features`.
    """
    model = _model_or_inception(feature_model)
    real = extract_features(model, real_images, batch_size=batch_size, verbose=verbose)
    generated = extract_features(model, generated_images, batch_size=batch_size, verbose=verbose)
    return fid_from_features(real, generated)


def kid(
    real_images,
    generated_images,
    feature_model=None,
    num_subsets=100,
    subset_size=1000,
    seed=0,
    batch_size=32,
    verbose=1,
):
    """KID (mean, standard error) between image sets under a feature model; as `fid` for the inputs."""
    model = _model_or_inception(feature_model)
    real = extract_features(model, real_images, batch_size=batch_size, verbose=verbose)
    generated = extract_features(model, generated_images, batch_size=batch_size, verbose=verbose)
    return kid_from_features(real, generated, num_subsets=num_subsets, subset_size=subset_size, seed=seed)
