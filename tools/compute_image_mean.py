#!/usr/bin/env python
"""BVLC Caffe's compute_image_mean: INPUT_DB [OUTPUT_FILE] → mean.binaryproto.
See fashioncaffe/imageset.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fashioncaffe.imageset import main_compute_image_mean  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_compute_image_mean())
