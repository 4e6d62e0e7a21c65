"""Derive a deploy net from a train_val net (``fashioncaffe export --from-train-val``).

Caffe's deploy convention, done mechanically on the TEST phase of the net:

* the data layer that produces the images becomes ``Input`` (1 × C × crop × crop — the transform's
  crop size, else the mean image's or the stored images' size); its label tops, and every other data
  layer (label LMDBs, HDF5 targets), are dropped;
* loss and accuracy layers are removed: ``SoftmaxWithLoss`` becomes a ``Softmax`` of its scores and
  ``SigmoidCrossEntropyLoss`` (and the weighted sigmoid cross-entropy Python layer) a ``Sigmoid`` —
  named ``prob`` for the main softmax (largest loss weight), ``<scores>_prob`` otherwise — so the outputs are
  probabilities; other losses (Euclidean, ...) leave their prediction bottom as an output;
* Python layers that are losses (class name ending in ``Loss``, or a non-zero ``loss_weight``) are
  removed, and so is every layer left without its bottoms (label processing, task weighting);
* with ``outputs``, only the layers those blobs need are kept (e.g. GoogLeNet without its auxiliary
  classifiers).

The TEST data layer's ``transform_param`` becomes the model's preprocessing metadata.
"""
from __future__ import annotations

import os

from ..errors import fail
from ..proto import caffe_pb2

DATA_TYPES = ("Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData", "Input")
_PROB_LOSSES = {"SoftmaxWithLoss": "Softmax", "SigmoidCrossEntropyLoss": "Sigmoid"}
#: Python losses (module.Class) whose deploy form is an activation of bottom[0]
PYTHON_LOSS_ACTIVATIONS = {
    "layers.weighted_sigmoid_ce.WeightedSigmoidCrossEntropyLoss": "Sigmoid",
}


def _py_key(lp):
    return f"{lp.python_param.module}.{lp.python_param.layer}"


def _is_python_loss(lp):
    if lp.type != "Python":
        return False
    return lp.python_param.layer.endswith("Loss") or any(w != 0 for w in lp.loss_weight) or \
        _py_key(lp) in PYTHON_LOSS_ACTIVATIONS


def _first_datum_shape(source):
    """(C, H, W) of the first image of a Datum LMDB (decoding an encoded one), or None."""
    try:
        from ..formats.lmdb_datum import DatumReader, datum_to_array

        r = DatumReader(source)
        try:
            arr = datum_to_array(r.datum(0), what=source)
        finally:
            r.close()
        return tuple(int(d) for d in arr.shape)
    except Exception:  # noqa: BLE001 -- an unreadable source only means "unknown"
        return None


def derive_deploy(param, base_dir=None, outputs=None, input_size=None, mean_file=None, channels=None):
    """Return ``(deploy NetParameter, transform info, notes)`` for a (V2, upgraded) train_val ``param``.

    ``transform info`` is a dict: ``transform`` (the TEST data layer's TransformationParameter or None),
    ``input_shape`` (C, H, W), ``stored_size`` (H, W of the images before the crop, when known).
    ``notes`` lists what was removed or replaced (for the CLI to print).
    """
    from ..netstate import filter_net, make_state
    from ..upgrade import upgrade_net

    param = upgrade_net(param)
    param = filter_net(param, make_state(caffe_pb2.TEST))
    notes = []
    out = caffe_pb2.NetParameter()
    out.name = param.name
    available = set()
    data_done = False
    info = {"transform": None, "input_shape": None, "stored_size": None}
    # the main softmax (largest loss weight, last among equals) becomes "prob", as in Caffe's deploy nets
    prob_layers = [lp for lp in param.layer if lp.type == "SoftmaxWithLoss"]
    main_softmax = None
    if prob_layers:
        weight = [(lp.loss_weight[0] if lp.loss_weight else 1.0) for lp in prob_layers]
        best = max(weight)
        main_softmax = [lp for lp, w in zip(prob_layers, weight) if w == best][-1].name
    for lp in param.layer:
        if lp.type in DATA_TYPES:
            if data_done or not lp.top:
                notes.append(f"removed data layer '{lp.name}' ({lp.type}; tops {', '.join(lp.top)})")
                continue
            data_done = True
            shape = _input_shape(lp, base_dir, input_size, mean_file, channels, info)
            new = out.layer.add()
            new.name, new.type = lp.name, "Input"
            new.top.append(lp.top[0])
            new.input_param.shape.add().dim.extend([1] + list(shape))
            available.add(lp.top[0])
            if len(lp.top) > 1:
                notes.append(f"data layer '{lp.name}' → Input '{lp.top[0]}' {[1] + list(shape)}; dropped label "
                             f"top(s) {', '.join(lp.top[1:])}")
            else:
                notes.append(f"data layer '{lp.name}' → Input '{lp.top[0]}' {[1] + list(shape)}")
            continue
        act = _PROB_LOSSES.get(lp.type)
        if lp.type == "Python" and _py_key(lp) in PYTHON_LOSS_ACTIVATIONS:
            act = PYTHON_LOSS_ACTIVATIONS[_py_key(lp)]
        if lp.type.endswith("Loss") or lp.type == "Accuracy" or _is_python_loss(lp):
            if act and lp.bottom and lp.bottom[0] in available:
                new = out.layer.add()
                src = lp.bottom[0]
                top = "prob" if (lp.name == main_softmax and "prob" not in available) else f"{src}_prob"
                new.name, new.type = (top if top == "prob" else f"{lp.name}_prob"), act
                new.bottom.append(src)
                new.top.append(top)
                if act == "Softmax" and lp.softmax_param.HasField("axis"):
                    new.softmax_param.axis = lp.softmax_param.axis
                available.add(top)
                notes.append(f"loss layer '{lp.name}' ({lp.type}) → {act} '{top}' of '{src}'")
            else:
                notes.append(f"removed {'accuracy' if lp.type == 'Accuracy' else 'loss'} layer '{lp.name}' "
                             f"({lp.type if lp.type != 'Python' else 'Python ' + _py_key(lp)})")
            continue
        missing = [b for b in lp.bottom if b not in available]
        if missing:
            notes.append(f"removed layer '{lp.name}' ({lp.type}): needs {', '.join(missing)}, which the deploy net "
                         "does not have")
            continue
        new = out.layer.add()
        new.CopyFrom(lp)
        new.ClearField("include")
        new.ClearField("exclude")
        new.ClearField("loss_weight")
        if new.HasField("transform_param"):
            new.ClearField("transform_param")
        available.update(lp.top)
    if not data_done:
        raise fail("--from-train-val: the net has no data layer in the TEST phase to turn into an Input layer.")
    if outputs:
        out = _prune(out, list(outputs), notes)
    return out, info, notes


