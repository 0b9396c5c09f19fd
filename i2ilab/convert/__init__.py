"""Load the official PyTorch pix2pix, CycleGAN and MUNIT weights into i2ilab's Keras networks.

The i2ilab networks compute the same numbers as the references (``tests/test_parity.py``), so a
reference checkpoint only needs its tensors renamed and transposed:

    from i2ilab import convert
    g = convert.convert("latest_net_G.pth", "unet_256")        # pix2pix facades_label2photo
    g = convert.convert("horse2zebra.pth", "resnet_9blocks")   # CycleGAN
    g_b = convert.convert("edges2shoes.pt", "munit", domain="b")
    convert.save(g, "facades.keras")

or ``i2ilab convert --from-pytorch FILE --model unet_256 --out facades.keras``. Every key of the
checkpoint must be used exactly once and every shape must match; otherwise
``CheckpointMismatchError`` names the first mismatching key. ``.pth`` / ``.pt`` files are read
with ``torch.load(weights_only=True)`` (``pip install 'i2ilab[torch]'``); ``.npz`` state dicts
need no torch. CHECKPOINTS.md in this folder lists the official checkpoints and their arguments.
"""

from i2ilab.convert.command import add_convert_parser, main, run_convert
from i2ilab.convert.core import (
    MODEL_TYPES,
    CheckpointMismatchError,
    build_model,
    check_state_dict,
    convert,
    find_mismatches,
    infer_model_args,
    load_weights,
    save,
)
from i2ilab.convert.io import load_state_dict
from i2ilab.convert.keymap import Entry, KeyMap, model_family, torch_key_map

__all__ = [
    "MODEL_TYPES",
    "CheckpointMismatchError",
    "Entry",
    "KeyMap",
    "add_convert_parser",
    "build_model",
    "check_state_dict",
    "convert",
    "find_mismatches",
    "infer_model_args",
    "load_state_dict",
    "load_weights",
    "main",
    "model_family",
    "run_convert",
    "save",
    "torch_key_map",
]
