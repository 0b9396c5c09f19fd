"""nbgrader configuration of the i2ilab course.

Run nbgrader from the repository root with
``nbgrader <command> --NbGrader.config_file=course/nbgrader_config`` (no ``.py``), or from
inside ``course/``. The course root is this folder (absolute, from ``__file__``, so the commands
work from any working directory); sources are ``solutions/``, the student release ``labs/``.
gradebook.db, submitted/, autograded/ and feedback/ stay in ``course/`` and are git-ignored.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "i2ilab"
c.CourseDirectory.source_directory = "../solutions"
c.CourseDirectory.release_directory = "../labs"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "runs", "*.keras", "lesson_metrics.json"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Graded cells are small and fast; long training cells look at NBGRADER_EXECUTION and shorten
# themselves while grading, so a generous per-cell limit only guards against infinite loops.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
