"""Upgrading legacy Caffe nets and solvers to the current format, as BVLC Caffe does on load.

Nets pass through these steps, each applied only when needed, in Caffe's order:

1. V0 -> V1: ``layers { layer { type: "conv" ... } }`` becomes a V1 layer with an enum type and
   typed ``*_param`` messages; V0 "padding" layers are folded into the following conv/pool layer.
2. Data transformation: ``scale``/``mean_file``/``crop_size``/``mirror`` inside V1 data, image
   data and window data parameters move to ``transform_param``.
3. V1 -> V2: ``layers`` becomes ``layer`` with a type string; ``blobs_lr``/``weight_decay`` become
   ``param { lr_mult decay_mult }`` and V1 ``param`` names become ``param { name }``.
4. Legacy net inputs (``input`` with ``input_dim`` or ``input_shape``) become an ``Input`` layer
   placed first (one layer named "input" whose tops are the inputs, as Caffe builds it).

Every function returns a new message and leaves its argument alone; upgrading an upgraded net
changes nothing.
"""

from __future__ import annotations

from google.protobuf import message as _message

from .errors import fail
from .proto import caffe_pb2

__all__ = [
    "needs_upgrade",
    "upgrade_net",
    "upgrade_solver",
    "V1_TYPE_NAMES",
    "V0_TYPE_TO_V1",
    "SOLVER_TYPE_NAMES",
]

_V1 = caffe_pb2.V1LayerParameter

# V1 enum value -> V2 type string.
V1_TYPE_NAMES = {
    _V1.NONE: "",
    _V1.ABSVAL: "AbsVal",
    _V1.ACCURACY: "Accuracy",
    _V1.ARGMAX: "ArgMax",
    _V1.BNLL: "BNLL",
    _V1.CONCAT: "Concat",
    _V1.CONTRASTIVE_LOSS: "ContrastiveLoss",
    _V1.CONVOLUTION: "Convolution",
    _V1.DATA: "Data",
    _V1.DECONVOLUTION: "Deconvolution",
    _V1.DROPOUT: "Dropout",
    _V1.DUMMY_DATA: "DummyData",
    _V1.EUCLIDEAN_LOSS: "EuclideanLoss",
    _V1.ELTWISE: "Eltwise",
    _V1.EXP: "Exp",
    _V1.FLATTEN: "Flatten",
    _V1.HDF5_DATA: "HDF5Data",
    _V1.HDF5_OUTPUT: "HDF5Output",
    _V1.HINGE_LOSS: "HingeLoss",
    _V1.IM2COL: "Im2col",
    _V1.IMAGE_DATA: "ImageData",
    _V1.INFOGAIN_LOSS: "InfogainLoss",
    _V1.INNER_PRODUCT: "InnerProduct",
    _V1.LRN: "LRN",
    _V1.MEMORY_DATA: "MemoryData",
    _V1.MULTINOMIAL_LOGISTIC_LOSS: "MultinomialLogisticLoss",
    _V1.MVN: "MVN",
    _V1.POOLING: "Pooling",
    _V1.POWER: "Power",
    _V1.RELU: "ReLU",
    _V1.SIGMOID: "Sigmoid",
    _V1.SIGMOID_CROSS_ENTROPY_LOSS: "SigmoidCrossEntropyLoss",
    _V1.SILENCE: "Silence",
    _V1.SOFTMAX: "Softmax",
    _V1.SOFTMAX_LOSS: "SoftmaxWithLoss",
    _V1.SPLIT: "Split",
    _V1.SLICE: "Slice",
    _V1.TANH: "TanH",
    _V1.WINDOW_DATA: "WindowData",
    _V1.THRESHOLD: "Threshold",
}

# V0 type string -> V1 enum value.
V0_TYPE_TO_V1 = {
    "accuracy": _V1.ACCURACY,
    "bnll": _V1.BNLL,
    "concat": _V1.CONCAT,
    "conv": _V1.CONVOLUTION,
    "data": _V1.DATA,
    "dropout": _V1.DROPOUT,
    "euclidean_loss": _V1.EUCLIDEAN_LOSS,
    "flatten": _V1.FLATTEN,
    "hdf5_data": _V1.HDF5_DATA,
    "hdf5_output": _V1.HDF5_OUTPUT,
    "im2col": _V1.IM2COL,
    "images": _V1.IMAGE_DATA,
    "infogain_loss": _V1.INFOGAIN_LOSS,
    "innerproduct": _V1.INNER_PRODUCT,
    "lrn": _V1.LRN,
    "multinomial_logistic_loss": _V1.MULTINOMIAL_LOGISTIC_LOSS,
    "pool": _V1.POOLING,
    "relu": _V1.RELU,
    "sigmoid": _V1.SIGMOID,
    "softmax": _V1.SOFTMAX,
    "softmax_loss": _V1.SOFTMAX_LOSS,
    "split": _V1.SPLIT,
    "tanh": _V1.TANH,
    "window_data": _V1.WINDOW_DATA,
}

