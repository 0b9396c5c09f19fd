"""Build ``course/demos/lecture_demos.ipynb`` from its jupytext source ``lecture_demos.py``.

Edit the ``.py`` file (readable diffs), then::

    python course/demos/build_demo_notebook.py            # rewrite the notebook
    python course/demos/build_demo_notebook.py --check    # exit 1 if it is out of date

The conversion is the labs' (``course/build_notebooks.py``): no outputs, deterministic cell
ids, a Python 3 kernelspec, so rebuilding gives a byte-identical file.
"""

import argparse
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE / "lecture_demos.py"
NOTEBOOK = HERE / "lecture_demos.ipynb"

sys.path.insert(0, str(HERE.parent))
import build_notebooks  # noqa: E402  (course/build_notebooks.py)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the notebook is current")
    args = parser.parse_args(argv)
    text = build_notebooks.build(SOURCE)
    if args.check:
        if not NOTEBOOK.is_file() or NOTEBOOK.read_text() != text:
            print(f"{NOTEBOOK} is out of date: run python course/demos/build_demo_notebook.py")
            return 1
        return 0
    NOTEBOOK.write_text(text)
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