def _prune(net, wanted, notes):
    produced = {t for lp in net.layer for t in lp.top}
    missing = [w for w in wanted if w not in produced]
    if missing:
        raise fail(f"--outputs: the deploy net has no blob(s) {', '.join(missing)} (blobs: {', '.join(sorted(produced))}).")
    need = set(wanted)
    keep = []
    for lp in reversed(net.layer):
        if lp.type == "Input" or any(t in need for t in lp.top):
            keep.append(lp)
            need.update(lp.bottom)
        else:
            notes.append(f"pruned layer '{lp.name}' ({lp.type}): not needed for {', '.join(wanted)}")
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    for lp in reversed(keep):
        out.layer.add().CopyFrom(lp)
    return out


def _input_shape(lp, base_dir, input_size, mean_file, channels, info):
    from .metadata import resolve_path

    tp = lp.transform_param
    info["transform"] = tp
    C = channels
    if C is None:
        if tp.force_gray:
            C = 1
        elif tp.force_color:
            C = 3
    stored = None
    mf = mean_file or (tp.mean_file if tp.HasField("mean_file") else "")
    if mf:
        path = resolve_path(mf, base_dir)
        if os.path.exists(path):
            from ..data_pipeline.transform import load_mean

            m = load_mean(path, lp.name)
            C = C or int(m.shape[0])
            stored = (int(m.shape[1]), int(m.shape[2]))
    if lp.type == "ImageData":
        ip = lp.image_data_param
        if ip.new_height and ip.new_width:
            stored = stored or (int(ip.new_height), int(ip.new_width))
        if C is None:
            C = 3 if ip.is_color else 1
    if lp.type == "Data" and (stored is None or C is None):
        src = resolve_path(lp.data_param.source, base_dir)
        shp = _first_datum_shape(src) if os.path.exists(src) else None
        if shp:
            C = C or int(shp[0])
            stored = stored or (int(shp[1]), int(shp[2]))
    if lp.type in ("MemoryData",):
        mp = lp.memory_data_param
        C = C or int(mp.channels)
        stored = stored or (int(mp.height), int(mp.width))
    if lp.type == "Input" and lp.input_param.shape:
        d = list(lp.input_param.shape[0].dim)
        if len(d) == 4:
            C = C or int(d[1])
            stored = stored or (int(d[2]), int(d[3]))
    if lp.type == "DummyData" and lp.dummy_data_param.shape:
        d = list(lp.dummy_data_param.shape[0].dim)
        if len(d) == 4:
            C = C or int(d[1])
            stored = stored or (int(d[2]), int(d[3]))
    C = C or 3
    if input_size:
        hw = (int(input_size), int(input_size))
    elif tp.crop_size:
        hw = (int(tp.crop_size), int(tp.crop_size))
    elif stored:
        hw = stored
    else:
        raise fail(f"--from-train-val: cannot tell the input size of data layer '{lp.name}' (no crop_size, no mean "
                   "file, no readable source); pass --input-size N.")
    info["input_shape"] = (C,) + tuple(hw)
    info["stored_size"] = stored
    return (C,) + tuple(hw)
