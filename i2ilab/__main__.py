"""``python -m i2ilab`` runs the ``i2ilab`` command line (see i2ilab.cli)."""

import sys

from i2ilab.cli import main

sys.exit(main())
