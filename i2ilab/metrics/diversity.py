"""Diversity of a multimodal translator: mean pairwise distance between outputs for one input.

MUNIT (Huang et al. 2018, section 5) follows BicycleGAN and reports the average LPIPS distance
(Zhang et al. 2018) between pairs of outputs sampled for the same input: about 0.11 for MUNIT
against about 0.01 for unimodal CycleGAN/UNIT on edges -> shoes (shared/REFERENCE.md section 5).
A deterministic translator scores exactly 0.

The distance is pluggable: any function (a, b) -> per-pair distances (B,) on image batches
(B, H, W, C) in [-1, 1]. Provided here:
- `pixel_l1_distance`: mean absolute difference (no weights needed);
- `feature_distance(feature_model, channel_weights=None)`: the LPIPS formula on the feature maps of
  any keras.Model: unit-normalise each layer's features over channels, square the difference,
  weight channels (all 1 when channel_weights is None, LPIPS's uncalibrated "baseline"), sum over
  channels, average over space, sum over layers;
- `vgg16_feature_model(weights_path)`: the five VGG16 layers LPIPS-VGG uses, from the local Keras
  ImageNet weights file (never downloaded; see its docstring for how to get it).
The published LPIPS is a PyTorch network (AlexNet/VGG from torchvision plus learned linear
weights); Keras's VGG16 weights differ from torchvision's, so even with LPIPS's linear weights
passed as channel_weights the numbers here approximate LPIPS and are comparable across models
judged with the same distance, not with the paper's 0.11.

Where the true set of outputs of every input is known (the synthetic "edges2palette" set),
`multimodal_scores` also measures coverage and fidelity, the two axes of BicycleGAN's Fig. 6
(diversity vs realism): a collapsed model covers one true output, a blurry one is far from all.
"""

import itertools
import os
import pathlib

import keras
import numpy as np

__all__ = [
    "VGG16_WEIGHTS_FILE",
    "LPIPS_VGG_LAYERS",
    "pixel_l1_distance",
    "feature_distance",
    "VGGPreprocess",
    "vgg16_feature_model",
    "mean_pairwise_distance",
    "diversity_score",
    "multimodal_scores",
]

VGG16_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
LPIPS_VGG_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")


def pixel_l1_distance(a, b):
    """Mean absolute difference per pair: a, b (B, H, W, C) -> (B,) float64."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return np.abs(a - b).reshape(len(a), -1).mean(axis=1)


def feature_distance(feature_model, channel_weights=None):
    """An LPIPS-style distance function over the feature maps of a keras.Model.

    feature_model maps images (B, H, W, C) in [-1, 1] to one feature map (B, h, w, c) or a list of
    them. channel_weights: None (every channel weight 1) or one non-negative array (c_l,) per
    feature map, e.g. LPIPS's learned linear weights. Returns distance(a, b) -> (B,) float64:
    sum_l mean_{h,w} sum_c w_lc (f_l(a)/|f_l(a)| - f_l(b)/|f_l(b)|)^2, norms over channels.
    """

    def distance(a, b):
        a = np.asarray(a, np.float32)
        b = np.asarray(b, np.float32)
        outputs = feature_model(np.concatenate([a, b]), training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        if channel_weights is not None and len(channel_weights) != len(outputs):
            raise ValueError(
                f"feature_distance: {len(channel_weights)} channel_weights for {len(outputs)} feature maps; "
                "give one weight vector per feature map."
            )
        total = np.zeros(len(a))
        for layer, features in enumerate(outputs):
            features = np.asarray(keras.ops.convert_to_numpy(features), np.float64)
            if features.ndim != 4:
                raise ValueError(
                    f"feature_distance: feature map {layer} has shape {features.shape}; need (B, h, w, c)."
                )
            features = features / (np.sqrt((features**2).sum(axis=-1, keepdims=True)) + 1e-10)
            squared = (features[: len(a)] - features[len(a) :]) ** 2
            if channel_weights is not None:
                squared = squared * np.asarray(channel_weights[layer], np.float64)
            total += squared.sum(axis=-1).mean(axis=(1, 2))
        return total

    return distance


@keras.saving.register_keras_serializable(package="i2ilab")
class VGGPreprocess(keras.layers.Layer):
    """Keras VGG16's input convention from [-1, 1] RGB: BGR order, 0..255, ImageNet BGR mean subtracted."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, images):
        bgr = keras.ops.flip(images, axis=-1)
        return (bgr + 1.0) * 127.5 - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=self.compute_dtype)


