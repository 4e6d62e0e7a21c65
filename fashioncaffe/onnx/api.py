"""``export(...)``: prototxt + weights → ONNX file with metadata (what ``fashioncaffe export`` runs)."""
from __future__ import annotations

import os
import sys

from ..errors import fail
from ..proto import caffe_pb2
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


def _data_layers(param):
    """The TEST-phase layers of ``param`` that read data (what a deploy net replaces with an Input)."""
    from ..netstate import filter_net, make_state
    from ..upgrade import upgrade_net
    from .deploy import DATA_TYPES

    test = filter_net(upgrade_net(param), make_state(caffe_pb2.TEST))
    return [lp for lp in test.layer if lp.type in DATA_TYPES and lp.type != "Input"]


def build_net(model, weights=None, from_train_val=False, outputs=None, input_size=None, mean_file=None):
    """The TEST-phase deploy Net (and the train_val transform info) for ``model``."""
    from ..formats.weights import copy_weights_into
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
    else:
        data = _data_layers(param)
        if data:
            raise fail(f"--model {model}: this is a train_val net (its TEST phase reads data through "
                       f"{', '.join(repr(lp.name) + ' (' + lp.type + ')' for lp in data)}), not a deploy net with an "
                       "Input layer. Export it with --from-train-val, which turns the TEST data layer into an Input, "
                       "takes the preprocessing from its transform_param and turns the losses into probabilities.")
        if outputs:
            from .deploy import _prune

            param = _prune(param, list(outputs), notes)
    added = []
    for d in (os.getcwd(), base_dir):
        if d and d not in sys.path:
            sys.path.append(d)
            added.append(d)
    net = Net(param, TEST)
    if not net.inputs:
        raise fail(f"--model {model}: the net has no input blob (no Input layer, no input: field), so there is "
                   "nothing to feed images to.")
    if weights:
        if not os.path.exists(weights):
            raise fail(f"--weights {weights}: file does not exist.")
        ignored = []
        copy_weights_into(net, weights, ignored)
        if ignored:
            notes.append(f"weights: {len(ignored)} layer(s) of {os.path.basename(weights)} are not in the deploy net "
                         f"and were not needed ({_names(ignored)})")
    return net, info, notes, base_dir


def _names(names, limit=6):
    shown = ", ".join(names[:limit])
    return shown + (f", … {len(names) - limit} more" if len(names) > limit else "")


def transform_of_train_val(train_val, mean_file=None):
    """``(transform info, base_dir)`` of a train_val net's TEST data layer (see ``derive_deploy``)."""
    from ..prototxt import read_net_param
    from .deploy import derive_deploy

    if not os.path.exists(train_val):
        raise fail(f"--train-val {train_val}: file does not exist.")
    base_dir = os.path.dirname(os.path.abspath(train_val))
    _, info, _ = derive_deploy(read_net_param(train_val), base_dir=base_dir, mean_file=mean_file)
    return info, base_dir


def make_preprocess(net, info=None, base_dir=None, mean_file=None, mean_values=None, scale=None, crop_size=None,
                    resize=None, labels_meta=None, labels_path=None):
    """The ``preprocess`` metadata: from the train_val's TEST transform (``info``) when known, else from
    the flags and the data's meta.json; a deploy net whose preprocessing is not known is refused."""
    from .metadata import default_preprocess, preprocess_from_transform, set_mean_image

    name = net.inputs[0]
    shp = list(net.blobs[name].shape)
    if info and info.get("transform") is not None and len(shp) == 4:
        if info.get("input_shape") and tuple(info["input_shape"]) != tuple(shp[1:]):
            raise fail(f"--train-val: its TEST data layer gives {list(info['input_shape'])} inputs but the deploy "
                       f"net's input '{name}' is {shp[1:]}; is it the net this deploy net was trained as?")
        pre = preprocess_from_transform(info["transform"], shp[1:], base_dir=base_dir, name=name,
                                        mean_file=mean_file)
        if info.get("stored_size") and not pre.get("mean_image"):
            pre["resize"] = list(info["stored_size"])
    else:
        pre = default_preprocess(net, name)
        if len(shp) == 4:
            _deploy_preprocess_known(pre, shp, mean_file, mean_values, scale, crop_size, resize, labels_meta,
                                     labels_path)
        if mean_file:
            set_mean_image(pre, mean_file)
    deploy = not (info and info.get("transform") is not None)
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
    if not deploy and pre.get("crop_size") and resize is None and not pre.get("mean_image") and \
            not info.get("stored_size") and not ((labels_meta or {}).get("images") or {}).get("resize"):
        raise fail(f"the train_val's TEST transform crops {pre['crop_size']} px from images of a size nothing here "
                   "states (no mean file, no readable data source): give --resize N (the size the images were "
                   "stored at) or --labels META.json (the data converter's, which records it).")
    if pre.get("mean_image") and pre.get("resize") and list(pre["resize"]) != list(pre["mean_image"]["shape"][1:]):
        raise fail(f"--resize {pre['resize']} differs from the mean image's size {pre['mean_image']['shape'][1:]}; Caffe "
                   "subtracts the mean at the uncropped position, so images are resized to the mean's size.")
    C, H, W = (shp[1:] + [0, 0, 0])[:3] if len(shp) == 4 else (0, 0, 0)
    if deploy and len(shp) == 4 and crop_size is None and pre.get("resize") and tuple(pre["resize"]) != (H, W) \
            and H == W:
        pre["crop_size"] = int(H)  # Caffe's TEST transform: a centre crop of the stored image
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