_SP = caffe_pb2.SolverParameter
SOLVER_TYPE_NAMES = {
    _SP.SGD: "SGD",
    _SP.NESTEROV: "Nesterov",
    _SP.ADAGRAD: "AdaGrad",
    _SP.RMSPROP: "RMSProp",
    _SP.ADADELTA: "AdaDelta",
    _SP.ADAM: "Adam",
}

# *_param fields that V1 and V2 layers share by name (V2 numbers differ, so they are copied by name).
_V1_PARAM_FIELDS = [
    f.name for f in _V1.DESCRIPTOR.fields
    if f.name.endswith("_param") and f.message_type is not None and f.name != "layer"
]

# V1 data layer parameter fields that carried the transformation, by layer type.
_DATA_PARAM_OF = {
    _V1.DATA: "data_param",
    _V1.IMAGE_DATA: "image_data_param",
    _V1.WINDOW_DATA: "window_data_param",
}
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def _where(source) -> str:
    return f"{source}: " if source else ""


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------

def _needs_v0(net) -> bool:
    return any(l.HasField("layer") for l in net.layers)


def _needs_data(net) -> bool:
    for l in net.layers:
        field = _DATA_PARAM_OF.get(l.type)
        if field and l.HasField(field):
            p = getattr(l, field)
            if any(p.HasField(name) for name in _TRANSFORM_FIELDS):
                return True
    return False


def needs_upgrade(net_param) -> bool:
    """True when ``net_param`` uses any legacy format that :func:`upgrade_net` converts."""
    return (
        len(net_param.layers) > 0
        or len(net_param.input) > 0
        or len(net_param.input_dim) > 0
        or len(net_param.input_shape) > 0
    )


def _for(types, path):
    return {t: path for t in types.split()}


# V0 field -> {V0 type: where the value goes in the V1 layer}.  A path ending in "[]" is a
# repeated field to append to.  Transformation fields go straight to transform_param (Caffe's V0
# upgrade does the same).
_V0_FIELD_TARGETS = {
    "num_output": {"conv": "convolution_param.num_output", "innerproduct": "inner_product_param.num_output"},
    "biasterm": {"conv": "convolution_param.bias_term", "innerproduct": "inner_product_param.bias_term"},
    "weight_filler": {"conv": "convolution_param.weight_filler",
                      "innerproduct": "inner_product_param.weight_filler"},
    "bias_filler": {"conv": "convolution_param.bias_filler", "innerproduct": "inner_product_param.bias_filler"},
    "pad": {"conv": "convolution_param.pad[]", "pool": "pooling_param.pad"},
    "kernelsize": {"conv": "convolution_param.kernel_size[]", "pool": "pooling_param.kernel_size"},
    "group": {"conv": "convolution_param.group"},
    "stride": {"conv": "convolution_param.stride[]", "pool": "pooling_param.stride"},
    "pool": {"pool": "pooling_param.pool"},
    "dropout_ratio": {"dropout": "dropout_param.dropout_ratio"},
    "local_size": {"lrn": "lrn_param.local_size"},
    "alpha": {"lrn": "lrn_param.alpha"},
    "beta": {"lrn": "lrn_param.beta"},
    "k": {"lrn": "lrn_param.k"},
    "source": {"data": "data_param.source", "hdf5_data": "hdf5_data_param.source",
               "images": "image_data_param.source", "window_data": "window_data_param.source",
               "infogain_loss": "infogain_loss_param.source"},
    "batchsize": {"data": "data_param.batch_size", "hdf5_data": "hdf5_data_param.batch_size",
                  "images": "image_data_param.batch_size", "window_data": "window_data_param.batch_size"},
    "scale": _for("data images window_data", "transform_param.scale"),
    "meanfile": _for("data images window_data", "transform_param.mean_file"),
    "cropsize": _for("data images window_data", "transform_param.crop_size"),
    "mirror": _for("data images window_data", "transform_param.mirror"),
    "rand_skip": {"data": "data_param.rand_skip", "images": "image_data_param.rand_skip"},
    "shuffle_images": {"images": "image_data_param.shuffle"},
    "new_height": {"images": "image_data_param.new_height"},
    "new_width": {"images": "image_data_param.new_width"},
    "concat_dim": {"concat": "concat_param.concat_dim"},
    "det_fg_threshold": {"window_data": "window_data_param.fg_threshold"},
    "det_bg_threshold": {"window_data": "window_data_param.bg_threshold"},
    "det_fg_fraction": {"window_data": "window_data_param.fg_fraction"},
    "det_context_pad": {"window_data": "window_data_param.context_pad"},
    "det_crop_mode": {"window_data": "window_data_param.crop_mode"},
    "hdf5_output_param": {"hdf5_output": "hdf5_output_param"},
    # Accepted by V0's schema but used by no V0 layer type.
    "new_num": {},
    "new_channels": {},
}


