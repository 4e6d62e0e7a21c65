"""``python -m fashioncaffe ...``: the command-line tool (see :mod:`fashioncaffe.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