def _meta_mean_file(labels_meta, labels_path):
    """The mean image a data converter's meta.json names (beside the meta.json), when it exists."""
    name = (labels_meta or {}).get("mean_file")
    if not name or not labels_path:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(labels_path)), name)
    return path if os.path.isfile(path) else None


def _deploy_preprocess_known(pre, shp, mean_file, mean_values, scale, crop_size, resize, labels_meta, labels_path):
    """A deploy net says nothing about preprocessing (Caffe keeps it in the train_val's transform_param):
    fill ``pre`` from the data's meta.json where it knows, and refuse, naming the flags, where nobody does.
    Guessing (no mean, scale 1, resize to the input) gives saturated, meaningless scores."""
    from .metadata import set_mean_image

    H, W = shp[2], shp[3]
    stored = (labels_meta or {}).get("images", {}).get("resize") if isinstance(labels_meta, dict) else None
    missing = []
    if not mean_file and mean_values is None:
        meta_mean = _meta_mean_file(labels_meta, labels_path)
        if meta_mean:
            set_mean_image(pre, meta_mean)
        else:
            missing.append("--mean-file MEAN.binaryproto or --mean-value B,G,R (--mean-value 0 for none)")
    if scale is None:
        missing.append("--scale S (the transform_param's scale; 1 for raw 0-255 pixels)")
    if resize is None and crop_size is None and not pre.get("mean_image") and not stored:
        missing.append(f"--resize N (the size images were stored at) and --crop-size C when the net's {H}×{W} "
                       "input is a centre crop of them")
    if missing:
        raise fail("a deploy net does not say how images are preprocessed (Caffe keeps that in the train_val's "
                   "transform_param), and exporting with guessed preprocessing gives meaningless scores. Give "
                   "--train-val TRAIN_VAL.prototxt (its TEST data layer's transform_param is used), or export the "
                   "train_val itself with --from-train-val, or give the missing flags: " + "; ".join(missing) + ".")
    if stored and not pre.get("mean_image") and resize is None:
        pre["resize"] = [int(stored), int(stored)]


def export(model, weights=None, output=None, opset=DEFAULT_OPSET, from_train_val=False, labels=None, heads=None,
           outputs=None, input_size=None, mean_file=None, mean_values=None, scale=None, crop_size=None,
           resize=None, check=True, log=None, train_val=None):
    """Export ``model`` (a deploy prototxt, or a train_val one with ``from_train_val``) with ``weights``
    to ONNX at ``output``; returns ``(onnx.ModelProto, metadata dict, notes)``.  A deploy net takes its
    preprocessing from ``train_val`` (the net it was trained as), else from the flags and ``labels``."""
    import onnx

    from .metadata import build_metadata, read_labels_meta

    if train_val and from_train_val:
        raise fail("--train-val names the train_val of a deploy --model; with --from-train-val the --model is the "
                   "train_val already: give one or the other.")
    net, info, notes, base_dir = build_net(model, weights, from_train_val, outputs, input_size, mean_file)
    if train_val:
        info, base_dir = transform_of_train_val(train_val, mean_file)
    labels_meta = read_labels_meta(labels) if labels else None
    pre = make_preprocess(net, info, base_dir, mean_file, mean_values, scale, crop_size, resize, labels_meta,
                          labels_path=labels)
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
