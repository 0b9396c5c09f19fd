"""The lecture demos (course/demos): widget callbacks on tiny models, figures, the notebook.

The demos' logic lives in course/demos/demo_widgets.py and make_figures.py; these tests drive
the same methods the widgets call (and the widgets themselves, through ipywidgets' own
``click()`` / ``value``), on tiny untrained networks, and compare the images with direct NumPy /
network computations. The notebook runs top to bottom headless in smoke mode (notebook marker).
"""

import csv
import io
import json
import pathlib
import shutil
import subprocess
import sys
import time

import course_harness as ch
import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

from i2ilab import cli, models, viz
from i2ilab.data import synthetic

DEMOS = ch.COURSE / "demos"
sys.path.insert(0, str(DEMOS))
import demo_widgets as dw  # noqa: E402
import make_figures as mf  # noqa: E402

SIZE = 32


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _png(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _panel_width(n_images, size=SIZE, display=dw.DISPLAY, pad=2):
    """Width of viz.image_grid's row of n images enlarged to about ``display`` pixels."""
    cell = size * max(1, round(display / size))
    return pad + n_images * (cell + pad)


@pytest.fixture(scope="module")
def unet():
    keras.utils.set_random_seed(0)
    return models.unet_generator(SIZE, ngf=4, name="generator")


@pytest.fixture(scope="module")
def munit_pair():
    keras.utils.set_random_seed(0)
    make = lambda name: models.munit_generator(SIZE, dim=4, n_res=1, mlp_dim=16, name=name)  # noqa: E731
    return make("gen_a"), make("gen_b")


@pytest.fixture(scope="module")
def resnets():
    keras.utils.set_random_seed(0)
    return (
        models.resnet_generator(SIZE, ngf=4, n_blocks=1, name="g_ab"),
        models.resnet_generator(SIZE, ngf=4, n_blocks=1, name="g_ba"),
    )


# ----------------------------------------------------------------------------------- pix2pix
def test_painter_input_is_the_palette_encoding_and_output_the_generator(unet):
    demo = dw.LabelMapDemo(unet)
    labels = synthetic.generate("labels2photo", 1, SIZE, split="test")
    np.testing.assert_array_equal(demo.labels, labels["labels"][0])
    # the painter's input is exactly the synthetic set's A image (palette colours in [-1, 1])
    np.testing.assert_allclose(demo.input_image(), labels["A"][0], atol=1e-6)
    expected = _np(unet(labels["A"][:1], training=False))[0]
    np.testing.assert_allclose(demo.translate(), expected, atol=1e-5)
    image = demo.render()
    assert image.dtype == np.uint8 and image.shape[1] == _panel_width(2)


def test_paint_changes_exactly_the_brushed_cells(unet):
    demo = dw.LabelMapDemo(unet, grid=16)
    demo.fill(0)
    demo.current_class = 5
    demo.paint(3, 4)
    expected = np.zeros((SIZE, SIZE), int)
    expected[6:8, 8:10] = 5  # cell (3, 4) of a 16-cell grid is 2x2 pixels
    np.testing.assert_array_equal(demo.labels, expected)
    demo.brush, demo.current_class = 3, 2
    demo.paint(0, 0)  # a 3x3-cell brush centred on the corner, clipped to cells 0..1
    expected[0:4, 0:4] = 2
    np.testing.assert_array_equal(demo.labels, expected)
    assert demo.cell_color(0, 0) == "#%02x%02x%02x" % tuple(synthetic.PHOTO_LABEL_COLORS[2])


def test_place_shape_and_output_follows_the_edit(unet):
    demo = dw.LabelMapDemo(unet)
    demo.fill(0)
    before = demo.translate()
    demo.current_class = 1
    demo.place_shape("rectangle", cy=0.5, cx=0.25, height=0.5, width=0.25)
    c = (np.arange(SIZE) + 0.5) / SIZE
    mask = (np.abs(c[:, None] - 0.5) <= 0.25) & (np.abs(c[None, :] - 0.25) <= 0.125)
    np.testing.assert_array_equal(demo.labels == 1, mask)
    demo.current_class = 3
    demo.place_shape("ellipse", 0.5, 0.75, 0.5, 0.5)
    assert (demo.labels == 3).sum() == (((c[:, None] - 0.5) / 0.25) ** 2 + ((c[None, :] - 0.75) / 0.25) ** 2 <= 1).sum()
    after = demo.translate()
    assert np.abs(after - before).max() > 1e-4
    with pytest.raises(ValueError, match="shape must be one of"):
        demo.place_shape("star", 0.5, 0.5, 0.2, 0.2)


def test_uploaded_label_map_snaps_to_the_nearest_class(unet):
    demo = dw.LabelMapDemo(unet)
    truth = synthetic.generate("labels2photo", 3, SIZE, split="test")["labels"][2]
    rgb = dw.PALETTE[truth].astype(np.float32)
    rgb += np.random.default_rng(0).normal(0, 6, rgb.shape)  # a lossy JPEG's colour noise
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="png")
    demo.load_image(buf.getvalue())
    np.testing.assert_array_equal(demo.labels, truth)


