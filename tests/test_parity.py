"""The i2ilab networks compute the reference PyTorch networks' numbers (tests/fixtures/parity).

Each fixture holds a reference state_dict, an input and the outputs the reference code computed
(README.md there). The state dict goes through ``i2ilab.convert`` (so the key mapping is tested
too), activations are NCHW -> NHWC. Tolerance as the fixture README:
max|keras - ref| <= 1e-5 * max(1, max|ref|); MUNIT's content code (|x| up to 7.5) gets 1e-4
absolute. The full-size checkpoint key listings (real_keys) must map onto the full-size models.
"""

import json

import keras
import numpy as np
import pytest
from conftest import PARITY_DIR, load_parity

from i2ilab import convert as cv
from i2ilab import models

RTOL = 1e-5


def nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


def npy(x):
    return keras.ops.convert_to_numpy(x)


def assert_matches(actual, reference, tol=RTOL, atol=None):
    """max|actual - reference| <= tol * max(1, max|reference|) (or <= atol when given)."""
    actual, reference = npy(actual), np.asarray(reference)
    assert actual.shape == reference.shape
    err = float(np.abs(actual - reference).max())
    bound = atol if atol is not None else tol * max(1.0, float(np.abs(reference).max()))
    assert err <= bound, f"max abs error {err:.3g} > {bound:.3g}"


def fixture_model(name, model_type, **kwargs):
    """The converted fixture network, at the fixture's input size."""
    size = load_parity(f"{name}.npz")["input"].shape[-1]
    return cv.convert(PARITY_DIR / f"{name}.npz", model_type, image_size=size, **kwargs)


def assert_running_stats(model, ref):
    """BatchNorm moving statistics after one training forward = torch's running stats
    (momentum 0.1; running_var from the unbiased batch variance)."""
    by_key = cv.torch_key_map(model).by_key()
    keys = [k[len("after_train_forward/") :] for k in ref if k.startswith("after_train_forward/")]
    stats = [k for k in keys if k.endswith(("running_mean", "running_var"))]
    assert stats
    for key in stats:
        expected = ref[f"after_train_forward/{key}"]
        before = ref[f"state_dict/{key}"]
        assert np.abs(expected - before).max() > 1e-4  # the forward pass did move them
        np.testing.assert_allclose(npy(by_key[key].variable), expected, rtol=1e-6, atol=1e-6, err_msg=key)


UNET = dict(ngf=8, num_downs=5, dropout=False)


def test_unet_train_mode_output_and_running_stats():
    ref = load_parity("unet.npz")
    model = fixture_model("unet", "unet", **UNET)
    assert_matches(model(nhwc(ref["input"]), training=True), nhwc(ref["output/y"]))
    assert_running_stats(model, ref)


def test_unet_eval_mode_uses_mapped_running_stats():
    ref = load_parity("unet.npz")
    model = fixture_model("unet", "unet", **UNET)
    assert_matches(model(nhwc(ref["input"]), training=False), nhwc(ref["output_eval/y"]))


def test_patchgan_batchnorm_train_and_eval():
    ref = load_parity("patchgan.npz")
    x = nhwc(ref["input"])
    model = fixture_model("patchgan", "patchgan", in_channels=6, ndf=8)
    assert_matches(model(x, training=False), nhwc(ref["output_eval/y"]))
    assert_matches(model(x, training=True), nhwc(ref["output/y"]))
    assert_running_stats(model, ref)


def test_patchgan_instance_norm():
    ref = load_parity("patchgan_in.npz")
    model = fixture_model("patchgan_in", "patchgan", in_channels=3, ndf=8, norm="instance")
    assert model.output_shape == (None, 6, 6, 1)
    assert_matches(model(nhwc(ref["input"]), training=True), nhwc(ref["output/y"]))


def test_resnet_generator():
    ref = load_parity("resnet.npz")
    model = fixture_model("resnet", "resnet_6blocks", ngf=8)
    assert_matches(model(nhwc(ref["input"]), training=True), nhwc(ref["output/y"]))