def _assign(msg, path, value):
    """Store ``value`` at dotted ``path`` inside ``msg`` (see _V0_FIELD_TARGETS)."""
    *parents, leaf = path.split(".")
    for p in parents:
        msg = getattr(msg, p)
    if leaf.endswith("[]"):
        getattr(msg, leaf[:-2]).append(value)
    elif isinstance(value, _message.Message):
        getattr(msg, leaf).CopyFrom(value)
    else:
        setattr(msg, leaf, value)


# ---------------------------------------------------------------------------------------------
# V0 -> V1
# ---------------------------------------------------------------------------------------------

def _fold_padding_layers(net, source):
    """Return the V1 layer list with V0 "padding" layers removed and their pad moved downstream."""
    last_writer = {name: None for name in net.input}  # blob -> index of the layer that last wrote it
    out = []
    for i, conn in enumerate(net.layers):
        v0 = conn.layer
        if v0.type != "padding":
            kept = _V1()
            kept.CopyFrom(conn)
            out.append(kept)
        for j, blob in enumerate(conn.bottom):
            if blob not in last_writer:
                raise fail(f"{_where(source)}V0 layer '{v0.name}' reads blob '{blob}', which no earlier "
                           "layer or net input produces.")
            src = last_writer[blob]
            if src is None or net.layers[src].layer.type != "padding":
                continue
            pad_conn = net.layers[src]
            if v0.type not in ("conv", "pool"):
                raise fail(f"{_where(source)}V0 padding layer '{pad_conn.layer.name}' feeds layer "
                           f"'{v0.name}' of type '{v0.type}'; only conv and pool layers can absorb padding.")
            if len(conn.bottom) != 1 or len(pad_conn.bottom) != 1 or len(pad_conn.top) != 1:
                raise fail(f"{_where(source)}V0 padding layer '{pad_conn.layer.name}' and layer "
                           f"'{v0.name}' must each have exactly one input (and the padding layer one output).")
            out[-1].layer.pad = pad_conn.layer.pad
            out[-1].bottom[j] = pad_conn.bottom[0]
        for blob in conn.top:
            last_writer[blob] = i
    return out


def _v0_layer_to_v1(conn, source):
    """Convert one ``layers { bottom top layer { V0 fields } }`` entry to a V1 layer."""
    v0 = conn.layer
    out = _V1()
    out.bottom.extend(conn.bottom)
    out.top.extend(conn.top)
    t = v0.type
    name = v0.name
    if v0.HasField("name"):
        out.name = name
    if v0.HasField("type"):
        if t not in V0_TYPE_TO_V1:
            raise fail(f"{_where(source)}V0 layer '{name}' has unknown type '{t}'; expected one of "
                       f"{', '.join(sorted(V0_TYPE_TO_V1))}.")
        out.type = V0_TYPE_TO_V1[t]
    out.blobs.extend(v0.blobs)
    out.blobs_lr.extend(v0.blobs_lr)
    out.weight_decay.extend(v0.weight_decay)

    for field, targets in _V0_FIELD_TARGETS.items():
        if not v0.HasField(field):
            continue
        if t not in targets:
            raise fail(f"{_where(source)}V0 layer '{name}' of type '{t}' sets '{field}', "
                       "which that layer type does not take.")
        _assign(out, targets[t], getattr(v0, field))
    return out


def _upgrade_v0(net, source):
    v1 = caffe_pb2.NetParameter()
    if net.HasField("name"):
        v1.name = net.name
    for conn in _fold_padding_layers(net, source):
        v1.layers.append(_v0_layer_to_v1(conn, source))
    v1.input.extend(net.input)
    v1.input_dim.extend(net.input_dim)
    if net.HasField("force_backward"):
        v1.force_backward = net.force_backward
    return v1


# ---------------------------------------------------------------------------------------------
# V1 data transformation, V1 -> V2
# ---------------------------------------------------------------------------------------------

def _upgrade_data_transform(net):
    for l in net.layers:
        field = _DATA_PARAM_OF.get(l.type)
        if not field or not l.HasField(field):
            continue
        p = getattr(l, field)
        for name in _TRANSFORM_FIELDS:
            if p.HasField(name):
                setattr(l.transform_param, name, getattr(p, name))
                p.ClearField(name)


