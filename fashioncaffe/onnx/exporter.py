"""Export a fashioncaffe Net (a deploy net: Input layers, no data or loss layers) to an ONNX model.

The graph is written node by node with ``onnx.helper`` from the Net's layer schedule
(``net.schedule``) and the weights in the layers' blobs; each layer is
handed to the converter registered for its type (:mod:`fashioncaffe.onnx.converters`, or the
Python-layer registry).  The batch dimension is symbolic (``N``): every dimension that follows the
batch size is found by propagating shapes for two batch sizes.  Spatial sizes are those of the
net's Input layers (Caffe's deploy nets are built for one input size, and Caffe's pooling padding
depends on it).
"""
from __future__ import annotations

import json

import onnx
from onnx import helper

from .. import __version__ as _fc_version
from ..errors import FashionCaffeError
from . import converters as _converters  # noqa: F401  (registers the built-in converters)
from .graph import ExportError, GraphBuilder, LayerContext, value_info
from .registry import find_converter

DEFAULT_OPSET = 17
MIN_OPSET = 13
METADATA_KEY = "fashioncaffe"


def _type_name(lp):
    if lp.type == "Python":
        return f"Python ({lp.python_param.module}.{lp.python_param.layer})"
    return lp.type


def _propagate(net, batch):
    """Slot shapes of every step for an input batch of ``batch`` (Input layers' other dims kept)."""
    try:
        return net.propagate_shapes(batch)
    except ExportError:
        raise
    except FashionCaffeError as e:
        raise ExportError(f"Net '{net.name}' cannot take a batch of {batch}: {e}") from e


class Exporter:
    def __init__(self, net, opset=DEFAULT_OPSET, extra_outputs=()):
        opset = int(opset)
        top = onnx.defs.onnx_opset_version()
        if not MIN_OPSET <= opset <= top:
            raise ExportError(f"--opset {opset} is not supported: choose {MIN_OPSET} to {top} (the installed onnx "
                              f"{onnx.__version__} knows opsets up to {top}).")
        self.net = net
        self.opset = opset
        self.extra_outputs = [n for n in extra_outputs if n not in net.outputs]
        for n in self.extra_outputs:
            if n not in net.blobs:
                raise ExportError(f"extra output '{n}': net '{net.name}' has no blob of that name.")
        self.g = GraphBuilder(opset)
        self.steps = net.schedule
        self.slot_uses = net.slot_uses()

    def _check_deploy(self):
        from .converters import training_only_reason

        for lp in self.net.param.layer:
            why = training_only_reason(lp)
            if why:
                raise ExportError(f"Layer '{lp.name}' (type {lp.type}) cannot be exported to ONNX: it is {why}. "
                                  "Export a deploy net (Input layer, no data/loss/accuracy layers), or pass "
                                  "--from-train-val to derive one from this train_val net.")

    def build(self) -> onnx.ModelProto:
        net = self.net
        self._check_deploy()
        if not net.input_slots:
            raise ExportError(f"Net '{net.name}' has no Input layer (nor input/input_shape fields); a deploy net "
                              "needs one to define the model's input.")
        batch0 = max(1, int(net.blobs[net.inputs[0]].shape[0]))
        shapes_b = _propagate(net, batch0 + 1)
        shapes = _propagate(net, batch0)  # last: leaves the layers set up for the net's own batch size
        dyn = {}
        for s, shp in shapes.items():
            other = shapes_b[s]
            dyn[s] = tuple(-1 if a != b else a for a, b in zip(shp, other))

        g = self.g
        names = net.slot_names
        outputs = list(net.outputs) + list(self.extra_outputs)
        reserved = {}
        for s, n in zip(net.input_slots, net.inputs):
            reserved[s] = n
        for n in outputs:
            reserved[net.blob_slot(n)] = n
        for n in reserved.values():
            g.used.add(n)
        slot_value = {}
        graph_inputs = []
        for k, step in enumerate(self.steps):
            layer, lp = step.layer, step.param
            if lp.type == "Input":
                for s in step.tops:
                    slot_value[s] = reserved[s]
                    graph_inputs.append(value_info(reserved[s], dyn[s]))
                continue
            fn = find_converter(lp, layer)
            if fn is None:
                if lp.type == "Python":
                    key = f"{lp.python_param.module}.{lp.python_param.layer}"
                    raise ExportError(
                        f"Layer '{lp.name}' (type Python, {key}) cannot be exported to ONNX: no converter is "
                        f"registered for the Python layer {key}. Register one with "
                        "fashioncaffe.onnx.register_python_converter('" + key + "', fn) or give the layer class "
                        "an onnx_converter = 'module:function' attribute.")
                raise ExportError(f"Layer '{lp.name}' (type {lp.type}) cannot be exported to ONNX: the exporter "
                                  f"has no converter for layer type {lp.type}.")
            tops = []
            for i, s in enumerate(step.tops):
                tops.append(reserved[s] if s in reserved else g.unique(names[s]))
            cx = LayerContext(self, k, lp, layer, [slot_value[s] for s in step.bottoms],
                              [shapes[s] for s in step.bottoms], [shapes[s] for s in step.tops],
                              [dyn[s] for s in step.bottoms], [dyn[s] for s in step.tops], tops)
            try:
                produced = fn(cx)
            except ExportError:
                raise
            except Exception as e:  # noqa: BLE001
                raise ExportError(f"Layer '{lp.name}' (type {_type_name(lp)}) cannot be exported to ONNX: the "
                                  f"converter failed with {type(e).__name__}: {e}") from e
            produced = list(produced)
            if len(produced) != len(step.tops):
                raise ExportError(f"Layer '{lp.name}' (type {_type_name(lp)}): the ONNX converter returned "
                                  f"{len(produced)} values for {len(step.tops)} tops.")
            for s, v in zip(step.tops, produced):
                if s in reserved and v != reserved[s]:
                    v = g.node("Identity", [v], reserved[s])
                slot_value[s] = v
        graph_outputs = [value_info(n, dyn[net.blob_slot(n)]) for n in outputs]
        graph = helper.make_graph(g.nodes, net.name or "net", graph_inputs, graph_outputs, g.initializers())
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="fashioncaffe",
                                  producer_version=_fc_version)
        try:
            model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
        except Exception:  # noqa: BLE001 -- older onnx: keep make_model's
            pass
        model.ir_version = max(model.ir_version, 8)
        self.output_shapes = {n: dyn[net.blob_slot(n)] for n in outputs}
        self.input_shapes = {n: dyn[s] for s, n in zip(net.input_slots, net.inputs)}
        return model


