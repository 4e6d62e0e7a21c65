"""``export(...)``: prototxt + weights → ONNX file with metadata (what ``fashioncaffe export`` runs)."""
from __future__ import annotations

import os
import sys

from ..errors import fail
from .exporter import DEFAULT_OPSET, Exporter, set_metadata


def _parse_floats(spec, what):
    if spec is None or spec == "":
        return None
    if isinstance(spec, (list, tuple)):
        return [float(v) for v in spec]
    try:
        return [float(v) for v in str(spec).split(",") if v.strip()]
    except ValueError:
        raise fail(f"{what} {spec!r}: expected comma-separated numbers (e.g. 104,117,123).") from None


def build_net(model, weights=None, from_train_val=False, outputs=None, input_size=None, mean_file=None):
    """The TEST-phase deploy Net (and the train_val transform info) for ``model``."""
    from ..layers.base import TEST
    from ..net import Net
    from ..prototxt import read_net_param
    from .deploy import derive_deploy

    base_dir = os.path.dirname(os.path.abspath(model)) if isinstance(model, (str, os.PathLike)) else None
    param = read_net_param(model)
    info, notes = None, []
    if from_train_val:
        param, info, notes = derive_deploy(param, base_dir=base_dir, outputs=outputs, input_size=input_size,
                                           mean_file=mean_file)
    elif outputs:
        from .deploy import _prune

        param = _prune(param, list(outputs), notes)
    added = []
    for d in (os.getcwd(), base_dir):
        if d and d not in sys.path:
            sys.path.append(d)
            added.append(d)
    net = Net(param, TEST)
    if weights:
        if not os.path.exists(weights):
            raise fail(f"--weights {weights}: file does not exist.")
        net.copy_from(weights)
    return net, info, notes, base_dir


def make_preprocess(net, info=None, base_dir=None, mean_file=None, mean_values=None, scale=None, crop_size=None,
                    resize=None, labels_meta=None):
    from .metadata import default_preprocess, preprocess_from_transform, set_mean_image

    name = net.inputs[0]
    shp = list(net.blobs[name].shape)
    if info and info.get("transform") is not None and len(shp) == 4:
        pre = preprocess_from_transform(info["transform"], shp[1:], base_dir=base_dir, name=name,
                                        mean_file=mean_file)
        if info.get("stored_size") and not pre.get("mean_image"):
            pre["resize"] = list(info["stored_size"])
    else:
        pre = default_preprocess(net, name)
        if mean_file:
            set_mean_image(pre, mean_file)
    if mean_values is not None:
        pre["mean_values"] = _parse_floats(mean_values, "--mean-value")
        pre["mean_image"] = None
    if scale is not None:
        pre["scale"] = float(scale)
    if crop_size is not None:
        pre["crop_size"] = int(crop_size)
    if resize is not None:
        r = [int(v) for v in str(resize).replace("x", ",").split(",") if v.strip()] if not isinstance(resize, (list, tuple)) \
            else [int(v) for v in resize]
        pre["resize"] = r * 2 if len(r) == 1 else r[:2]
    elif not pre.get("mean_image") and labels_meta and pre.get("crop_size") and \
            not (info and info.get("stored_size")):
        r = ((labels_meta.get("images") or {}).get("resize"))
        if r:
            pre["resize"] = [int(r), int(r)]
    if pre.get("mean_image") and pre.get("resize") and list(pre["resize"]) != list(pre["mean_image"]["shape"][1:]):
        raise fail(f"--resize {pre['resize']} differs from the mean image's size {pre['mean_image']['shape'][1:]}; Caffe "
                   "subtracts the mean at the uncropped position, so images are resized to the mean's size.")
    C, H, W = (shp[1:] + [0, 0, 0])[:3] if len(shp) == 4 else (0, 0, 0)
    if len(shp) == 4:
        crop = pre.get("crop_size") or 0
        want = (crop, crop) if crop else tuple(pre.get("resize") or (H, W))
        if tuple(want) != (H, W):
            raise fail(f"the preprocessing gives {want[0]}×{want[1]} images (crop_size {crop}, resize "
                       f"{pre.get('resize')}) but the net's input '{name}' is {H}×{W}.")
        if pre.get("resize") and crop and (pre["resize"][0] < crop or pre["resize"][1] < crop):
            raise fail(f"resize {pre['resize']} is smaller than crop_size {crop}.")
        pre["channel_order"] = "BGR" if C == 3 else ("GRAY" if C == 1 else f"{C} channels")
    return pre


def export(model, weights=None, output=None, opset=DEFAULT_OPSET, from_train_val=False, labels=None, heads=None,
           outputs=None, input_size=None, mean_file=None, mean_values=None, scale=None, crop_size=None,
           resize=None, check=True, log=None):
    """Export ``model`` (a deploy prototxt, or a train_val one with ``from_train_val``) with ``weights``
    to ONNX at ``output``; returns ``(onnx.ModelProto, metadata dict, notes)``."""
    import onnx

    from .metadata import build_metadata, read_labels_meta

    net, info, notes, base_dir = build_net(model, weights, from_train_val, outputs, input_size, mean_file)
    labels_meta = read_labels_meta(labels) if labels else None
    pre = make_preprocess(net, info, base_dir, mean_file, mean_values, scale, crop_size, resize, labels_meta)
    ex = Exporter(net, opset)
    m = ex.build()
    meta = build_metadata(net, ex.input_shapes, ex.output_shapes, pre, labels_meta, heads,
                          source={"model": os.path.basename(str(model)),
                                  "weights": os.path.basename(str(weights)) if weights else None,
                                  "from_train_val": bool(from_train_val)})
    set_metadata(m, meta)
    if check:
        try:
            onnx.checker.check_model(m, full_check=True)
        except onnx.checker.ValidationError as e:
            raise fail(f"the exported model fails onnx.checker: {e}") from e
    if output:
        d = os.path.dirname(os.path.abspath(output))
        os.makedirs(d, exist_ok=True)
        onnx.save_model(m, str(output))
    if log:
        for n in notes:
            log(n)
    return m, meta, notes
