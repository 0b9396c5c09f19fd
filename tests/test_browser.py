"""The course in a real browser: JupyterLab, nbgrader's lab extension and the lecture demos.

Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run`` where missing) driven by
Playwright's Python package; nothing is downloaded at run time. One JupyterLab server runs for
the module, started as course/README.md says, ``jupyter lab`` at the root of a temporary copy of
the course (the one place the instructor starts Jupyter; only the port, a token and headless
options are added), with the exchange (``I2ILAB_EXCHANGE``) in the temporary folder. Each test
drives what a user does:

- a student opens lab 1: once its kernel is up, nothing in it changed but the kernel's Python
  version, which JupyterLab records;
- the solved lab passes nbgrader's **Validate** button (the notebook toolbar);
- the lecturer runs ``python course/demos/demo_widgets.py`` and then the lecture copy
  ``course/demos/lecture.ipynb``: images at their true aspect ratio and at most 512 px high,
  class names whole, no stderr boxes, the untrained-model note (smoke mode); dragging a style
  slider and the wipe slider changes the shown image (pixels of the image before and after);
  saving the copy leaves the committed notebook unchanged;
- formgrader lists the four labs, and each assignment's name link and *Preview* link answer 200.

Screenshots of each step go to ``$I2ILAB_SCREENSHOTS`` if set, else a temporary folder; the
test prints where. The demo's stand-in models are trained in a temporary cache, or found in
``$I2ILAB_CACHE`` if set (as the demo itself does). Marked ``browser`` (select alone with ``-m browser``) and ``notebook`` (the
README's third pytest line, smoke mode on TensorFlow).
"""

import hashlib
import io
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import course_harness as ch
import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.notebook]

