"""pycaffe's ``caffe.draw``: a NetParameter as a Graphviz graph (layers as boxes, blobs as
octagons), rendered with pydot and Graphviz's ``dot`` program (Debian package ``graphviz``).

    from google.protobuf import text_format
    net = caffe_pb2.NetParameter(); text_format.Merge(open("train_val.prototxt").read(), net)
    caffe.draw.draw_net_to_file(net, "net.png", "LR", phase=caffe.TRAIN)

Layer boxes name the layer and its type (Pooling with its method), with kernel/stride/pad for
spatial layers and, with ``display_lrm``, the learning-rate multipliers of learning layers.  An
in-place layer (one bottom, the same top) is drawn in a lighter colour.  Edges out of a layer are
labelled with the batch size (Data), the output count (Convolution, Deconvolution, InnerProduct).
``phase`` keeps the layers a net of that phase would hold by their ``include``/``exclude`` phase
rules (None: every layer).  ``fashioncaffe draw_net`` is BVLC's ``python/draw_net.py``.
"""
from __future__ import annotations

import os

from .errors import fail
from .proto import caffe_pb2

__all__ = ["get_pooling_types_dict", "get_edge_label", "get_layer_lr_mult", "get_layer_label",
           "choose_color_by_layertype", "get_pydot_graph", "draw_net", "draw_net_to_file"]

_BLOB_STYLE = {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}
_INPLACE_COLOR = "#90EE90"
_TYPE_COLORS = {"Convolution": "#FF5050", "Deconvolution": "#FF5050", "Pooling": "#FF9900",
                "InnerProduct": "#CC33FF"}
_DEFAULT_COLOR = "#6495ED"
_LEARNING_TYPES = ("Convolution", "Deconvolution", "InnerProduct")


def _pydot():
    import pydot

    return pydot


def get_pooling_types_dict():
    """{PoolMethod number: name} (0: MAX, 1: AVE, 2: STOCHASTIC)."""
    enum = caffe_pb2.PoolingParameter.PoolMethod.DESCRIPTOR
    return {value.number: name for name, value in enum.values_by_name.items()}


def get_edge_label(layer):
    """The label of the edges leaving ``layer`` (a quoted empty string when there is none)."""
    if layer.type == "Data":
        return f"Batch {layer.data_param.batch_size}"
    if layer.type in ("Convolution", "Deconvolution"):
        return str(layer.convolution_param.num_output)
    if layer.type == "InnerProduct":
        return str(layer.inner_product_param.num_output)
    return '""'


def get_layer_lr_mult(layer):
    """(weights lr_mult, bias lr_mult) of a learning layer; 1.0 where the prototxt gives none."""
    if layer.type not in _LEARNING_TYPES:
        raise ValueError(f"{layer.type} layers do not have a learning rate multiplier")
    specs = list(layer.param)
    if len(specs) > 2:
        raise ValueError(f"Could not parse the learning rate multiplier of layer '{layer.name}' "
                         f"({len(specs)} param specs)")
    mults = [spec.lr_mult if spec.HasField("lr_mult") else 1.0 for spec in specs]
    return tuple(mults + [1.0] * (2 - len(mults)))


def _first(values, default):
    return values[0] if len(values) else default


def get_layer_label(layer, rankdir, display_lrm=False):
    """A layer's box text, quoted for dot: lines stacked for a horizontal graph (LR/RL), separated by
    spaces for a vertical one (TB/BT)."""
    sep = " " if rankdir in ("TB", "BT") else r"\n"
    if layer.type == "Pooling":
        kind = f"({layer.type} {get_pooling_types_dict()[layer.pooling_param.pool]})"
    else:
        kind = f"({layer.type})"
    parts = [layer.name, kind]
    if layer.type == "Pooling":
        p = layer.pooling_param
        parts.append(sep.join([f"kernel size: {p.kernel_size}", f"stride: {p.stride}", f"pad: {p.pad}"]))
    elif layer.type in ("Convolution", "Deconvolution"):
        p = layer.convolution_param
        parts.append(sep.join([f"kernel size: {_first(p.kernel_size, 1)}", f"stride: {_first(p.stride, 1)}",
                               f"pad: {_first(p.pad, 0)}"]))
    if display_lrm and layer.type in _LEARNING_TYPES:
        weights_lr, bias_lr = get_layer_lr_mult(layer)
        if weights_lr or bias_lr:
            parts.append(f"lr mult: {weights_lr:.1f}, {bias_lr:.1f}")
    return '"' + sep.join(parts) + '"'


def choose_color_by_layertype(layertype):
    return _TYPE_COLORS.get(layertype, _DEFAULT_COLOR)


def _in_phase(layer, phase) -> bool:
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError(f"layer {layer.name} has both include and exclude specified.")
    if len(layer.include):
        return any(rule.phase == phase for rule in layer.include)
    return not any(rule.phase == phase for rule in layer.exclude)


def _quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def get_pydot_graph(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """The net as a ``pydot.Dot`` digraph."""
    pydot = _pydot()
    graph = pydot.Dot(_quoted(caffe_net.name or "Net"), graph_type="digraph", rankdir=rankdir)
    blob_nodes = {}

    def blob_node(name):
        if name not in blob_nodes:
            node = pydot.Node(_quoted(f"blob:{name}"), label=_quoted(name), **_BLOB_STYLE)
            graph.add_node(node)
            blob_nodes[name] = node
        return blob_nodes[name]

    for i, layer in enumerate(caffe_net.layer):
        if not _in_phase(layer, phase):
            continue
        inplace = len(layer.bottom) == 1 and len(layer.top) == 1 and layer.bottom[0] == layer.top[0]
        color = _INPLACE_COLOR if inplace else choose_color_by_layertype(layer.type)
        node = pydot.Node(_quoted(f"layer{i}:{layer.name}"), label=get_layer_label(layer, rankdir, display_lrm),
                          shape="record", style="filled", fillcolor=color)
        graph.add_node(node)
        for bottom in layer.bottom:
            graph.add_edge(pydot.Edge(blob_node(bottom), node))
        edge_label = get_edge_label(layer) if label_edges else '""'
        for top in layer.top:
            graph.add_edge(pydot.Edge(node, blob_node(top), label=_quoted(edge_label.strip('"'))))
    return graph


def draw_net(caffe_net, rankdir, ext="png", phase=None, display_lrm=False):
    """The drawing as bytes in format ``ext`` (png, pdf, svg, ... anything ``dot -T`` knows)."""
    graph = get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm)
    try:
        return graph.create(format=ext)
    except FileNotFoundError as e:
        raise fail("caffe.draw needs Graphviz's 'dot' program, which is not on PATH: install Graphviz (Debian: "
                   "apt-get install graphviz).", like=FileNotFoundError) from e


def draw_net_to_file(caffe_net, filename, rankdir="LR", phase=None, display_lrm=False):
    """Write the drawing to ``filename`` in the format its extension names; ``.raw`` writes the dot
    source instead."""
    ext = os.path.splitext(filename)[1].lstrip(".") or "png"
    if ext == "raw":
        data = get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm).to_string().encode()
    else:
        data = draw_net(caffe_net, rankdir, ext, phase, display_lrm)
    with open(filename, "wb") as f:
        f.write(data)
