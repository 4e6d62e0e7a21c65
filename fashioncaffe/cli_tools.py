"""BVLC's tools/ programs as ``fashioncaffe`` commands: ``convert_imageset``, ``compute_image_mean``,
``extract_features``, ``upgrade_net_proto_text``, ``upgrade_net_proto_binary``,
``upgrade_solver_proto_text``, and ``draw_net`` (BVLC's python/draw_net.py), with their arguments."""
from __future__ import annotations

import sys

from . import logging_caffe as log
from .cli import register_command
from .errors import fail
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


def _features_args(p):
    p.add_argument("pretrained_net_param", help=".caffemodel with the weights")
    p.add_argument("feature_extraction_proto_file", help="net prototxt with a data layer (run in TEST phase)")
    p.add_argument("extract_feature_blob_names", help="blob name(s), comma-separated")
    p.add_argument("save_feature_dataset_names", help="one new database per blob, comma-separated")
    p.add_argument("num_mini_batches", type=int)
    p.add_argument("db_type", help="lmdb")
    p.add_argument("mode", nargs="?", default="CPU", choices=["CPU", "GPU"])
    p.add_argument("device_id", nargs="?", type=int, default=0)


def _features(a):
    from . import mode
    from .features import extract_features

    if a.db_type.lower() != "lmdb":
        raise fail(f"extract_features: db_type '{a.db_type}' is not supported; use lmdb.")
    if a.mode == "GPU":
        mode.set_device(a.device_id)
        mode.set_mode_gpu()
    else:
        mode.set_mode_cpu()
    extract_features(a.pretrained_net_param, a.feature_extraction_proto_file, a.extract_feature_blob_names.split(","),
                     a.save_feature_dataset_names.split(","), a.num_mini_batches, progress=sys.stderr.isatty())
    return 0


def _in_out_args(what):
    def add(p):
        p.add_argument("input_file", help=f"{what} to upgrade")
        p.add_argument("output_file", help=f"where to write the upgraded {what}")
    return add


def _upgrade(a, read, needs_upgrade, upgrade, write, kind, tool):
    """BVLC's upgrade_*_proto_* tools: read without upgrading, upgrade when needed, write."""
    message = read(a.input_file)
    if needs_upgrade(message):
        message = upgrade(message, a.input_file)
    else:
        log.info(f"File already in latest proto format: {a.input_file}", f"{tool}.cpp:39")
    write(a.output_file, message)
    log.info(f"Wrote upgraded {kind} to {a.output_file}", f"{tool}.cpp:45")
    return 0


def _write_text(path, message):
    from .formats.atomic import atomic_write_bytes
    from .prototxt import net_to_text

    atomic_write_bytes(path, net_to_text(message).encode())


def _upgrade_net_text(a):
    from .prototxt import read_net_param
    from .upgrade import needs_upgrade, upgrade_net

    return _upgrade(a, lambda p: read_net_param(p, upgrade=False), needs_upgrade, upgrade_net, _write_text,
                    "NetParameter text proto", "upgrade_net_proto_text")


def _upgrade_net_binary(a):
    from .formats.caffemodel import read_caffemodel_binary, write_caffemodel_binary
    from .upgrade import needs_upgrade, upgrade_net

    return _upgrade(a, lambda p: read_caffemodel_binary(p, upgrade=False), needs_upgrade, upgrade_net,
                    write_caffemodel_binary, "NetParameter binary proto", "upgrade_net_proto_binary")


def _upgrade_solver_text(a):
    from .prototxt import read_solver_param
    from .upgrade import upgrade_solver

    return _upgrade(a, lambda p: read_solver_param(p, upgrade=False), lambda s: s.HasField("solver_type"),
                    upgrade_solver, _write_text, "SolverParameter text proto", "upgrade_solver_proto_text")


def _draw_args(p):
    p.add_argument("input_net_proto_file", help="net prototxt")
    p.add_argument("output_image_file", help="image file; its extension names the format (.png, .pdf, .svg, "
                   ".raw for the dot source)")
    p.add_argument("--rankdir", default="LR", help="graph direction: LR, RL, TB or BT")
    p.add_argument("--phase", default="ALL", choices=["ALL", "TRAIN", "TEST"],
                   help="draw the layers of this phase (ALL: every layer)")
    p.add_argument("--display_lrm", action="store_true", help="show the lr multipliers of learning layers")


def _draw(a):
    from .draw import draw_net_to_file
    from .prototxt import read_net_param

    net = read_net_param(a.input_net_proto_file, upgrade=False)
    phase = {"ALL": None, "TRAIN": 0, "TEST": 1}[a.phase]
    print(f"Drawing net to {a.output_image_file}", file=sys.stderr)
    draw_net_to_file(net, a.output_image_file, a.rankdir, phase, a.display_lrm)
    return 0


register_command("extract_features", _features_args, _features,
                 help="store blobs of a net over its data as Datum LMDBs (BVLC's extract_features)")
register_command("upgrade_net_proto_text", _in_out_args("net prototxt"), _upgrade_net_text,
                 help="rewrite a V0/V1 net prototxt in the current format")
register_command("upgrade_net_proto_binary", _in_out_args("binary net (.caffemodel)"), _upgrade_net_binary,
                 help="rewrite a V0/V1 .caffemodel in the current format")
register_command("upgrade_solver_proto_text", _in_out_args("solver prototxt"), _upgrade_solver_text,
                 help="rewrite a solver prototxt's legacy solver_type as type")
register_command("draw_net", _draw_args, _draw, help="draw a net prototxt as a graph image (needs Graphviz)")
