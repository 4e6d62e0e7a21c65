"""``fashioncaffe convert_imageset`` and ``fashioncaffe compute_image_mean``: BVLC's tools/ programs as commands."""
from __future__ import annotations

import sys

from .cli import register_command
from .errors import fail
from .imageset import compute_image_mean, convert_imageset

_BACKEND_HELP = "database backend: lmdb (leveldb, which BVLC also offers, is refused: fashioncaffe reads LMDB only)"


def _flag(p, name, **kw):
    p.add_argument(f"--{name}", f"-{name}", dest=name, **kw)


def _backend(a):
    if a.backend != "lmdb":
        raise fail(f"--backend {a.backend}: fashioncaffe reads and writes LMDB only (BVLC's LEVELDB backend is not "
                   "supported); use --backend lmdb, or convert a LevelDB with BVLC's tools first.")


_CONVERT_FLAGS = {"gray": "decode the images as grayscale", "shuffle": "shuffle the list's order (see --seed)",
                  "check_size": "fail when the images are not all the same size",
                  "encoded": "store the encoded image file in the Datum instead of raw pixels"}


def _convert_args(p):
    p.add_argument("root_folder", help="folder the list's image paths are relative to")
    p.add_argument("list_file", help="text file of '<relative image path> <integer label>' lines")
    p.add_argument("db_name", help="the LMDB folder to write")
    for b, help_ in _CONVERT_FLAGS.items():
        _flag(p, b, action="store_true", help=help_)  # (tools/convert_imageset.py also takes --flag=true|false)
    _flag(p, "backend", default="lmdb", type=str.lower, choices=["lmdb", "leveldb"], help=_BACKEND_HELP)
    _flag(p, "resize_width", type=int, default=0, help="resize every image to this width (0: keep)")
    _flag(p, "resize_height", type=int, default=0, help="resize every image to this height (0: keep)")
    _flag(p, "encode_type", default="", help="with --encoded: re-encode as png, jpg, ... (default: the file's own)")
    _flag(p, "seed", type=int, default=None, help="random seed of --shuffle (fashioncaffe extension)")
    _flag(p, "workers", type=int, default=None, help="decoding processes (default: up to 8)")


def _convert(a):
    _backend(a)
    convert_imageset(a.root_folder, a.list_file, a.db_name, a.resize_height, a.resize_width, a.shuffle,
                     a.encoded or bool(a.encode_type), a.encode_type, a.gray, a.check_size, a.seed, a.workers,
                     progress=sys.stderr.isatty(), log=lambda m: print(m, file=sys.stderr))
    return 0


def _mean_args(p):
    p.add_argument("input_db", help="a Datum LMDB of images of one size")
    p.add_argument("output_file", nargs="?", default=None, help="mean.binaryproto to write (default: only print "
                   "the per-channel means)")
    _flag(p, "backend", default="lmdb", type=str.lower, choices=["lmdb", "leveldb"], help=_BACKEND_HELP)
    _flag(p, "workers", type=int, default=None, help="reading processes (default: up to 8)")


def _mean(a):
    _backend(a)
    compute_image_mean(a.input_db, a.output_file, a.workers, progress=sys.stderr.isatty(),
                       log=lambda m: print(m, file=sys.stderr))
    return 0


register_command("convert_imageset", _convert_args, _convert,
                 help="convert a list of images to a Datum LMDB (BVLC's convert_imageset)")
register_command("compute_image_mean", _mean_args, _mean, help="mean.binaryproto of a Datum LMDB")