def set_metadata(model: onnx.ModelProto, meta: dict) -> None:
    """Store ``meta`` under the ``fashioncaffe`` key, plus flat keys people can read in Netron."""
    del model.metadata_props[:]
    entries = {METADATA_KEY: json.dumps(meta, ensure_ascii=False, separators=(",", ":"))}
    for k in ("input_layout", "channel_order", "crop_size", "scale", "mean_values", "resize"):
        if k in meta.get("preprocess", {}):
            entries[k] = json.dumps(meta["preprocess"][k])
    entries["outputs"] = json.dumps([o["name"] for o in meta.get("outputs", [])])
    entries["labels"] = json.dumps({o["name"]: {"kind": o.get("kind"), "labels": o.get("labels"),
                                                "groups": o.get("groups")} for o in meta.get("outputs", [])},
                                   ensure_ascii=False)
    helper.set_model_props(model, entries)


def export_net(net, path=None, opset=DEFAULT_OPSET, metadata=None, check=True, extra_outputs=()) -> onnx.ModelProto:
    """Convert ``net`` (a TEST-phase deploy Net) to ONNX; write it to ``path`` when given.

    ``metadata``: the dict stored in the model's ``fashioncaffe`` metadata entry (see
    :func:`fashioncaffe.onnx.metadata.build_metadata`); a minimal one (input/output names and shapes)
    is stored when None.  ``extra_outputs``: inner blobs to expose as outputs too (their value at the
    end of their in-place chain), e.g. the logits under a softmax.
    """
    ex = Exporter(net, opset, extra_outputs)
    model = ex.build()
    if metadata is None:
        from .metadata import build_metadata

        metadata = build_metadata(net, ex.input_shapes, ex.output_shapes)
    set_metadata(model, metadata)
    if check:
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as e:
            raise ExportError(f"the exported model of net '{net.name}' fails onnx.checker: {e}") from e
    if path is not None:
        onnx.save_model(model, str(path))
    return model


def op_types(model: onnx.ModelProto) -> list:
    return sorted({n.op_type for n in model.graph.node})
