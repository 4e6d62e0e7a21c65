"""``fashioncaffe pycaffe SCRIPT [ARGS...]``: run an unmodified pycaffe script on the engine.

The script's ``import caffe`` resolves to fashioncaffe (unless a built BVLC pycaffe is on the path,
which the ``caffe`` shim yields to; set ``FASHIONCAFFE_FORCE_ALIAS=1`` to use the engine anyway).
"""
from __future__ import annotations

import os
import runpy
import sys

from .cli import register_command
from .errors import fail


def _add_args(parser):
    parser.add_argument("script", help="a Python script written for pycaffe")
    parser.add_argument("script_args", nargs="*", help="arguments passed to the script")


def _run(args):
    from .caffe_alias import bind_caffe_to_engine

    if not os.path.exists(args.script):
        raise fail(f"pycaffe: script '{args.script}' does not exist.")
    if os.environ.get("FASHIONCAFFE_FORCE_ALIAS"):
        bind_caffe_to_engine()
    sys.argv = [args.script, *args.script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))
    runpy.run_path(args.script, run_name="__main__")
    return 0


register_command("pycaffe", _add_args, _run, help="run a pycaffe script with `import caffe` bound to the engine")
