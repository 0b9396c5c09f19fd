"""Synthetic datasets: determinism, on-disk layout, cache root, and the lessons they must carry."""

import json
import threading

import numpy as np
import pytest

from i2ilab.color import rgb_to_lab_np
from i2ilab.data import synthetic


def _u8(x):
    return np.round((x + 1) * 127.5).astype(np.int32)


@pytest.mark.parametrize("name", synthetic.NAMES)
def test_generate_is_deterministic_and_well_formed(name):
    a = synthetic.generate(name, 6, image_size=16, seed=3)
    b = synthetic.generate(name, 6, image_size=16, seed=3)
    c = synthetic.generate(name, 6, image_size=16, seed=4)
    image_key = "rgb" if name == "colors" else "B"
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a[image_key], c[image_key])
    img = a[image_key]
    assert img.shape == (6, 16, 16, 3) and img.dtype == np.float32
    assert img.min() >= -1.0 and img.max() <= 1.0
    assert a["labels"].shape == (6, 16, 16)
    # The first samples do not depend on how many are drawn.
    np.testing.assert_array_equal(synthetic.generate(name, 2, image_size=16, seed=3)[image_key], img[:2])


@pytest.mark.parametrize("size", [48, 512])
def test_other_sizes(size):
    for name in synthetic.NAMES:
        out = synthetic.generate(name, 1, image_size=size, seed=0)
        assert out["labels"].shape == (1, size, size)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown synthetic dataset"):
        synthetic.generate("zebras", 1)
    with pytest.raises(ValueError, match="image_size"):
        synthetic.generate("colors", 1, image_size=8)


def test_colors_ambiguous_hues_at_equal_lightness():
    g = synthetic.generate("colors", 96, image_size=32, seed=0)
    lab = rgb_to_lab_np((g["rgb"] + 1) / 2)
    labels = g["labels"]
    for cls, hues in synthetic.COLOR_HUES.items():
        pix = lab[labels == cls]
        angle = np.degrees(np.arctan2(pix[:, 2], pix[:, 1])) % 360
        diff = np.abs((angle[:, None] - np.array(hues)[None, :] + 180) % 360 - 180)
        nearest = diff.argmin(axis=1)
        assert np.median(diff.min(axis=1)) < 5.0
        shares = np.bincount(nearest, minlength=len(hues)) / len(nearest)
        if len(hues) > 1:
            # Every hue really occurs, and lightness does not tell which one it is.
            assert shares.min() > 0.15, shares
            mean_l = [pix[nearest == k, 0].mean() for k in range(len(hues))]
            assert np.ptp(mean_l) < 2.0, mean_l
        # What L2 regression converges to given the grey image: the mean ab of the class.
        true_chroma = np.hypot(pix[:, 1], pix[:, 2]).mean()
        mean_chroma = np.hypot(pix[:, 1].mean(), pix[:, 2].mean())
        if len(hues) > 1:
            assert mean_chroma < 0.3 * true_chroma
        else:
            assert mean_chroma > 0.9 * true_chroma


def test_labels2photo_label_map_and_random_phase_textures():
    g = synthetic.generate("labels2photo", 400, image_size=32, seed=0)
    palette = np.asarray(synthetic.PHOTO_LABEL_COLORS)
    np.testing.assert_array_equal(_u8(g["A"]), palette[g["labels"]])
    grey = g["B"].mean(axis=-1)
    pad = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    box = sum(pad[:, i : i + 32, j : j + 32] for i in range(3) for j in range(3)) / 9
    high = grey - box  # the texture band
    lpad = np.pad(g["labels"], ((0, 0), (1, 1), (1, 1)), mode="edge")
    interior = np.all([lpad[:, i : i + 32, j : j + 32] == g["labels"] for i in range(3) for j in range(3)], axis=0)
    for cls in (1, 4):  # wall and road stripes (the large classes)
        mask = (g["labels"] == cls) & interior  # away from class boundaries
        count = mask.sum(0)
        ok = count >= 25
        assert ok.sum() >= 20
        cond_mean = np.where(mask, high, 0).sum(0)[ok] / count[ok]
        energy = (high[mask] ** 2).mean()
        # The label map does not predict the texture: its conditional mean keeps little energy.
        assert (cond_mean**2).mean() < 0.15 * energy, cls
        assert energy > 1e-3
    for cls in (2, 3, 5):  # the small classes carry texture too
        mask = (g["labels"] == cls) & interior
        assert (high[mask] ** 2).mean() > 1e-3