def _v1_layer_to_v2(v1, source):
    if v1.HasField("layer"):
        raise fail(f"{_where(source)}V1 layer '{v1.name}' still holds a V0 'layer' field; "
                   "a net must not mix V0 and V1 layer definitions.")
    out = caffe_pb2.LayerParameter()
    out.bottom.extend(v1.bottom)
    out.top.extend(v1.top)
    if v1.HasField("name"):
        out.name = v1.name
    out.include.extend(v1.include)
    out.exclude.extend(v1.exclude)
    if v1.HasField("type"):
        out.type = V1_TYPE_NAMES[v1.type]
    out.blobs.extend(v1.blobs)

    def spec(i):
        while len(out.param) <= i:
            out.param.add()
        return out.param[i]

    for i, name in enumerate(v1.param):
        spec(i).name = name
    for i, mode in enumerate(v1.blob_share_mode):
        spec(i).share_mode = mode  # same numbering in both enums
    for i, lr in enumerate(v1.blobs_lr):
        spec(i).lr_mult = lr
    for i, decay in enumerate(v1.weight_decay):
        spec(i).decay_mult = decay
    out.loss_weight.extend(v1.loss_weight)
    for field in _V1_PARAM_FIELDS:
        if v1.HasField(field):
            getattr(out, field).CopyFrom(getattr(v1, field))
    return out


def _upgrade_v1(net, source):
    if len(net.layer):
        raise fail(f"{_where(source)}the net has both V1 'layers' and V2 'layer' entries; "
                   "use one format for the whole net.")
    v2 = caffe_pb2.NetParameter()
    v2.CopyFrom(net)
    v2.ClearField("layers")
    for v1 in net.layers:
        v2.layer.append(_v1_layer_to_v2(v1, source))
    return v2


# ---------------------------------------------------------------------------------------------
# Legacy inputs
# ---------------------------------------------------------------------------------------------

def _upgrade_input(net, source):
    inputs = list(net.input)
    shapes = list(net.input_shape)
    dims = list(net.input_dim)
    if shapes or dims:
        if shapes and len(shapes) != len(inputs):
            raise fail(f"{_where(source)}the net declares {len(inputs)} input(s) but "
                       f"{len(shapes)} input_shape(s); give one input_shape per input.")
        if not shapes and len(dims) != 4 * len(inputs):
            raise fail(f"{_where(source)}the net declares {len(inputs)} input(s) but {len(dims)} "
                       "input_dim value(s); give exactly four input_dim values (N, C, H, W) per input.")
        layer = caffe_pb2.LayerParameter(name="input", type="Input")
        for i, name in enumerate(inputs):
            layer.top.append(name)
            shape = layer.input_param.shape.add()
            if shapes:
                shape.CopyFrom(shapes[i])
            else:
                shape.dim.extend(dims[4 * i: 4 * i + 4])
        layers = [layer] + list(net.layer)
        net.ClearField("layer")
        net.layer.extend(layers)
    # Inputs without shapes come from old caffemodels, where dropping them is all that is needed.
    net.ClearField("input")
    net.ClearField("input_shape")
    net.ClearField("input_dim")


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

def upgrade_net(net_param, source=None) -> caffe_pb2.NetParameter:
    """Return a V2 copy of ``net_param`` (V0, V1 or V2 NetParameter); ``source`` names it in errors."""
    net = caffe_pb2.NetParameter()
    net.CopyFrom(net_param)
    if not needs_upgrade(net):
        return net
    if _needs_v0(net):
        net = _upgrade_v0(net, source)
    if _needs_data(net):
        _upgrade_data_transform(net)
    if len(net.layers):
        net = _upgrade_v1(net, source)
    if len(net.input) or len(net.input_dim) or len(net.input_shape):
        _upgrade_input(net, source)
    return net


def upgrade_solver(solver_param, source=None) -> caffe_pb2.SolverParameter:
    """Return a copy of ``solver_param`` with the legacy ``solver_type`` enum turned into ``type``."""
    solver = caffe_pb2.SolverParameter()
    solver.CopyFrom(solver_param)
    if not solver.HasField("solver_type"):
        return solver
    name = SOLVER_TYPE_NAMES[solver.solver_type]
    if solver.HasField("type") and solver.type != name:
        raise fail(f"{_where(source)}the solver sets both the legacy 'solver_type: "
                   f"{_SP.SolverType.Name(solver.solver_type)}' and 'type: \"{solver.type}\"', which "
                   "disagree; keep only 'type'.")
    solver.type = name
    solver.ClearField("solver_type")
    return solver
