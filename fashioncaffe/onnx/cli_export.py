"""``fashioncaffe export`` and ``fashioncaffe infer`` (registered with the CLI's command registry).

    fashioncaffe export --model deploy.prototxt --weights W.caffemodel -o model.onnx [--opset 17]
                        [--from-train-val | --train-val TRAIN_VAL] [--labels meta.json] [--head OUTPUT=HEAD ...]
                        [--outputs prob,...] [--mean-file F | --mean-value B,G,R] [--scale S]
                        [--crop-size C] [--resize H[,W]] [--input-size N]
    fashioncaffe infer --onnx model.onnx IMAGES_OR_DIR... [--provider auto|cuda|cpu] [--top-k K]
                       [--json | --csv | --verbose] [--truth LABELS] [--draw DIR] [--show N|all]

A deploy net's preprocessing comes from ``--train-val`` (the TEST data layer's transform_param), else
from the flags and the data's meta.json; export refuses, naming the flags, when it is not known.
"""
from __future__ import annotations

import sys

from ..cli import register_command
from ..errors import fail


def _export_args(p):
    p.add_argument("--model", "-model", required=True, help="deploy prototxt (or train_val with --from-train-val)")
    p.add_argument("--weights", "-weights", default="", help=".caffemodel (or .h5) with the trained weights")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--from-train-val", action="store_true",
                   help="--model is a train_val: derive the deploy net (data/loss/accuracy layers stripped, Input of "
                        "the crop size) and take the preprocessing from its TEST transform_param")
    p.add_argument("--train-val", default="", metavar="TRAIN_VAL",
                   help="for a deploy --model: the train_val it was trained as, whose TEST transform_param gives the "
                        "preprocessing (without it, give --mean-file/--mean-value, --scale and --resize/--crop-size)")
    p.add_argument("--labels", default="", help="a data converter's meta.json with label names and groups")
    p.add_argument("--head", action="append", default=[], metavar="OUTPUT=HEAD",
                   help="tie a net output to a meta.json head (category, a companion name) or a kind "
                        "(category, attributes, landmarks, raw); repeatable")
    p.add_argument("--outputs", default="", help="comma-separated blobs to keep as outputs (prunes the rest)")
    p.add_argument("--mean-file", default="", help="mean.binaryproto (overrides the transform's)")
    p.add_argument("--mean-value", default="", help="per-channel means, e.g. 104,117,123")
    p.add_argument("--scale", type=float, default=None, help="multiplier after mean subtraction")
    p.add_argument("--crop-size", type=int, default=None, help="centre crop applied at inference")
    p.add_argument("--resize", default="", help="size images are resized to before the crop: N or H,W")
    p.add_argument("--input-size", type=int, default=None, help="with --from-train-val: input H = W")
    p.add_argument("--no-check", action="store_true", help="skip onnx.checker on the written model")
    p.add_argument("--verbose", action="store_true",
                   help="list every layer the deploy derivation changed and every output (default: a summary)")


def _export(a):
    from .api import export
    from .exporter import DEFAULT_OPSET, op_types

    heads = {}
    for h in a.head:
        if "=" not in h:
            raise fail(f"--head {h!r}: expected OUTPUT=HEAD (e.g. prob=category).")
        k, v = h.split("=", 1)
        heads[k.strip()] = v.strip()
    outputs = [o for o in a.outputs.split(",") if o.strip()] or None
    model, meta, notes = export(
        a.model, a.weights or None, a.output, opset=a.opset or DEFAULT_OPSET, from_train_val=a.from_train_val,
        labels=a.labels or None, heads=heads, outputs=outputs, input_size=a.input_size,
        mean_file=a.mean_file or None, mean_values=a.mean_value or None, scale=a.scale, crop_size=a.crop_size,
        resize=a.resize or None, check=not a.no_check, train_val=a.train_val or None)
    err = sys.stderr
    for n in (notes if a.verbose else _summarise_notes(notes)):
        err.write(f"  {n}\n")
    ins = ", ".join(f"{i['name']} {i['shape']}" for i in meta["inputs"])
    err.write(f"fashioncaffe export: wrote {a.output} (opset {a.opset or DEFAULT_OPSET}, "
              f"{len(model.graph.node)} nodes, ops: {', '.join(op_types(model))})\n")
    err.write(f"  input: {ins}; preprocess: resize {meta['preprocess'].get('resize')}, crop "
              f"{meta['preprocess'].get('crop_size')}, scale {meta['preprocess'].get('scale')}, mean "
              f"{'image' if meta['preprocess'].get('mean_image') else meta['preprocess'].get('mean_values')}\n")
    outs = meta["outputs"]
    if a.verbose or len(outs) <= SUMMARY_LIMIT:
        for o in outs:
            lab = f", {len(o['labels'])} labels" if o.get("labels") else ""
            grp = f", {len(o['groups'])} groups" if o.get("groups") else ""
            err.write(f"  output: {o['name']} {o['shape']} ({o['kind']}{lab}{grp})\n")
    else:
        kinds = {}
        for o in outs:
            kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
        labelled = sum(1 for o in outs if o.get("labels"))
        err.write(f"  outputs: {len(outs)} ({', '.join(f'{n} {k}' for k, n in kinds.items())}; {labelled} with label "
                  f"names), e.g. {outs[0]['name']} {outs[0]['shape']}; --verbose lists each\n")
    return 0


SUMMARY_LIMIT = 8  # more notes / outputs than this are summarised unless --verbose


def _summarise_notes(notes):
    """The deploy derivation's notes, counted by kind when there are many (a paper net has one loss per
    attribute group)."""
    if len(notes) <= SUMMARY_LIMIT:
        return list(notes)
    kinds = [("turned into", lambda n: n.startswith("loss layer ") and " → " in n,
              "loss layer(s) turned into probability outputs"),
             ("removed data", lambda n: n.startswith("removed data layer"), "extra data layer(s) removed"),
             ("removed loss", lambda n: n.startswith(("removed loss layer", "removed accuracy layer")),
              "loss / accuracy layer(s) removed"),
             ("needs", lambda n: n.startswith("removed layer ") and "needs" in n,
              "layer(s) removed that only process labels"),
             ("pruned", lambda n: n.startswith("pruned layer"), "layer(s) pruned by --outputs")]
    out, counted = [], {}
    for n in notes:
        for key, match, _ in kinds:
            if match(n):
                counted.setdefault(key, []).append(n)
                break
        else:
            out.append(n)
    for key, _, text in kinds:
        if counted.get(key):
            out.append(f"{len(counted[key])} {text} (e.g. {counted[key][0]})")
    return out + ["(--verbose lists every change)"]


def _infer_args(p):
    from ..infer import add_args

    add_args(p)


def _infer(a):
    from ..infer import run

    return run(a)


register_command("export", _export_args, _export, help="export a trained net to ONNX (with inference metadata)")
register_command("infer", _infer_args, _infer, help="predict with an exported ONNX model (onnxruntime)")
