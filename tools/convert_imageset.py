#!/usr/bin/env python
"""BVLC Caffe's convert_imageset: ROOTFOLDER LISTFILE DB_NAME [--resize_height --resize_width --shuffle
--encoded --encode_type --gray --check_size --backend lmdb].  See fashioncaffe/imageset.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fashioncaffe.imageset import main_convert_imageset  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_convert_imageset())