def test_painter_widgets_call_the_callbacks(unet):
    demo = dw.LabelMapDemo(unet)
    box = demo.widget()
    w = demo._widgets
    assert box is demo.widget()  # built once
    assert len(w["cells"]) == demo.grid**2
    w["classes"].value = 4
    assert demo.current_class == 4
    w["cells"][2 * demo.grid + 5].click()
    assert (demo.labels[4:6, 10:12] == 4).all()
    assert w["cells"][2 * demo.grid + 5].style.button_color == demo.cell_color(2, 5)
    shown = _png(w["view"].value)
    np.testing.assert_array_equal(shown, demo.render())
    w["example"].value = 3
    np.testing.assert_array_equal(demo.labels, demo.examples[3])
    w["slider_width"].value = 1.0
    w["add"].click()
    assert (demo.labels[16] == 4).all()  # a full-width rectangle through the centre row


def test_painter_without_palette_takes_images(unet):
    images = synthetic.generate("edges2objects", 2, SIZE, split="test")["A"]
    demo = dw.LabelMapDemo(unet, examples=images, palette=None)
    np.testing.assert_allclose(demo.input_image(), images[0])
    np.testing.assert_allclose(demo.translate(), _np(unet(images[:1], training=False))[0], atol=1e-5)
    with pytest.raises(ValueError, match="no palette"):
        demo.paint(0, 0)
    demo.widget()
    assert "cells" not in demo._widgets
    with pytest.raises(ValueError, match="multiple of grid"):
        dw.LabelMapDemo(unet, grid=5)