CHROMIUM = pathlib.Path("/usr/bin/chromium")
LABS = ch.labs()
TOKEN = "i2ilab-browser-test"
#: Seconds to wait for a kernel, a Validate run or a demo cell (CI: 2 cores).
WAIT_S = 600


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright's Python package (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs both (.ci/run): their absence is a failure there
        pytest.skip(message)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = pathlib.Path(os.environ.get("I2ILAB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test: screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course copy laid out as the repository: root config, course/ (with the demos), solutions/, labs/."""
    _need_browser()
    tmp = tmp_path_factory.mktemp("browser")
    root = ch.make_course_copy(tmp)
    shutil.copy2(ch.REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(
        ch.COURSE / "demos", root / "course" / "demos", ignore=shutil.ignore_patterns("__pycache__", "lecture.ipynb")
    )
    exchange = tmp / "exchange"
    exchange.mkdir(mode=0o1777)
    # no "get notified about Jupyter news?" toast over the screenshots
    labconfig = tmp / "jupyter-config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        "I2ILAB_EXCHANGE": exchange,
        "I2ILAB_SMOKE": "1",
        "I2ILAB_CACHE": os.environ.get("I2ILAB_CACHE") or tmp / "cache",
        "JUPYTER_CONFIG_DIR": tmp / "jupyter-config",  # no settings of the machine's user
        "JUPYTER_RUNTIME_DIR": tmp / "jupyter-runtime",
        "JUPYTERLAB_SETTINGS_DIR": tmp / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": tmp / "lab-workspaces",
    }
    return root, env


@pytest.fixture(scope="module")
def server(course):
    """``jupyter lab`` at the course root on 127.0.0.1 (a free port, a token); its base URL."""
    root, env = course
    port = _free_port()
    log = open(root.parent / "jupyter.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            "--allow-root",  # CI runs as root
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: open, run, save by command
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=root,
        env=ch.course_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                log.close()
                raise RuntimeError(f"jupyter lab did not start:\n{(root.parent / 'jupyter.log').read_text()[-3000:]}")
            time.sleep(0.5)
    print(f"jupyter lab at the course root: up in {time.perf_counter() - t0:.0f} s")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(WAIT_S * 1000)
        page.goto(f"{server}/lab?token={TOKEN}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')"
            " && window.jupyterapp.commands.hasCommand('notebook:run-all-cells')"
        )
        page.evaluate("async () => { await window.jupyterapp.restored; }")
        yield page
        browser.close()


def _open(page, path):
    """Open ``path`` in JupyterLab and wait until its kernel is idle; returns nothing."""
    page.evaluate("async p => { await window.jupyterapp.commands.execute('docmanager:open', {path: p}); }", path)
    page.wait_for_function(
        """p => { const w = window.jupyterapp.shell.currentWidget;
                  return w && w.context && w.context.path === p && w.sessionContext.session
                         && w.sessionContext.session.kernel && w.sessionContext.kernelDisplayStatus === 'idle'; }""",
        arg=path,
    )


def _dirty(page):
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")


def _command(page, name):
    page.evaluate("async c => { await window.jupyterapp.commands.execute(c); }", name)


def _pixels(locator):
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(int)


def _drag(page, handle, dx):
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y, steps=5)
    page.mouse.move(x + dx, y, steps=5)
    page.mouse.up()


def _changed(locator, before, timeout=120):
    """Wait until the element's pixels differ from ``before``; returns the new pixels."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        now = _pixels(locator)
        if now.shape != before.shape or np.abs(now - before).max() > 0:
            return now
        time.sleep(0.5)
    return now


# ------------------------------------------------------------------------------------ student
def test_lab_opens_and_only_the_kernel_version_changes(page, course, shots):
    """Opening a lab changes nothing in it but the Python version JupyterLab records from the
    running kernel (``language_info.version``, which no committed file can know in advance):
    the metadata it used to add (``language_info``), the nbformat version and the cell ids are
    already in the notebook."""
    root, _ = course
    path = "labs/lab1_colorization/lab1_colorization.ipynb"
    _open(page, path)
    page.wait_for_timeout(2000)  # JupyterLab writes kernel metadata just after the kernel is ready
    page.screenshot(path=shots / "1_lab1_opened.png")
    model = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.toJSON()")
    on_disk = json.loads((root / path).read_text())
    kernel_python = model["metadata"]["language_info"].pop("version")
    assert on_disk["metadata"]["language_info"].pop("version") == "3" and kernel_python.startswith("3.")
    assert model["metadata"] == on_disk["metadata"]
    assert (model["nbformat"], model["nbformat_minor"]) == (on_disk["nbformat"], on_disk["nbformat_minor"])

    def cells(nb):
        return [(c["id"], c["cell_type"], "".join(c["source"])) for c in nb["cells"]]

    assert cells(model) == cells(on_disk) and len(on_disk["cells"]) > 20


def test_solved_lab_passes_validate(page, shots):
    _open(page, "solutions/lab1_colorization/lab1_colorization.ipynb")
    t0 = time.perf_counter()
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").click()
    result = page.locator(".jp-Dialog .validation-success, .jp-Dialog .validation-failed, .jp-Dialog .validation-error")
    result.first.wait_for()
    print(f"Validate: {time.perf_counter() - t0:.0f} s")
    page.screenshot(path=shots / "2_lab1_solution_validated.png")
    text = page.locator(".jp-Dialog").inner_text()
    assert "Success! Your notebook passes all the tests." in text, text[-2000:]
    page.locator(".jp-Dialog button").last.click()


# ----------------------------------------------------------------------------------- lecturer
def test_lecture_demos_respond_to_the_sliders(page, course, shots):
    root, env = course
    committed = root / "course" / "demos" / "lecture_demos.ipynb"
    digest = hashlib.sha256(committed.read_bytes()).hexdigest()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "course/demos/demo_widgets.py"],  # the README's command, before the lecture
        cwd=root,
        env=ch.course_env(**env),
        capture_output=True,
        text=True,
        timeout=3 * WAIT_S,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"demo_widgets.py: {time.perf_counter() - t0:.0f} s")
    # jupyter lab course/demos/lecture.ipynb: the copy, in the server started at the root
    _open(page, "course/demos/lecture.ipynb")
    t0 = time.perf_counter()
    _command(page, "notebook:run-all-cells")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    for name in ("pix2pix", "munit", "cyclegan"):
        panel.locator(f".i2ilab-{name} .i2ilab-view, .i2ilab-{name} .i2ilab-wipe-view").first.wait_for()
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.kernelDisplayStatus === 'idle'")
    print(f"demo notebook in the browser: {time.perf_counter() - t0:.0f} s")
    page.screenshot(path=shots / "3_demo_notebook.png")

    assert panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert panel.locator(".i2ilab-untrained").count() == 3  # smoke mode says so, on screen
    for img in panel.locator(".widget-image").all():
        size = img.evaluate("e => [e.naturalWidth, e.naturalHeight, e.clientWidth, e.clientHeight]")
        nw, nh, w, h = size
        assert nh <= 512 and h <= 512, size
        assert abs(w / h - nw / nh) < 0.02, f"image stretched: {size}"
    for button in panel.locator(".i2ilab-pix2pix .widget-toggle-buttons button").all():
        assert button.evaluate("e => e.scrollWidth <= e.clientWidth"), f"cut label: {button.inner_text()}"

    munit = panel.locator(".i2ilab-munit")
    munit.scroll_into_view_if_needed()
    view = munit.locator(".i2ilab-view img, img.i2ilab-view").first
    munit.screenshot(path=shots / "4_munit_before.png")
    before = _pixels(view)
    _drag(page, munit.locator(".i2ilab-style-slider .noUi-handle").first, 60)
    after = _changed(view, before)
    munit.screenshot(path=shots / "5_munit_after_style_slider.png")
    assert after.shape == before.shape and np.abs(after - before).max() > 0, "the style slider changed nothing"

    cyclegan = panel.locator(".i2ilab-cyclegan")
    cyclegan.scroll_into_view_if_needed()
    wipe = cyclegan.locator(".i2ilab-wipe-view img, img.i2ilab-wipe-view").first
    cyclegan.screenshot(path=shots / "6_cyclegan_before.png")
    before = _pixels(wipe)
    _drag(page, cyclegan.locator(".i2ilab-wipe .noUi-handle").first, -80)
    after = _changed(wipe, before)
    cyclegan.screenshot(path=shots / "7_cyclegan_after_wipe.png")
    assert after.shape == before.shape and np.abs(after - before).max() > 0, "the wipe slider changed nothing"

    _command(page, "docmanager:save")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    assert "outputs" in (root / "course" / "demos" / "lecture.ipynb").read_text()
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == digest, "the committed demo notebook changed"


# --------------------------------------------------------------------------------- instructor
def test_formgrader_lists_the_labs_and_its_links_answer(page, server, shots):
    page.goto(f"{server}/formgrader/manage_assignments")
    for lab in LABS:
        page.locator(f"a:text-is('{lab}')").wait_for()
    page.screenshot(path=shots / "8_formgrader.png", full_page=True)
    hrefs = page.eval_on_selector_all("a[href*='/tree/']", "els => els.map(e => e.href)")
    for lab in LABS:
        wanted = {f"{server}/tree/solutions/{lab}", f"{server}/tree/labs/{lab}"}  # name link, Preview
        assert wanted <= set(hrefs), (lab, hrefs)
    for href in hrefs:
        response = page.request.get(href)
        assert response.status == 200, (href, response.status)
    page.goto(f"{server}/tree/labs/{LABS[0]}")
    page.locator(f"text={LABS[0]}.ipynb").first.wait_for()
    page.screenshot(path=shots / "9_formgrader_preview_link.png")
