"""tf.data loaders read the real on-disk formats: shapes, ranges, identical A/B jitter, shuffling, Lab."""

import numpy as np
import pytest
from PIL import Image

from i2ilab.data import synthetic
from i2ilab.data.loaders import colorization_dataset, paired_dataset, tfds_unpaired, unpaired_dataset

N_TRAIN, N_TEST, SIZE = 12, 5, 32


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    base = tmp_path_factory.mktemp("synthetic")
    return {
        name: synthetic.write_synthetic(name, base / name, n_train=N_TRAIN, n_test=N_TEST, image_size=SIZE, seed=5)
        for name in ("labels2photo", "day2night", "colors")
    }


def _epoch(ds):
    return [tuple(np.asarray(t) for t in batch) for batch in ds]


def _first(ds):
    return tuple(np.asarray(t) for t in next(iter(ds)))


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _coords(h, w):
    """R = 4 x, G = 4 y: every pixel tells where it came from."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([4 * x, 4 * y, np.full_like(x, 100)], axis=-1).astype(np.uint8)


def _u8(x):
    return np.round((np.asarray(x) + 1) * 127.5).astype(np.int32)


def test_paired_no_jitter_reads_back_the_written_pairs(synth):
    ds = paired_dataset(synth["labels2photo"], "test", image_size=SIZE, jitter=False, batch_size=2, shuffle=False)
    batches = _epoch(ds)
    assert [b[0].shape for b in batches] == [(2, SIZE, SIZE, 3)] * 2 + [(1, SIZE, SIZE, 3)]
    a = np.concatenate([b[0] for b in batches])
    b = np.concatenate([b[1] for b in batches])
    assert a.dtype == np.float32
    g = synthetic.generate("labels2photo", N_TEST, image_size=SIZE, seed=5, split="test")
    np.testing.assert_allclose(a, g["A"], atol=1e-6)
    np.testing.assert_allclose(b, g["B"], atol=1e-6)
    ds = paired_dataset(synth["labels2photo"], "test", "BtoA", image_size=SIZE, jitter=False, shuffle=False)
    first = _first(ds)
    np.testing.assert_allclose(first[0][0], g["B"][0], atol=1e-6)


def test_paired_jitter_crops_and_flips_a_and_b_identically(tmp_path):
    base = _coords(48, 48)
    for i in range(8):
        _save(tmp_path / "train" / f"{i}.png", np.concatenate([base, 255 - base], axis=1))
    ds = paired_dataset(tmp_path, image_size=32, load_size=None, batch_size=4, seed=0)
    flips, offsets = [], set()
    for _ in range(4):  # four epochs, 32 crops
        for a, b in _epoch(ds):
            np.testing.assert_allclose(b, -a, atol=1e-6)  # B is 255 - A: same crop and flip
            for img in _u8(a):
                flipped = img[0, 0, 0] > img[0, -1, 0]
                oy, ox = img[0, 0, 1] // 4, (img[0, -1, 0] if flipped else img[0, 0, 0]) // 4
                expect = base[oy : oy + 32, ox : ox + 32]
                np.testing.assert_array_equal(img, expect[:, ::-1] if flipped else expect)
                flips.append(flipped)
                offsets.add((oy, ox))
    assert 0.25 < np.mean(flips) < 0.75
    assert len(offsets) > 15 and all(0 <= o <= 16 for pair in offsets for o in pair)


def test_paired_resize_then_crop_keeps_a_and_b_aligned(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        img = rng.integers(0, 256, (40, 40, 3))
        _save(tmp_path / "train" / f"{i}.png", np.concatenate([img, img], axis=1))
    for a, b in _epoch(paired_dataset(tmp_path, image_size=32, load_size=36, batch_size=2, seed=1)):
        assert a.shape == (2, 32, 32, 3) and -1 <= a.min() and a.max() <= 1
        np.testing.assert_array_equal(a, b)


def test_bicubic_resize_matches_pil(tmp_path):
    y, x = np.mgrid[0:64, 0:64] / 64.0
    smooth = np.stack([128 + 100 * np.sin(5 * x + 2 * y), 128 + 90 * np.cos(4 * y), 255 * x * y], -1)
    smooth = np.round(smooth).astype(np.uint8)
    _save(tmp_path / "train" / "0.png", np.concatenate([smooth, smooth[::-1]], axis=1))
    for size in (32, 48, 96):
        a, b = _first(paired_dataset(tmp_path, image_size=size, jitter=False, shuffle=False))
        for got, half in ((a, smooth), (b, smooth[::-1])):
            ref = np.asarray(Image.fromarray(half).resize((size, size), Image.BICUBIC)).astype(np.int32)
            diff = np.abs(_u8(got[0]) - ref)
            assert diff.max() <= 2 and diff.mean() < 0.3, (size, diff.max(), diff.mean())


def test_seed_makes_epochs_reproducible_and_different(synth):
    def make():
        return paired_dataset(synth["labels2photo"], image_size=24, load_size=32, batch_size=4, seed=7)

    first, second = make(), make()
    e1, e2 = _epoch(first), _epoch(first)
    for (x1, y1), (x2, y2) in zip(e1, _epoch(second), strict=False):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(e1, e2, strict=False))  # new order and crops each epoch
    assert sum(b[0].shape[0] for b in e1) == N_TRAIN


def test_unpaired_shuffles_a_and_b_independently(tmp_path):
    for i in range(8):
        _save(tmp_path / "trainA" / f"{i}.png", np.full((16, 16, 3), 20 * i))
    for j in range(5):
        _save(tmp_path / "trainB" / f"{j}.png", np.full((16, 16, 3), 20 * j + 10))
    ds = unpaired_dataset(tmp_path, image_size=16, jitter=False, batch_size=1, seed=3)
    epochs = []
    for _ in range(4):
        pairs = [(int(_u8(a)[0, 0, 0, 0]) // 20, int(_u8(b)[0, 0, 0, 0]) // 20) for a, b in _epoch(ds)]
        assert len(pairs) == 8  # max(len A, len B) pairs per epoch
        assert sorted(p[0] for p in pairs) == list(range(8))
        assert sorted(p[1] for p in pairs[:5]) == list(range(5))  # B: a permutation, then repeats
        epochs.append(pairs)
    assert len({tuple(p[0] for p in e) for e in epochs}) > 1  # A order changes per epoch
    assert len({tuple(e) for e in epochs}) == 4  # so does the pairing
    assert len({pair for e in epochs for pair in e}) > 15
    ordered = _epoch(unpaired_dataset(tmp_path, image_size=16, jitter=False, shuffle=False))
    assert [(int(_u8(a)[0, 0, 0, 0]) // 20, int(_u8(b)[0, 0, 0, 0]) // 20) for a, b in ordered] == [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 0),
        (6, 1),
        (7, 2),
    ]


def test_unpaired_reads_the_synthetic_domains(synth):
    batches = _epoch(
        unpaired_dataset(synth["day2night"], "test", image_size=SIZE, jitter=False, batch_size=N_TEST, shuffle=False)
    )
    ((a, b),) = batches
    np.testing.assert_allclose(a, synthetic.load_images(synth["day2night"], "testA"), atol=1e-6)
    np.testing.assert_allclose(b, synthetic.load_images(synth["day2night"], "testB"), atol=1e-6)
    a, b = _first(unpaired_dataset(synth["day2night"], image_size=16, load_size=20, batch_size=3, seed=0))
    assert a.shape == b.shape == (3, 16, 16, 3)
    assert a.min() >= -1 and a.max() <= 1


def test_colorization_matches_skimage_lab(synth):
    skcolor = pytest.importorskip("skimage.color")
    ds = colorization_dataset(synth["colors"], "test", image_size=SIZE, jitter=False, batch_size=N_TEST, shuffle=False)
    ((l_scaled, ab_scaled),) = _epoch(ds)
    assert l_scaled.shape == (N_TEST, SIZE, SIZE, 1) and ab_scaled.shape == (N_TEST, SIZE, SIZE, 2)
    rgb = (synthetic.load_images(synth["colors"], "test") + 1) / 2
    lab = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(l_scaled[..., 0], lab[..., 0] / 50 - 1, atol=1e-4)
    np.testing.assert_allclose(ab_scaled, lab[..., 1:] / 110, atol=1e-4)
    l_j, ab_j = _first(colorization_dataset(synth["colors"], image_size=16, load_size=24, batch_size=4, seed=0))
    assert l_j.shape == (4, 16, 16, 1) and -1 <= l_j.min() and l_j.max() <= 1
    assert np.abs(ab_j).max() <= 1


def test_tfds_unpaired_uses_tfds_without_downloading(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    calls = []
    real_load = tfds.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(tfds, "load", recording_load)
    with tfds.testing.mock_data(num_examples=6):
        ds = tfds_unpaired("cycle_gan/horse2zebra", image_size=16, load_size=20, batch_size=2, seed=0)
        batches = _epoch(ds)
    assert [c["split"] for c in calls] == ["trainA", "trainB"]
    assert all(c["download"] is False for c in calls)
    assert len(batches) == 3
    for a, b in batches:
        assert a.shape == b.shape == (2, 16, 16, 3) and a.dtype == np.float32
        assert -1 <= a.min() and a.max() <= 1


def test_tfds_unpaired_missing_dataset_explains_the_fix(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    from i2ilab.data import DataError

    def missing(*args, **kwargs):
        raise AssertionError("Dataset cycle_gan/horse2zebra: could not find data in /nowhere.")

    monkeypatch.setattr(tfds, "load", missing)
    with pytest.raises(DataError, match="download=True.*unpaired_dataset"):
        tfds_unpaired(data_dir="/nowhere")