# -------------------------------------------------------------------------------------- MUNIT
def test_style_demo_decodes_the_content_with_the_chosen_style(munit_pair):
    gen_a, gen_b = munit_pair
    a, b = dw.munit_examples(SIZE, n=3)
    demo = dw.StyleDemo(gen_a, gen_b, a, b, n_gallery=4)
    assert demo.style.shape == (gen_b.style_dim,)
    demo.set_input(1)
    demo.set_style_value(2, 1.5)
    assert demo.style[2] == pytest.approx(1.5)
    content, _ = gen_a.encode(a[1:2], training=False)
    expected = _np(gen_b.decode(content, demo.style[None], training=False))[0]
    np.testing.assert_allclose(demo.output(), expected, atol=1e-5)
    demo.style_from_example(2)
    _, code = gen_b.encode(b[2:3], training=False)
    np.testing.assert_allclose(demo.style, _np(code)[0], atol=1e-6)
    old = demo.style.copy()
    demo.random_style()
    assert not np.allclose(demo.style, old)
    outs = demo.decode(demo.gallery_styles)
    assert outs.shape == (4, SIZE, SIZE, 3) and np.abs(outs).max() <= 1.0
    # every gallery style gives its own image
    diffs = [np.abs(outs[i] - outs[j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert min(diffs) > 0
    assert demo.render().shape[1] == _panel_width(2)
    assert demo.gallery().shape[1] == _panel_width(5, display=dw.DISPLAY * 2 // 3)


def test_style_widgets(munit_pair):
    gen_a, gen_b = munit_pair
    a, b = dw.munit_examples(SIZE, n=3)
    demo = dw.StyleDemo(gen_a, gen_b, a, b, n_gallery=2)
    demo.widget()
    w = demo._widgets
    assert len(w["sliders"]) == gen_b.style_dim
    w["sliders"][0].value = -2.0
    assert demo.style[0] == pytest.approx(-2.0)
    np.testing.assert_array_equal(_png(w["view"].value), demo.render())
    w["random"].click()
    np.testing.assert_allclose([s.value for s in w["sliders"]], np.clip(demo.style, -3, 3), atol=0.051)
    gallery = w["gallery"].value
    w["more"].click()
    assert w["gallery"].value != gallery
    w["picker"].value = 2
    assert demo.index == 2
    w["example"].value = 1
    _, code = gen_b.encode(b[1:2], training=False)
    np.testing.assert_allclose(demo.style, _np(code)[0], atol=1e-6)


# ----------------------------------------------------------------------------------- CycleGAN
def test_wipe_takes_columns_from_before_and_after():
    rng = np.random.default_rng(0)
    before, after = rng.uniform(-1, 1, (2, 8, 10, 3)).astype(np.float32)
    out = dw.wipe(before, after, 0.3)
    np.testing.assert_array_equal(out[:, :3], before[:, :3])
    np.testing.assert_array_equal(out[:, 3], np.ones((8, 3)))
    np.testing.assert_array_equal(out[:, 4:], after[:, 4:])
    np.testing.assert_array_equal(dw.wipe(before, after, 0.0), after)
    np.testing.assert_array_equal(dw.wipe(before, after, 1.0), before)


def test_before_after_shows_translation_and_cycle(resnets):
    g_ab, g_ba = resnets
    a, b, true_b, true_a = dw.cyclegan_examples(SIZE, n=3)
    np.testing.assert_allclose(true_b, synthetic.generate("day2night", 3, SIZE, split="testA")["B"])
    demo = dw.BeforeAfterDemo(g_ab, g_ba, a, b, true_b=true_b, true_a=true_a)
    demo.set_index(1)
    x, fake, rec = demo.results()
    np.testing.assert_allclose(fake, _np(g_ab(a[1:2], training=False))[0], atol=1e-5)
    np.testing.assert_allclose(rec, _np(g_ba(g_ab(a[1:2], training=False), training=False))[0], atol=1e-5)
    assert demo.render().shape[1] == _panel_width(4)  # input, translated, back, truth
    demo.set_direction("BtoA")
    x, fake, _ = demo.results()
    np.testing.assert_array_equal(x, b[1])
    np.testing.assert_allclose(fake, _np(g_ba(b[1:2], training=False))[0], atol=1e-5)
    one_way = dw.BeforeAfterDemo(g_ab, None, a)
    assert one_way.directions == ["AtoB"] and one_way.results()[2] is None
    assert one_way.render().shape[1] == _panel_width(2)
    with pytest.raises(ValueError, match="direction must be one of"):
        one_way.set_direction("BtoA")


def test_before_after_widgets(resnets):
    g_ab, g_ba = resnets
    a, b, true_b, true_a = dw.cyclegan_examples(SIZE, n=3)
    demo = dw.BeforeAfterDemo(g_ab, g_ba, a, b, true_b=true_b, true_a=true_a)
    demo.widget()
    w = demo._widgets
    w["wipe"].value = 0.25
    x, fake, _ = demo.results()
    expected = dw.panel({"before | after": dw.wipe(x, fake, 0.25)}, dw.DISPLAY * 3 // 2)
    np.testing.assert_array_equal(_png(w["wipe_view"].value), expected)
    w["direction"].value = "BtoA"
    w["picker"].value = 2
    assert (demo.direction, demo.index) == ("BtoA", 2)
    np.testing.assert_array_equal(_png(w["view"].value), demo.render())


# ------------------------------------------------------------------------------------ loading
def test_models_load_from_keras_files(tmp_path, unet, munit_pair):
    unet.save(tmp_path / "g.keras")
    net, info = dw.load_pix2pix(tmp_path / "g.keras")
    x = synthetic.generate("labels2photo", 1, SIZE, split="test")["A"]
    np.testing.assert_allclose(_np(net(x, training=False)), _np(unet(x, training=False)), atol=1e-5)
    assert info["image_size"] == SIZE and not info["synthetic"]
    gen_a, gen_b = munit_pair
    gen_a.save(tmp_path / "a.keras")
    gen_b.save(tmp_path / "b.keras")
    a, b, info = dw.load_munit((tmp_path / "a.keras", tmp_path / "b.keras"))
    assert a.style_dim == gen_a.style_dim and info["image_size"] == SIZE
    with pytest.raises(FileNotFoundError, match="no such .keras file"):
        dw.load_pix2pix(tmp_path / "missing.keras")


def test_resolve_paths_from_the_repository_root():
    assert dw.resolve(None) is None
    assert dw.resolve("runs/x") == ch.REPO / "runs" / "x"
    assert dw.resolve(("a.keras", "/abs/b.keras")) == (ch.REPO / "a.keras", pathlib.Path("/abs/b.keras"))


def test_fallback_run_trains_once_then_reuses(tmp_path, monkeypatch):
    calls = []

    def fake_main(argv, log=None):
        calls.append(argv)
        out = pathlib.Path(argv[argv.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"model": argv[1]}))
        return 0

    monkeypatch.setattr(dw, "run_i2ilab", fake_main)
    first = dw.fallback_run("cyclegan", cache_dir=tmp_path)
    again = dw.fallback_run("cyclegan", cache_dir=tmp_path)
    assert first == again == tmp_path / "demo_runs" / f"cyclegan-cpu-v{dw.FALLBACK_VERSION}"
    assert len(calls) == 1
    argv = calls[0]
    assert argv[:4] == ["train", "cyclegan", "--data", "synthetic"]
    assert argv[4 : 4 + len(dw.FALLBACK_ARGS["cyclegan"])] == dw.FALLBACK_ARGS["cyclegan"]
    smoke = dw.fallback_run("pix2pix", smoke=True, cache_dir=tmp_path)
    assert smoke.name.startswith("pix2pix-smoke") and "--quiet" in calls[1]
    # every fallback option is one `i2ilab train` knows
    for args in (*dw.FALLBACK_ARGS.values(), *dw.SMOKE_ARGS.values()):
        cli.build_parser().parse_args(["train", "pix2pix", "--data", "synthetic", "--out", "x", *args])
    monkeypatch.setattr(dw, "run_i2ilab", lambda argv, log=None: 2)
    with pytest.raises(RuntimeError, match="exit status 2"):
        dw.fallback_run("munit", cache_dir=tmp_path)


# ------------------------------------------------------------------------------------ figures
def _fake_run(folder, n_epochs=5, losses=("G_GAN", "G_L1", "D_real")):
    """A run folder as i2ilab train writes it: log.csv and samples/epoch_NNNN.png (solid colours)."""
    folder = pathlib.Path(folder)
    (folder / "samples").mkdir(parents=True)
    with open(folder / "log.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *losses, "lr"])
        for e in range(n_epochs):
            writer.writerow([e, *[1.0 / (e + 1) + i for i in range(len(losses))], 2e-4])
    for e in range(1, n_epochs + 1):
        viz.save_image(folder / "samples" / f"epoch_{e:04d}.png", np.full((20, 30, 3), 40 * e, np.uint8))
    return folder


def test_pick_evenly_keeps_first_and_last():
    assert mf.pick_evenly(list(range(5)), 4) == [0, 1, 3, 4]
    assert mf.pick_evenly(list(range(10)), 3) == [0, 4, 9]  # round(4.5) = 4 (banker's rounding)
    assert mf.pick_evenly([7, 8], 4) == [7, 8]
    assert mf.pick_evenly(list(range(3)), 1) == [2]


def test_run_figures_from_log_and_samples(tmp_path):
    run = _fake_run(tmp_path / "myrun")
    written = mf.run_figures(run, tmp_path / "fig", k=4)
    assert [p.name for p in written] == ["myrun_losses.png", "myrun_progress.png"]
    progress = np.asarray(Image.open(written[1]).convert("RGB"))
    pad = 8
    assert progress.shape[1] == 4 * 30 + 5 * pad
    strip = 18 + 10
    # epochs 1, 2, 4, 5 (evenly spread), each a solid grey of value 40 * epoch
    for i, epoch in enumerate((1, 2, 4, 5)):
        x0 = pad + i * (30 + pad)
        assert (progress[strip : strip + 20, x0 : x0 + 30] == 40 * epoch).all()
    epochs, series = mf.read_log(run)
    np.testing.assert_array_equal(epochs, [1, 2, 3, 4, 5])
    assert list(series) == ["G_GAN", "G_L1", "D_real"]  # lr left out
    with pytest.raises(FileNotFoundError, match="i2ilab train --out"):
        mf.run_figures(tmp_path / "empty", tmp_path / "fig")


def test_ablation_of_runs_without_networks_tiles_their_samples(tmp_path):
    runs = {"A": _fake_run(tmp_path / "a", 3), "B": _fake_run(tmp_path / "b", 4, ("G_GAN", "G_L1"))}
    written = mf.ablation_figures(runs, tmp_path / "fig")
    assert [p.name for p in written] == ["ablation_losses.png", "ablation_samples.png"]
    tiled = np.asarray(Image.open(written[1]).convert("RGB"))
    assert tiled.shape[1] == 2 * 30 + 3 * 8
    assert (tiled[28:48, 8:38] == 120).all() and (tiled[28:48, 46:76] == 160).all()  # last epochs 3, 4


def test_ablation_grid_translates_the_same_inputs_with_each_run(tmp_path):
    nets = {}
    for label, seed in (("small D", 1), ("big D", 2)):
        keras.utils.set_random_seed(seed)
        net = models.unet_generator(SIZE, ngf=4, name="generator")
        folder = _fake_run(tmp_path / label.replace(" ", "_"), 2)
        net.save(folder / "generator.keras")
        (folder / "config.json").write_text(
            json.dumps(
                {
                    "model": "pix2pix",
                    "image_size": SIZE,
                    "data": "synthetic",
                    "networks": {"generator": "generator.keras"},
                }
            )
        )
        nets[label] = (net, folder)
    written = mf.ablation_figures({k: f for k, (_, f) in nets.items()}, tmp_path / "fig", n=3)
    assert [p.name for p in written] == ["ablation_losses.png", "ablation_grid.png"]
    d = synthetic.generate("labels2photo", 3, SIZE, split="test")
    columns = {"input": d["A"]}
    for label, (net, _) in nets.items():
        columns[label] = _np(net(d["A"], training=False))
    columns["target"] = d["B"]
    expected = viz.image_grid(columns, max_rows=3)
    got = np.asarray(Image.open(written[1]).convert("RGB")).astype(int)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1  # float rounding at the uint8 edge


def test_readme_figure_commands_parse():
    args = mf.build_parser().parse_args(["--smoke", "--out", "x"])
    assert args.smoke and args.out == "x"
    assert mf.parse_ablation(["1x1=runs/d0", "runs/d3"]) == {
        "1x1": pathlib.Path("runs/d0"),
        "d3": pathlib.Path("runs/d3"),
    }
    with pytest.raises(ValueError, match="given twice"):
        mf.parse_ablation(["a=x", "a=y"])


@pytest.mark.slow
def test_make_figures_smoke_trains_and_draws(tmp_path, monkeypatch):
    monkeypatch.setenv("I2ILAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "figs"
    assert mf.main(["--smoke", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert "ablation_grid.png" in names and "ablation_losses.png" in names
    for depth in mf.SMOKE_DEPTHS:
        assert f"pix2pix_d{depth}_losses.png" in names and f"pix2pix_d{depth}_progress.png" in names
        config = json.loads((out / "runs" / f"pix2pix_d{depth}" / "config.json").read_text())
        assert config["n_layers_d"] == depth
    grid = np.asarray(Image.open(out / "ablation_grid.png"))
    assert grid.shape[1] > 5 * SIZE  # input, three runs, target


# ----------------------------------------------------------------------------------- notebook
def test_demo_notebook_is_built_from_its_source():
    proc = subprocess.run(
        [sys.executable, str(DEMOS / "build_demo_notebook.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nb = json.loads((DEMOS / "lecture_demos.ipynb").read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_images_show_at_their_true_size_and_labels_whole(unet, resnets):
    """Every demo image is laid out at its PNG's own size (no stretching by a flex row or the
    notebook's width) and at most MAX_HEIGHT tall; the class buttons fit their longest name."""
    import ipywidgets as W

    image = W.Image(format="png")
    dw.show_image(image, np.zeros((1000, 300, 3), np.uint8))
    assert (image.layout.width, image.layout.height) == ("154px", f"{dw.MAX_HEIGHT}px")
    painter = dw.LabelMapDemo(unet)
    painter.widget()
    g_ab, g_ba = resnets
    a, b, true_b, true_a = dw.cyclegan_examples(SIZE, n=2)
    wipe_demo = dw.BeforeAfterDemo(g_ab, g_ba, a, b, true_b=true_b, true_a=true_a)
    wipe_demo.widget()
    for view in (painter._widgets["view"], wipe_demo._widgets["view"], wipe_demo._widgets["wipe_view"]):
        h, w = _png(view.value).shape[:2]
        assert h <= dw.MAX_HEIGHT and (view.layout.width, view.layout.height) == (f"{w}px", f"{h}px")
    width = int(painter._widgets["classes"].style.button_width.removesuffix("px"))
    assert width == dw.button_width(dw.CLASS_NAMES) >= 9 * len("background") + 24


def test_show_puts_the_demo_first_and_says_when_the_model_is_untrained(unet):
    demo = dw.LabelMapDemo(unet)
    info = {"source": "/cache/pix2pix-smoke-v1", "image_size": SIZE, "data": "synthetic", "fallback": "smoke"}
    box = dw.show(demo, dict(info, log="epoch 1/1 ..."))
    header, note, widget, fold = box.children
    assert "untrained smoke-mode stand-in" in header.value
    assert "python course/demos/demo_widgets.py" in note.value and "I2ILAB_SMOKE" in note.value
    assert widget is demo.widget()
    assert fold.selected_index is None and "epoch 1/1" in fold.children[0].value  # folded
    trained = dw.show(dw.LabelMapDemo(unet), dict(info, fallback="cpu", log=None))
    assert len(trained.children) == 2 and "small CPU fallback model" in trained.children[0].value


def test_demo_notebook_is_committed_without_outputs():
    nb = json.loads((DEMOS / "lecture_demos.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert set(nb["metadata"]) == {"kernelspec", "language_info"}  # no widget state either
    assert (DEMOS / ".gitignore").read_text().split() == [dw.LECTURE_COPY.name]


@pytest.mark.notebook
def test_demo_command_then_the_lecture_copy_runs_and_the_committed_notebook_stays_clean(tmp_path):
    """The lecturer's two steps in smoke mode: ``python course/demos/demo_widgets.py`` (no
    arguments; I2ILAB_SMOKE=1 is the tiny training budget) trains the three stand-ins in a fresh
    cache and writes the lecture copy; the copy runs top to bottom and is saved with its
    outputs, as Jupyter would; the committed notebook is byte for byte what it was."""
    import nbformat
    from nbclient import NotebookClient

    repo = tmp_path / "repo"
    shutil.copytree(DEMOS, repo / "course" / "demos", ignore=shutil.ignore_patterns("__pycache__", "lecture.ipynb"))
    shutil.copy2(ch.COURSE / "build_notebooks.py", repo / "course")
    committed = (repo / "course" / "demos" / "lecture_demos.ipynb").read_bytes()
    env = ch.course_env(I2ILAB_SMOKE="1", I2ILAB_CACHE=tmp_path / "cache")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "course/demos/demo_widgets.py"], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    print(f"demo_widgets.py: {time.perf_counter() - t0:.0f} s wall")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folders = json.loads(proc.stdout[proc.stdout.index("{") : proc.stdout.rindex("}") + 1])
    assert list(folders) == ["pix2pix", "cyclegan", "munit"]
    for model, folder in folders.items():
        assert pathlib.Path(folder) == tmp_path / "cache" / "demo_runs" / f"{model}-smoke-v{dw.FALLBACK_VERSION}"
        assert (pathlib.Path(folder) / "config.json").is_file(), f"the {model} fallback was not trained"
    copy = repo / "course" / "demos" / "lecture.ipynb"
    assert copy.read_bytes() == committed and "wrote" in proc.stdout

    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(VIEW_PROBE))
    client = NotebookClient(
        nb,
        timeout=ch.SMOKE_CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(copy.parent)}},
        extra_arguments=["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"],
    )
    cpu0, t0 = ch._children_cpu(), time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, copy)  # what Jupyter's autosave does with the notebook it runs
    print(f"demo notebook: {time.perf_counter() - t0:.0f} s wall, {ch._children_cpu() - cpu0:.0f} s CPU")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr"], "red stderr boxes in the demo"
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 3
    views = json.loads(nb.cells[-1].outputs[-1]["text"])
    for name, (height, width, std) in views.items():
        assert 100 < height <= dw.MAX_HEIGHT and std > 5, (name, height, width, std)  # a rendered panel
    trained = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "training a small one" not in trained  # the command trained them; the notebook reused them
    assert (repo / "course" / "demos" / "lecture_demos.ipynb").read_bytes() == committed
    check = subprocess.run(
        [sys.executable, "course/demos/build_demo_notebook.py", "--check"], cwd=repo, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


#: Appended to the notebook by the test: the size and contrast of each demo's shown image.
VIEW_PROBE = """
import io, json
import numpy as np
from PIL import Image
views = {name: np.asarray(Image.open(io.BytesIO(w.value)).convert("RGB")) for name, w in (
    ("pix2pix", painter._widgets["view"]), ("munit", styles._widgets["view"]),
    ("cyclegan", before_after._widgets["wipe_view"]))}
print(json.dumps({k: [int(v.shape[0]), int(v.shape[1]), float(v.std())] for k, v in views.items()}))
"""
