"""nbgrader configuration of the i2ilab course.

Run nbgrader from the repository root with
``nbgrader <command> --NbGrader.config_file=course/nbgrader_config`` (no ``.py``); Jupyter
started at the repository root reads this file through ``nbgrader_config.py`` there.

The course root is the repository (absolute, from ``__file__``, so the commands work from any
working directory), the folder Jupyter serves: formgrader's links to an assignment's source
(``solutions/<lab>``) and release (``labs/<lab>``) are paths relative to the course root, and
they only resolve when it is the server's root. The gradebook and the students' folders
(submitted/, autograded/, feedback/, downloaded/) stay in ``course/`` and are git-ignored.

The exchange (release, fetch, submit, collect, feedback) is one folder of the shared server,
writable by everyone: :data:`EXCHANGE`, ``$I2ILAB_EXCHANGE`` if set. Students' nbgrader reads
the same path from their own configuration (course/README.md, "Distribute").
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EXCHANGE = os.environ.get("I2ILAB_EXCHANGE", "/srv/nbgrader/exchange")

c.CourseDirectory.root = REPO
c.CourseDirectory.course_id = "i2ilab"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.submitted_directory = os.path.join("course", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("course", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("course", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
c.ZipCollectApp.downloaded_directory = os.path.join("course", "downloaded")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "runs", "*.keras", "lesson_metrics.json"]
c.Exchange.root = EXCHANGE

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Graded cells are small and fast; long training cells look at NBGRADER_EXECUTION and shorten
# themselves while grading, so a generous per-cell limit only guards against infinite loops.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