def test_edges_are_object_boundaries_and_colours_vary():
    g = synthetic.generate("edges2objects", 64, image_size=32, seed=0)
    edges = _u8(g["A"])
    assert set(np.unique(edges)) <= {0, 255}
    labels = g["labels"]
    boundary = np.zeros(labels.shape, bool)
    boundary[:, :, :-1] |= labels[:, :, :-1] != labels[:, :, 1:]
    boundary[:, :-1, :] |= labels[:, :-1, :] != labels[:, 1:, :]
    np.testing.assert_array_equal(edges[..., 0] == 0, boundary)
    body_means = np.stack([g["B"][i][labels[i] == 1].mean(0) for i in range(64)])
    assert body_means.std(axis=0).min() > 0.25  # the edges do not fix the colour
    assert np.all(_u8(g["B"])[labels == 0] == 255)  # white background


@pytest.mark.parametrize("name", ["day2night", "day2night_ambiguous"])
def test_day2night_true_counterpart_follows_the_class_palette(name):
    g = synthetic.generate(name, 64, image_size=32, seed=0)
    assert np.abs(g["A"] - g["B"]).mean() > 0.5  # translation is far from the identity
    night = synthetic._AMB_NIGHT if name.endswith("ambiguous") else synthetic._NIGHT
    for cls in range(len(night)):
        mask = g["labels"] == cls
        mask[:, :2] = False  # away from the top of the sky glow
        got = (g["B"][mask] + 1) / 2
        if cls >= 2:  # flat object colours up to brightness (0.9-1.1) and noise
            assert np.abs(np.median(got, axis=0) - night[cls]).max() < 0.1


def test_ambiguous_classes_are_told_apart_only_by_colour():
    g = synthetic.generate("day2night_ambiguous", 300, image_size=32, seed=0)
    area = [(g["labels"] == c).sum() for c in (2, 3)]
    assert abs(area[0] - area[1]) < 0.2 * max(area)
    # The true mapping (red -> cyan, blue -> yellow) is the farther one in RGB: the swap is nearer.
    day, night = synthetic._AMB_DAY, synthetic._AMB_NIGHT
    true_dist = np.abs(day[2] - night[2]).sum() + np.abs(day[3] - night[3]).sum()
    swap_dist = np.abs(day[2] - night[3]).sum() + np.abs(day[3] - night[2]).sum()
    assert swap_dist < true_dist


def test_styles_live_in_large_areas():
    g = synthetic.generate("styles", 64, image_size=32, seed=0)
    assert set(np.unique(g["style"])) == set(range(len(synthetic.STYLE_NAMES)))
    all_styles = g["all_styles"]  # (n, k, S, S, 3)
    np.testing.assert_array_equal(all_styles[np.arange(64), g["style"]], g["B"])
    labels = g["labels"]
    bg = np.stack([all_styles[:, k][labels <= 1].mean(0) for k in range(4)])
    shapes = np.stack([all_styles[:, k][labels >= 2].mean(0) for k in range(4)])
    assert bg.std(axis=0).mean() > 2.5 * shapes.std(axis=0).mean()
    assert (labels <= 1).mean() > 0.6


