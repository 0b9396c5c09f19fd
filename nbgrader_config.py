"""Jupyter started here, at the repository root (``jupyter lab``), finds the i2ilab course:
formgrader, the Validate button and the Assignments tab read ``course/nbgrader_config.py``."""

import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "course", "nbgrader_config.py"))  # noqa: F821
