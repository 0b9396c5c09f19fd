"""Download pix2pix datasets into OUT/pix2pix/NAME/ (resumable, SHA-256 verified where recorded).

    python data_scripts/download_pix2pix.py --list
    python data_scripts/download_pix2pix.py NAME [NAME ...] [--out data] [--mirror BASE_URL] [--sha256 HEX]

A thin wrapper over i2ilab.data.download; the mirror can also be set with $I2ILAB_DATA_MIRROR.
"""

import sys

from i2ilab.data.download import main

if __name__ == "__main__":
    sys.exit(main(family="pix2pix"))