def test_munit_generator_encode_and_decode():
    ref = load_parity("munit_gen.npz")
    model = fixture_model("munit_gen", "munit", dim=8, mlp_dim=16)
    content, style = model.encode(nhwc(ref["input"]))
    assert_matches(content, nhwc(ref["output/content"]), atol=1e-4)
    assert float(np.abs(ref["output/content"]).max()) > 5  # why content gets an absolute atol
    assert_matches(style, ref["output/style"][:, :, 0, 0])
    random_style = keras.ops.convert_to_tensor(ref["input_style"][:, :, 0, 0])
    assert_matches(model.decode(content, random_style), nhwc(ref["output/decode_random_style"]))
    assert_matches(model.decode(content, style), nhwc(ref["output/decode_own_style"]))


def test_munit_multiscale_discriminator():
    ref = load_parity("munit_dis.npz")
    model = fixture_model("munit_dis", "munit_dis", dim=8)
    outputs = model(nhwc(ref["input"]), training=True)
    assert len(outputs) == 3
    for s, out in enumerate(outputs):
        assert_matches(out, nhwc(ref[f"output/scale{s}"]))


def test_pth_file_loads_with_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install 'i2ilab[torch]')")
    assert torch.__version__
    ref = load_parity("unet.npz")
    state = cv.load_state_dict(PARITY_DIR / "unet_small.pth")
    npz_state = {k[len("state_dict/") :]: v for k, v in ref.items() if k.startswith("state_dict/")}
    assert list(state) == list(npz_state)
    for key, value in npz_state.items():
        np.testing.assert_array_equal(state[key], value)
    model = cv.convert(PARITY_DIR / "unet_small.pth", "unet", image_size=None, **UNET)
    assert_matches(model(nhwc(ref["input"]), training=True), nhwc(ref["output/y"]))


# --- full-size key listings -------------------------------------------------------------


def shape_only(keys):
    """{name: zero-stride array of the listed shape}: shapes without allocating tensors."""
    return {name: np.broadcast_to(np.zeros((), dtype), tuple(shape)) for name, shape, dtype in keys}


def real_keys(file):
    return json.loads(str(load_parity(file)["real_keys"]))


def assert_complete_mapping(model, state):
    keymap = cv.torch_key_map(model)
    assert cv.find_mismatches(keymap, state) == []
    mapped = {e.key for e in keymap.entries}
    skipped = set(state) - mapped
    assert skipped <= keymap.skippable
    assert len(mapped) == len(keymap.entries) == len(model.weights)
    n_values = sum(int(np.prod(np.shape(state[k]))) for k in mapped)
    assert n_values == sum(int(np.prod(w.shape)) for w in model.weights)
    return skipped


@pytest.fixture(scope="module")
def full_size():
    """unet_256, resnet_9blocks and the MUNIT edges2shoes generator, variables not initialised.

    Only shapes are compared, so the 81M random initial values are never drawn (that takes
    longer than everything else here on JAX): the models are built in a StatelessScope that
    leaves initialisation pending, and the pending list is dropped afterwards.
    """
    with keras.StatelessScope(initialize_variables=False):
        nets = dict(
            unet_256=models.unet_generator(),
            resnet_9blocks=models.resnet_generator(image_size=None),
            munit=models.munit_generator(image_size=None),
        )
    keras.utils.clear_session()  # forgets the pending initialisations
    return nets


def test_unet_256_real_keys_map_completely(full_size):
    listing = real_keys("unet_256_keys.npz")
    state = shape_only(listing["keys"])
    assert len(state) == 82
    skipped = assert_complete_mapping(full_size["unet_256"], state)
    assert skipped == {k for k in state if k.endswith("num_batches_tracked")}
    assert len(skipped) == 13  # one per BatchNorm
    assert sum(int(np.prod(w.shape)) for w in full_size["unet_256"].trainable_weights) == 54_413_955
    assert cv.infer_model_args(state, "unet_256") == dict(
        in_channels=3, out_channels=3, ngf=64, num_downs=8, norm="batch"
    )


def test_resnet_9blocks_real_keys_map_completely(full_size):
    state = shape_only(real_keys("resnet.npz")["keys"])
    assert len(state) == 48
    assert assert_complete_mapping(full_size["resnet_9blocks"], state) == set()


def test_munit_edges2shoes_real_keys_map_completely(full_size):
    listing = real_keys("munit_gen.npz")["keys"]
    for domain in ("a", "b"):
        state = shape_only(listing[domain])
        skipped = assert_complete_mapping(full_size["munit"], state)
        # only the AdaIN layers' dummy running buffers: 4 blocks x 2 AdaIN x 2 buffers
        assert len(skipped) == 16
        assert all(k.startswith("dec.model.0.") and ".norm.running_" in k for k in skipped)
