"""Write a built-in synthetic dataset (no download) in the real datasets' on-disk format.

    python data_scripts/make_synthetic.py NAME [--out DIR] [--size 32] [--n-train 512] [--n-test 64] [--seed 0]

NAME: colors, labels2photo, edges2objects, day2night, day2night_ambiguous, styles. Without --out
the set goes to the cache folder ($I2ILAB_CACHE or ~/.cache/i2ilab). A thin wrapper over
i2ilab.data.synthetic.
"""

import sys

from i2ilab.data.synthetic import main

if __name__ == "__main__":
    sys.exit(main())
