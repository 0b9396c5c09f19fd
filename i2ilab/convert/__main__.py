"""``python -m i2ilab.convert ...`` runs the ``i2ilab convert`` command."""

import sys

from i2ilab.convert import main

sys.exit(main())