def vgg16_feature_model(weights_path=None):
    """VGG16 features at LPIPS's five layers (`LPIPS_VGG_LAYERS`) from a local weights file.

    weights_path: the Keras no-top ImageNet weights `VGG16_WEIGHTS_FILE`; default
    $KERAS_HOME/models or ~/.keras/models. Get it once on a machine with internet access with
    `keras.applications.VGG16(include_top=False, weights="imagenet")` and copy it. Never downloads:
    a missing file raises FileNotFoundError naming the path. The model takes images (B, H, W, 3) in
    [-1, 1] (H, W >= 16), applies VGG16's own preprocessing (RGB -> BGR, 0..255, ImageNet mean
    subtracted) and returns a list of five feature maps.
    """
    if weights_path is None:
        home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
        weights_path = pathlib.Path(home) / "models" / VGG16_WEIGHTS_FILE
    path = pathlib.Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"vgg16_feature_model: no VGG16 weights file at {path}. i2ilab never downloads weights. On a "
            "machine with internet access run `import keras; keras.applications.VGG16(include_top=False, "
            f'weights="imagenet")`, which saves {VGG16_WEIGHTS_FILE} into ~/.keras/models/; copy it here and '
            "pass weights_path=<that file>, or use pixel_l1_distance / another feature model instead."
        )
    backbone = keras.applications.VGG16(include_top=False, weights=str(path), input_shape=(None, None, 3))
    taps = keras.Model(backbone.input, [backbone.get_layer(name).output for name in LPIPS_VGG_LAYERS])
    inputs = keras.Input((None, None, 3), name="image")
    return keras.Model(inputs, taps(VGGPreprocess(name="vgg_preprocess")(inputs)), name="vgg16_lpips_features")


def mean_pairwise_distance(outputs, distance=pixel_l1_distance, batch_size=64):
    """Mean distance over all pairs i < j of outputs (K, H, W, C) for one input, K >= 2."""
    outputs = np.asarray(outputs)
    if outputs.ndim != 4 or len(outputs) < 2:
        raise ValueError(
            f"mean_pairwise_distance: need at least 2 outputs (K, H, W, C) for one input, got shape {outputs.shape}."
        )
    pairs = np.array(list(itertools.combinations(range(len(outputs)), 2)))
    values = [
        distance(outputs[chunk[:, 0]], outputs[chunk[:, 1]])
        for chunk in np.array_split(pairs, max(1, -(-len(pairs) // batch_size)))
    ]
    return float(np.concatenate(values).mean())


def diversity_score(sample_fn, inputs, num_samples=10, distance=pixel_l1_distance, verbose=1):
    """Average over inputs of the mean pairwise distance between num_samples outputs per input.

    sample_fn(inputs) -> one (random) translation per input, (N, H, W, C) in [-1, 1]; it is called
    num_samples times on the whole batch `inputs` (N, H, W, C). For MUNIT, sample_fn decodes the
    content with a fresh random style code each call; for CycleGAN it is the generator, and the
    score is 0. Returns a float; a progress bar runs over the inputs unless verbose=0.
    """
    samples = np.stack([np.asarray(keras.ops.convert_to_numpy(sample_fn(inputs))) for _ in range(num_samples)])
    if samples.shape[1] != len(inputs):
        raise ValueError(
            f"diversity_score: sample_fn returned {samples.shape[1]} outputs for {len(inputs)} inputs; "
            "it must translate every input once per call."
        )
    progress = keras.utils.Progbar(len(inputs), verbose=verbose, unit_name="input")
    scores = []
    for i in range(len(inputs)):
        scores.append(mean_pairwise_distance(samples[:, i], distance))
        progress.update(i + 1)
    return float(np.mean(scores))


def multimodal_scores(samples, true_outputs, distance=pixel_l1_distance):
    """Diversity, coverage and fidelity of sampled outputs against each input's true set.

    samples: (N, K, H, W, C), K >= 2 outputs per input (e.g. K random codes); true_outputs:
    (N, T, H, W, C), the T true outputs of each input (synthetic ``all_outputs``); [-1, 1].
    Returns a dict of floats, each averaged over the N inputs:

    - ``diversity``: mean pairwise distance of the K samples (0 for a deterministic model);
    - ``true_diversity``: the same of the T true outputs; ``relative_diversity`` the ratio;
    - ``coverage``: the share of the T true outputs that are the nearest true output of at
      least one sample (1/T for a model that always gives one of them);
    - ``fidelity``: the mean distance from each sample to its nearest true output (0 when every
      sample is a true output; a grey mean of the true outputs scores high).
    """
    samples, true_outputs = np.asarray(samples), np.asarray(true_outputs)
    if samples.ndim != 5 or true_outputs.ndim != 5 or samples.shape[0] != true_outputs.shape[0]:
        raise ValueError(
            f"multimodal_scores: samples {samples.shape} and true_outputs {true_outputs.shape} must be "
            "(N, K, H, W, C) and (N, T, H, W, C) for the same N inputs."
        )
    if samples.shape[2:] != true_outputs.shape[2:]:
        raise ValueError(f"multimodal_scores: image shapes differ, {samples.shape[2:]} vs {true_outputs.shape[2:]}.")
    k, t = samples.shape[1], true_outputs.shape[1]
    diversity, true_diversity, coverage, fidelity = [], [], [], []
    for outs, truth in zip(samples, true_outputs, strict=True):
        diversity.append(mean_pairwise_distance(outs, distance))
        true_diversity.append(mean_pairwise_distance(truth, distance) if t > 1 else 0.0)
        d = distance(np.repeat(outs, t, axis=0), np.tile(truth, (k, 1, 1, 1))).reshape(k, t)
        coverage.append(len(set(d.argmin(axis=1).tolist())) / t)
        fidelity.append(float(d.min(axis=1).mean()))
    scores = {
        "diversity": float(np.mean(diversity)),
        "true_diversity": float(np.mean(true_diversity)),
        "coverage": float(np.mean(coverage)),
        "fidelity": float(np.mean(fidelity)),
    }
    scores["relative_diversity"] = scores["diversity"] / scores["true_diversity"] if scores["true_diversity"] else 0.0
    return scores