def test_write_layouts_and_read_back(tmp_path):
    for name in synthetic.NAMES:
        root = synthetic.write_synthetic(name, tmp_path / name, n_train=5, n_test=3, image_size=16, seed=1)
        meta = synthetic.read_meta(root)
        assert meta["name"] == name and meta["image_size"] == 16 and meta["version"] == synthetic.VERSION
        if name in synthetic.UNPAIRED:
            for split, n in (("trainA", 5), ("trainB", 5), ("testA", 3), ("testB", 3)):
                assert len(list((root / split).glob("*.png"))) == n
                assert synthetic.load_labels(root, split).shape == (n, 16, 16)
            g = synthetic.generate(name, 3, image_size=16, seed=1, split="testA")
            np.testing.assert_array_equal(synthetic.load_images(root, "testA"), g["A"])
            if name == "styles":
                np.testing.assert_array_equal(synthetic.load_images(root, "testA_true/style2"), g["all_styles"][:, 2])
                ids = json.loads((root / "styles.json").read_text())
                assert len(ids["trainB"]) == 5 and len(ids["testB"]) == 3
            else:
                np.testing.assert_array_equal(synthetic.load_images(root, "testA_true"), g["B"])
                gb = synthetic.generate(name, 3, image_size=16, seed=1, split="testB")
                np.testing.assert_array_equal(synthetic.load_images(root, "testB_true"), gb["A"])
        else:
            pairs = synthetic.load_images(root, "test")
            g = synthetic.generate(name, 3, image_size=16, seed=1, split="test")
            if name == "colors":
                np.testing.assert_array_equal(pairs, g["rgb"])
            else:
                assert pairs.shape == (3, 16, 32, 3)
                np.testing.assert_array_equal(pairs[:, :, :16], g["A"])
                np.testing.assert_array_equal(pairs[:, :, 16:], g["B"])
            if name != "edges2objects":
                np.testing.assert_array_equal(synthetic.load_labels(root, "test"), g["labels"])


def test_synthetic_root_writes_once_and_is_safe_under_concurrency(tmp_path, monkeypatch):
    monkeypatch.setenv("I2ILAB_CACHE", str(tmp_path / "env_cache"))
    results, errors = [], []

    def worker():
        try:
            results.append(synthetic.synthetic_root("colors", image_size=16, n_train=40, n_test=4, seed=2))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    root = results[0]
    assert root.parent == tmp_path / "env_cache" / "synthetic"
    assert len(list((root / "train").glob("*.png"))) == 40
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no temporary folders left
    stamp = (root / "meta.json").stat().st_mtime_ns
    again = synthetic.synthetic_root(
        "colors", image_size=16, n_train=40, n_test=4, seed=2, cache_dir=tmp_path / "env_cache"
    )
    assert again == root and (root / "meta.json").stat().st_mtime_ns == stamp


def test_command_line(tmp_path, capsys):
    assert (
        synthetic.main(
            ["edges2objects", "--out", str(tmp_path / "e"), "--size", "16", "--n-train", "2", "--n-test", "1"]
        )
        == 0
    )
    assert len(list((tmp_path / "e" / "train").glob("*.png"))) == 2
    assert "written to" in capsys.readouterr().out


def test_edges2palette_leaves_only_the_colour_free_and_writes_the_true_outputs(tmp_path):
    """The edges fix the object; its colour is one of 4, equally likely, and the 4 true outputs
    differ only inside the object, by its colour (the set BicycleGAN's diversity is measured on)."""
    g = synthetic.generate("edges2palette", 200, image_size=32, seed=0)
    outputs, colour = g["all_outputs"], g["colour"]
    assert outputs.shape == (200, 4, 32, 32, 3)
    np.testing.assert_array_equal(outputs[np.arange(200), colour], g["B"])
    shares = np.bincount(colour, minlength=4) / 200
    assert shares.min() > 0.15, shares
    inside = g["labels"] == 1
    spread = outputs.std(axis=1).max(axis=-1)  # (n, S, S): how much the 4 outputs differ per pixel
    assert spread[~inside].max() == 0.0 and spread[inside].min() > 0.1
    # The edges are the object's outline: black on white, on the mask's boundary only.
    dark = g["A"][..., 0] < 0
    assert dark.any(axis=(1, 2)).all() and (dark.mean(axis=(1, 2)) < 0.25).all()
    # Written: A|B pairs, the 4 true outputs of every test image, each image's colour.
    root = synthetic.write_synthetic("edges2palette", tmp_path / "p", n_train=4, n_test=3, image_size=16, seed=1)
    test = synthetic.generate("edges2palette", 3, image_size=16, seed=1, split="test")
    for k in range(4):
        np.testing.assert_array_equal(synthetic.load_images(root, f"test_true/colour{k}"), test["all_outputs"][:, k])
    ids = json.loads((root / "colours.json").read_text())
    assert ids["names"] == list(synthetic.PALETTE_NAMES) and ids["test"] == test["colour"].tolist()
    assert len(ids["train"]) == 4
    assert synthetic.read_meta(root)["format"] == "pix2pix"
