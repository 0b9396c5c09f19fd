"""Build the nbgrader source notebooks ``solutions/<lab>/<lab>.ipynb`` from ``course/sources/<lab>.py``.

The labs are written as jupytext "percent" scripts (readable diffs, reviewable in any editor);
nbgrader cell metadata sits in the cell headers, e.g.::

    # %% nbgrader={"grade": false, "solution": true, "locked": false, "grade_id": "ex_lab", "schema_version": 3}

This script turns each script into the notebook nbgrader reads: a Python 3 kernelspec and
language (:data:`LANGUAGE_INFO`, no kernel-version metadata), no jupytext bookkeeping, and cell
ids derived from the grade_id or the cell position, so that rebuilding gives byte-identical
files and ``nbgrader generate_assignment`` gives a byte-identical release.

    python course/build_notebooks.py            # rebuild every lab
    python course/build_notebooks.py --check    # exit 1 if solutions/ is out of date

The sources live in ``course/`` and not in ``solutions/<lab>/`` because nbgrader copies every
non-notebook file of a source folder into the student release.
"""

import argparse
import hashlib
import pathlib
import sys

import jupytext
import nbformat

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE / "sources"
SOLUTIONS = HERE.parent / "solutions"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: The notebook's language, as ipykernel reports it: JupyterLab writes the kernel's
#: ``language_info`` into the notebook when the kernel starts, so a lab without it was modified
#: by opening it. The version names no particular Python (the release must not change with the
#: Python of whoever built it); JupyterLab still records the student's exact one on opening.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3",
}


def _cell_id(cell, index, lab):
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id:
        return grade_id
    return hashlib.sha1(f"{lab}:{index}".encode()).hexdigest()[:12]


def build(source):
    """Return the notebook text for one ``course/sources/<lab>.py``."""
    lab = source.stem
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    seen = set()
    for index, cell in enumerate(nb.cells):
        meta = {k: v for k, v in cell.metadata.items() if k in ("nbgrader", "tags")}
        cell.metadata = meta
        cell.id = _cell_id(cell, index, lab)
        if cell.id in seen:
            raise ValueError(f"{source}: duplicate grade_id / cell id {cell.id!r}")
        seen.add(cell.id)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4) + "\n"


def target(source):
    return SOLUTIONS / source.stem / f"{source.stem}.ipynb"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that solutions/ is up to date")
    parser.add_argument("labs", nargs="*", help="lab names (default: all sources)")
    args = parser.parse_args(argv)
    sources = sorted(SOURCES.glob("*.py"))
    if args.labs:
        sources = [SOURCES / f"{lab}.py" for lab in args.labs]
    stale = []
    for source in sources:
        text, out = build(source), target(source)
        if args.check:
            if not out.exists() or out.read_text() != text:
                stale.append(str(out))
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out.relative_to(HERE.parent)}")
    if stale:
        print("out of date (run python course/build_notebooks.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
