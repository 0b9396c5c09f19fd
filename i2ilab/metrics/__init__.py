"""Metrics of the image-to-image translation papers.

- segmentation: FCN-score (pix2pix section 4.2) with a small trainable segmenter, confusion-matrix
  scores, colour-coded label maps -> integer classes.
- fid_kid: FID and KID on features of a pluggable keras.Model (Inception-v3 from a local weights file).
- diversity: mean pairwise distance of several outputs for one input (MUNIT's LPIPS protocol);
  coverage and fidelity against a known set of true outputs.
- color: colourfulness, saturation histogram, Lab chroma (colorization lab).
- image: PSNR and SSIM in keras.ops; counterpart retrieval and translation error (NumPy) on sets
  with known true counterparts.
No function here downloads anything; missing weight files raise FileNotFoundError saying how to get them.
"""

from i2ilab.metrics.color import colorfulness, mean_chroma, saturation, saturation_histogram, srgb_to_lab
from i2ilab.metrics.diversity import (
    diversity_score,
    feature_distance,
    mean_pairwise_distance,
    multimodal_scores,
    pixel_l1_distance,
    vgg16_feature_model,
)
from i2ilab.metrics.fid_kid import (
    extract_features,
    feature_statistics,
    fid,
    fid_from_features,
    frechet_distance,
    inception_feature_model,
    kid,
    kid_from_features,
    mmd2_unbiased,
)
from i2ilab.metrics.image import counterpart_retrieval, psnr, ssim, translation_error
from i2ilab.metrics.segmentation import (
    colors_to_labels,
    confusion_matrix,
    estimate_palette,
    fcn_score,
    predict_labels,
    segmentation_scores,
    segmenter,
    train_segmenter,
)

__all__ = [
    "colorfulness",
    "mean_chroma",
    "saturation",
    "saturation_histogram",
    "srgb_to_lab",
    "diversity_score",
    "feature_distance",
    "mean_pairwise_distance",
    "multimodal_scores",
    "pixel_l1_distance",
    "vgg16_feature_model",
    "extract_features",
    "feature_statistics",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "inception_feature_model",
    "kid",
    "kid_from_features",
    "mmd2_unbiased",
    "counterpart_retrieval",
    "psnr",
    "ssim",
    "translation_error",
    "colors_to_labels",
    "confusion_matrix",
    "estimate_palette",
    "fcn_score",
    "predict_labels",
    "segmentation_scores",
    "segmenter",
    "train_segmenter",
]
