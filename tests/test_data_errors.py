"""Bad input gets an error that names the file or argument, says what was wrong and how to fix it."""

import numpy as np
import pytest
from PIL import Image

from i2ilab.data import DataError
from i2ilab.data.loaders import colorization_dataset, paired_dataset, unpaired_dataset


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _good_pairs(folder, n, h=32, w=64):
    rng = np.random.default_rng(0)
    for i in range(n):
        _save(folder / f"{i:03d}.png", rng.integers(0, 256, (h, w, 3)))


def test_image_smaller_than_the_crop(tmp_path):
    _good_pairs(tmp_path / "train", 2)
    _save(tmp_path / "train" / "small.png", np.zeros((20, 40, 3)))
    with pytest.raises(
        DataError,
        match=r"small\.png: image is 40x20 \(each half 20x20\).*32x32 crop.*load_size=36.*image_size.*skip_bad",
    ):
        paired_dataset(tmp_path, image_size=32, load_size=None)
    # Resizing first (the default) makes the same file usable.
    a, b = next(iter(paired_dataset(tmp_path, image_size=32, load_size=36, batch_size=3, shuffle=False)))
    assert a.shape == (3, 32, 32, 3)


def test_corrupt_file_is_named_and_skip_bad_counts(tmp_path):
    _good_pairs(tmp_path / "train", 3)
    (tmp_path / "train" / "bad.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "train" / "notes.txt").write_text("ignored: not an image extension")
    with pytest.raises(DataError, match=r"bad\.jpg: not a readable image.*skip_bad=True"):
        paired_dataset(tmp_path, image_size=32, load_size=36)
    with pytest.warns(UserWarning, match=r"skipped 1 of 4 files.*1 unreadable \(bad\.jpg\)"):
        ds = paired_dataset(tmp_path, image_size=32, load_size=36, batch_size=8, skip_bad=True)
    ((a, b),) = list(ds)
    assert a.shape[0] == 3


def test_truncated_png_is_detected(tmp_path):
    _good_pairs(tmp_path / "train", 2)
    whole = (tmp_path / "train" / "001.png").read_bytes()
    (tmp_path / "train" / "001.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"001\.png: truncated PNG"):
        paired_dataset(tmp_path, image_size=32, load_size=36)


def test_truncated_jpeg_is_detected(tmp_path):
    folder = tmp_path / "trainA"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / "a.jpg")
    whole = (folder / "a.jpg").read_bytes()
    (folder / "b.jpg").write_bytes(whole[: len(whole) - 100])
    _save(tmp_path / "trainB" / "x.png", np.zeros((32, 32, 3)))
    with pytest.raises(DataError, match=r"b\.jpg: truncated JPEG"):
        unpaired_dataset(tmp_path, image_size=32, load_size=36)


def test_missing_and_empty_split_folders(tmp_path):
    _good_pairs(tmp_path / "train", 1)
    with pytest.raises(FileNotFoundError, match=r"split 'val': folder .*val not found.*Folders present.*\['train'\]"):
        paired_dataset(tmp_path, split="val")
    with pytest.raises(DataError, match="not found"):  # also a DataError, like every bad-input case
        unpaired_dataset(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(DataError, match=r"empty holds no images.*readme\.md"):
        colorization_dataset(tmp_path, split="empty")
    (tmp_path / "trainA").mkdir()
    with pytest.raises(DataError, match=r"trainA holds no images"):
        unpaired_dataset(tmp_path)


def test_odd_width_pair(tmp_path):
    _good_pairs(tmp_path / "train", 1)
    _save(tmp_path / "train" / "odd.png", np.zeros((32, 65, 3)))
    with pytest.raises(DataError, match=r"odd\.png: width 65 is odd.*A\|B"):
        paired_dataset(tmp_path, image_size=32, load_size=36)


def test_bad_arguments(tmp_path):
    _good_pairs(tmp_path / "train", 1)
    with pytest.raises(ValueError, match="load_size=24 is smaller than image_size=32"):
        paired_dataset(tmp_path, image_size=32, load_size=24)
    with pytest.raises(ValueError, match="direction"):
        paired_dataset(tmp_path, direction="AB")
    with pytest.raises(ValueError, match="batch_size"):
        paired_dataset(tmp_path, batch_size=0)


def test_load_size_far_above_image_size_warns(tmp_path):
    _good_pairs(tmp_path / "train", 1)
    # 32 px images loaded at 286 px are upscaled too, which has its own warning.
    with pytest.warns(UserWarning, match="much smaller than the 286x286 .* upscaled and blurry"):
        with pytest.warns(UserWarning, match=r"load_size=286 is much larger than image_size=32.*load_size=36"):
            paired_dataset(tmp_path, image_size=32)
