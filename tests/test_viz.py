"""Tests of i2ilab.viz: uint8 conversion, grid layout, loss plots, notebook display."""

import csv

import numpy as np
import pytest
from PIL import Image

from i2ilab import viz


def test_to_uint8_values_and_channels():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 1.7, -3.0], np.float32).reshape(1, 1, 7, 1)
    out = viz.to_uint8(x)
    assert out.shape == (1, 1, 7, 3) and out.dtype == np.uint8
    expected = np.clip(np.rint((x[0, 0, :, 0] + 1) * 127.5), 0, 255)
    np.testing.assert_array_equal(out[0, 0, :, 0], expected)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])  # grey repeated
    rgba = np.zeros((2, 3, 4, 4), np.float32)
    assert viz.to_uint8(rgba).shape == (2, 3, 4, 3)
    with pytest.raises(ValueError, match="6 channels"):
        viz.to_uint8(np.zeros((1, 4, 4, 6)))


def test_two_channels_are_lab_chroma_at_mid_lightness():
    skcolor = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    ab = rng.uniform(-0.6, 0.6, (2, 5, 5, 2)).astype(np.float32)
    lab = np.concatenate([np.full((2, 5, 5, 1), 50.0), ab * 110.0], -1)
    ref = np.clip(np.rint(skcolor.lab2rgb(lab) * 255), 0, 255)
    got = viz.to_uint8(ab).astype(np.float64)
    assert np.abs(got - ref).max() <= 1
    # zero chroma is neutral grey
    grey = viz.to_uint8(np.zeros((1, 2, 2, 2)))
    assert np.ptp(grey) == 0 and 100 < grey[0, 0, 0, 0] < 140


def test_image_grid_layout_places_every_cell():
    rng = np.random.default_rng(1)
    cols = {
        "input": rng.uniform(-1, 1, (5, 8, 6, 3)),
        "gray": rng.uniform(-1, 1, (5, 8, 6, 1)),
        "output": rng.uniform(-1, 1, (5, 8, 6, 3)),
    }
    pad, scale = 2, 3
    grid = viz.image_grid(cols, max_rows=4, scale=scale, titles=False, pad=pad)
    ch, cw = 8 * scale, 6 * scale
    assert grid.shape == (pad + 4 * (ch + pad), pad + 3 * (cw + pad), 3)
    for c, a in enumerate(cols.values()):
        u = viz.to_uint8(a)
        for r in range(4):
            y0, x0 = pad + r * (ch + pad), pad + c * (cw + pad)
            cell = grid[y0 : y0 + ch, x0 : x0 + cw]
            np.testing.assert_array_equal(cell[::scale, ::scale], u[r])
            np.testing.assert_array_equal(cell[scale - 1 :: scale, scale - 1 :: scale], u[r])
    # padding stays white
    assert (grid[:pad] == 255).all() and (grid[:, :pad] == 255).all()


def test_image_grid_titles_and_autoscale():
    cols = {"input": np.zeros((2, 32, 32, 3)), "target": np.zeros((2, 32, 32, 3))}
    grid = viz.image_grid(cols)
    scale = int(np.ceil(viz.MIN_CELL_WIDTH / 32))
    cw = 32 * scale
    top = grid.shape[0] - (2 + 2 * (cw + 2))
    assert top > 8
    strip = grid[:top]
    for c in range(2):
        x0 = 2 + c * (cw + 2)
        assert (strip[:, x0 : x0 + cw] < 128).any(), "column title not drawn"
    # images of value 0 become grey 128 (rint(127.5) rounds to even)
    assert (grid[top + 2 : top + 2 + cw, 2 : 2 + cw] == 128).all()
    with pytest.raises(ValueError, match="at least one column"):
        viz.image_grid({})


def test_image_grid_accepts_backend_tensors():
    import keras

    x = keras.ops.ones((2, 4, 4, 3)) * 0.5
    grid = viz.image_grid({"x": x}, titles=False, pad=0)
    assert grid.shape == (8, 4, 3) and (grid == 191).all()


def test_save_grid_roundtrip(tmp_path):
    cols = {"a": np.linspace(-1, 1, 2 * 4 * 4 * 3).reshape(2, 4, 4, 3)}
    path = viz.save_grid(cols, tmp_path / "sub" / "g.png", titles=False)
    back = np.asarray(Image.open(path))
    np.testing.assert_array_equal(back, viz.image_grid(cols, titles=False))


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_plot_losses_from_csv_history_and_dict(tmp_path):
    rows = [{"epoch": e, "G_L1": 1.0 / (e + 1), "D_real": 0.7, "lr": 2e-4} for e in range(4)]
    _write_csv(tmp_path / "log.csv", rows)
    fig = viz.plot_losses(tmp_path / "log.csv", path=tmp_path / "plot.png")
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["G_L1", "D_real", "lr"]
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose(x, [1, 2, 3, 4])
    np.testing.assert_allclose(y, [1, 1 / 2, 1 / 3, 1 / 4])
    png = np.asarray(Image.open(tmp_path / "plot.png"))
    assert png.shape[0] > 100 and png.shape[1] > 300

    class FakeHistory:
        history = {"loss": [3.0, 2.0, float("nan")]}
        epoch = [2, 3, 4]

    fig = viz.plot_losses(FakeHistory())
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose(x, [3, 4, 5])
    assert np.isnan(y[2])
    fig = viz.plot_losses({"a": [1, 2], "b": [3, 4]}, keys=["b"])
    assert [ax.get_title() for ax in fig.axes] == ["b"]
    with pytest.raises(KeyError, match="nope"):
        viz.plot_losses({"a": [1]}, keys=["nope"])
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        viz.plot_losses(tmp_path / "missing.csv")


def test_show_does_nothing_outside_notebook_and_displays_png_inside(monkeypatch):
    grid = np.zeros((4, 4, 3), np.uint8)
    assert viz.in_notebook() is False
    assert viz.show(grid) is False
    shown = []
    import IPython.display

    monkeypatch.setattr(viz, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    assert viz.show(grid) is True
    assert shown[0].data[:8] == b"\x89PNG\r\n\x1a\n"
    viz.show(viz.plot_losses({"a": [1.0, 2.0]}))
    assert shown[1].data[:8] == b"\x89PNG\r\n\x1a\n"
