"""Export one trained paper-002 run as a single ONNX model: frozen encoder + its heads, with the
category names and the parent names of the run's hierarchy level in the metadata.

    python -m tools.paper002.export --scale tiny --variant hmcn10_mtl --seed 1 [-o model.onnx]
    fashioncaffe infer --onnx model.onnx photo.jpg       # prints "parent" and "category" top-k

The net is the encoder's deploy net (Input ``data``, the scale's crop) with the heads' deploy layers
on its ``feat``; its weights are the encoder's caffemodel and the run's selected heads snapshot,
saved together as ``<run>/encoder_heads.caffemodel`` beside ``encoder_heads.prototxt``.
Preprocessing in the metadata is the encoder's TEST transform (resize to the stored size, centre
crop, mean, scale).  Outputs: ``prob_final`` (title "category", the C category names) and, for
HMCN-F, ``prob_local1`` (title "parent", the K parent names); the flat net has ``prob`` only.
The metadata's ``hierarchy`` entry holds the level, the parent names and each category's parent.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import config, data, pretrain
from ..repro.evaluation import Run
from ..repro.layout import Experiment


def combined_net(enc_cfg, deploy_param, name):
    """The encoder deploy net followed by the heads' layers (their Input ``feat`` dropped)."""
    net = pretrain.encoder_net(enc_cfg, batch=1, name=name)
    enc_names = {lp.name for lp in net.layer}
    for lp in deploy_param.layer:
        if lp.type == "Input":
            continue
        if lp.name in enc_names:
            raise ValueError(f"heads layer {lp.name!r} has an encoder layer's name: the weights would collide")
        net.layer.add().CopyFrom(lp)
    return net


def export_run(exp, variant, seed, output=None, opset=None):
    """Write the run's ONNX model; returns its path."""
    import fashioncaffe as caffe
    from fashioncaffe.onnx.api import export
    from fashioncaffe.onnx.exporter import DEFAULT_OPSET, set_metadata
    from fashioncaffe.prototxt import read_net_param

    import onnx

    stats = data.load_stats(exp)
    run = Run(exp, variant, seed)
    res_path = run.path("predictions_info.json")
    if not os.path.isfile(res_path):
        raise SystemExit(f"{run.dir}: not evaluated (no predictions_info.json); run the evaluate step first")
    with open(res_path) as f:
        info = json.load(f)["info"]
    enc_cfg = pretrain.ENCODERS[stats["encoder"]]   # the one its features came from (data.encoder_name)
    deploy = read_net_param(run.training["info"]["deploy"])
    net_param = combined_net(enc_cfg, deploy, f"paper002_{variant}_encoder_heads")
    proto = run.path("encoder_heads.prototxt")
    with open(proto, "w") as f:
        f.write(str(net_param))
    net = caffe.Net(proto, caffe.TEST)
    net.copy_from(stats["encoder_weights"])
    net.copy_from(info["selected_weights"])
    weights = run.path("encoder_heads.caffemodel")
    net.save(weights)
    kw = dict(crop_size=int(enc_cfg["size"]), scale=float(enc_cfg.get("input_scale", 1.0)))
    if stats.get("mean_file"):
        kw["mean_file"] = stats["mean_file"]
    else:
        kw.update(mean_values=",".join(str(v) for v in enc_cfg["mean_value"]), resize=int(enc_cfg["resize"]))
    output = output or run.path("model.onnx")
    model, meta, _ = export(proto, weights, None, opset=opset or DEFAULT_OPSET, **kw)
    kind, parents, _ = config.head_spec(variant)
    titled = {"prob_final": ("category", stats["categories"]), "prob": ("category", stats["categories"])}
    if parents:
        titled["prob_local1"] = (f"parent ({parents} classes)", stats["parents"][str(parents)])
    meta["outputs"] = [dict(o, kind="category", title=titled[o["name"]][0], labels=list(titled[o["name"]][1]))
                       if o["name"] in titled else o for o in meta["outputs"]]
    if parents:
        meta["hierarchy"] = {"level": parents, "parents": stats["parents"][str(parents)],
                             "parent_of": stats["parent_of"][str(parents)], "source": stats["hierarchy_source"]}
    set_metadata(model, meta)
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    onnx.save_model(model, output)
    return output


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.paper002.export", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="tiny", choices=list(config.SCALES))
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--variant", default="hmcn10_mtl", choices=config.VARIANTS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weights", default="", help="the encoder caffemodel the data step used (if any)")
    ap.add_argument("-o", "--output", default="", help="default: <run>/model.onnx")
    a = ap.parse_args(argv)
    exp = Experiment("002", a.scale, data=a.data, weights=a.weights)
    path = export_run(exp, a.variant, a.seed, a.output or None)
    print(f"[paper002] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
