"""``fashioncaffe convert_imageset`` and ``fashioncaffe compute_image_mean``: BVLC's tools/ programs as commands."""
from __future__ import annotations

import sys

from .cli import register_command
from .imageset import compute_image_mean, convert_imageset


def _flag(p, name, **kw):
    p.add_argument(f"--{name}", f"-{name}", dest=name, **kw)


def _convert_args(p):
    p.add_argument("root_folder")
    p.add_argument("list_file")
    p.add_argument("db_name")
    for b in ("gray", "shuffle", "check_size", "encoded"):
        _flag(p, b, action="store_true")  # (tools/convert_imageset.py also takes --flag=true|false)
    _flag(p, "backend", default="lmdb")
    _flag(p, "resize_width", type=int, default=0)
    _flag(p, "resize_height", type=int, default=0)
    _flag(p, "encode_type", default="")
    _flag(p, "seed", type=int, default=None)
    _flag(p, "workers", type=int, default=None)


def _convert(a):
    if a.backend.lower() != "lmdb":
        print(f"convert_imageset: backend {a.backend!r} is not supported; use lmdb.", file=sys.stderr)
        return 2
    convert_imageset(a.root_folder, a.list_file, a.db_name, a.resize_height, a.resize_width, a.shuffle,
                     a.encoded or bool(a.encode_type), a.encode_type, a.gray, a.check_size, a.seed, a.workers,
                     progress=sys.stderr.isatty(), log=lambda m: print(m, file=sys.stderr))
    return 0


def _mean_args(p):
    p.add_argument("input_db")
    p.add_argument("output_file", nargs="?", default=None)
    _flag(p, "backend", default="lmdb")
    _flag(p, "workers", type=int, default=None)


def _mean(a):
    compute_image_mean(a.input_db, a.output_file, a.workers, progress=sys.stderr.isatty(),
                       log=lambda m: print(m, file=sys.stderr))
    return 0


register_command("convert_imageset", _convert_args, _convert,
                 help="convert a list of images to a Datum LMDB (BVLC's convert_imageset)")
register_command("compute_image_mean", _mean_args, _mean, help="mean.binaryproto of a Datum LMDB")
