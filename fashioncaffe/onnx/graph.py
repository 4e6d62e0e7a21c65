"""The ONNX graph under construction and the per-layer context handed to converters."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ..errors import FashionCaffeError


class ExportError(FashionCaffeError):
    """A net (or one of its layers) cannot be exported to ONNX."""


class GraphBuilder:
    """Nodes, initializers and unique value names of the graph being built."""

    def __init__(self, opset: int):
        self.opset = int(opset)
        self.nodes: list = []
        self.inits: dict = {}          # name -> numpy array (converters may still edit them: folding)
        self.used: set = set()
        self.bn: dict = {}             # BatchNormalization output value -> (scale init, bias init, channels)
        self._const_cache: dict = {}
        self.op_types: set = set()

    def unique(self, base: str) -> str:
        base = base or "v"
        name, k = base, 1
        while name in self.used:
            name = f"{base}__{k}"
            k += 1
        self.used.add(name)
        return name

    def init(self, base: str, arr) -> str:
        """Add an initializer (float32 unless integer) and return its name."""
        arr = np.asarray(arr)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        name = self.unique(base)
        self.inits[name] = np.ascontiguousarray(arr)
        return name

    def const(self, arr, dtype=None, base="const") -> str:
        """A small shared constant (shape vectors, scalars)."""
        a = np.asarray(arr, dtype=dtype)
        if a.dtype.kind == "f":
            a = a.astype(np.float32)
        elif a.dtype.kind in "iu":
            a = a.astype(np.int64)
        key = (a.dtype.str, a.shape, a.tobytes())
        name = self._const_cache.get(key)
        if name is None:
            name = self.init(base, a)
            self._const_cache[key] = name
        return name

    def node(self, op: str, inputs, outputs=None, name=None, n_out=1, **attrs):
        """Add a node; ``outputs`` are exact names (already reserved) or None for fresh ones.
        Returns the output name (one output) or the list of names."""
        if outputs is None:
            base = name or op.lower()
            outputs = [self.unique(f"{base}_out" if n_out == 1 else f"{base}_out{i}") for i in range(n_out)]
        elif isinstance(outputs, str):
            outputs = [outputs]
        nname = self.unique(f"{name or op}") if name else self.unique(op)
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), name=nname, **attrs))
        self.op_types.add(op)
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def initializers(self):
        return [numpy_helper.from_array(a, name) for name, a in self.inits.items()]


class LayerContext:
    """What a converter sees of one Caffe layer.

    ``lp`` the LayerParameter; ``layer`` the engine layer (``layer.obj`` for a Python layer);
    ``g`` the GraphBuilder; ``inputs`` the ONNX value of each bottom; ``in_shapes`` / ``out_shapes``
    the engine's shapes (at the export batch size); ``in_dyn`` / ``out_dyn`` the same with ``-1`` on
    every dimension that follows the batch size; ``params`` the layer's blobs as float32 numpy arrays;
    ``name`` the layer name.  ``top(i)`` names the value for top ``i`` (use it for the node that
    produces it); ``fail(msg)`` raises an ExportError naming the layer.
    """

    def __init__(self, exporter, step_index, lp, layer, inputs, in_shapes, out_shapes, in_dyn, out_dyn,
                 top_names):
        self.exporter = exporter
        self.g: GraphBuilder = exporter.g
        self.index = step_index
        self.lp = lp
        self.layer = layer
        self.name = lp.name
        self.inputs = list(inputs)
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.out_shapes = [tuple(s) for s in out_shapes]
        self.in_dyn = [tuple(s) for s in in_dyn]
        self.out_dyn = [tuple(s) for s in out_dyn]
        self._top_names = list(top_names)
        self.opset = exporter.g.opset
        self._params = None

    @property
    def params(self):
        if self._params is None:
            self._params = [np.array(b.data, dtype=np.float32, copy=True) for b in self.layer.blobs]
        return self._params

    @property
    def type_name(self):
        if self.lp.type == "Python":
            return f"Python ({self.lp.python_param.module}.{self.lp.python_param.layer})"
        return self.lp.type

    def top(self, i=0) -> str:
        return self._top_names[i]

    def fail(self, msg: str) -> ExportError:
        return ExportError(f"Layer '{self.name}' (type {self.type_name}) cannot be exported to ONNX: {msg}")

    # -- helpers shared by converters -----------------------------------------------------------
    def consumers_of_input(self, i=0) -> int:
        """How many layers read the value bound to bottom ``i`` (this one included)."""
        return self.exporter.slot_uses[self.exporter.steps[self.index].bottoms[i]]

    def reshape_to(self, x: str, dyn_shape, out=None) -> str:
        """Reshape ``x`` to ``dyn_shape`` (−1 marks the single batch-dependent dimension)."""
        dims = list(dyn_shape)
        if sum(1 for d in dims if d == -1) > 1:
            raise self.fail(f"the target shape {dims} depends on the batch size in more than one axis.")
        return self.g.node("Reshape", [x, self.g.const(np.array(dims, np.int64), base="shape")], out)

    def reduce(self, op: str, x: str, axes, keepdims=1, out=None) -> str:
        """ReduceSum/ReduceMean/ReduceMax with ``axes``, as an attribute or an input by opset."""
        axes = [int(a) for a in axes]
        input_axes = self.opset >= 18 or (op == "ReduceSum" and self.opset >= 13)
        if input_axes:
            return self.g.node(op, [x, self.g.const(np.array(axes, np.int64), base="axes")], out,
                               keepdims=keepdims)
        return self.g.node(op, [x], out, axes=axes, keepdims=keepdims)

    def unsqueeze(self, x: str, axes, out=None) -> str:
        return self.g.node("Unsqueeze", [x, self.g.const(np.array(axes, np.int64), base="axes")], out)

    def slice(self, x: str, starts, ends, axes, steps=None, out=None) -> str:
        ins = [x, self.g.const(np.array(starts, np.int64), base="starts"),
               self.g.const(np.array(ends, np.int64), base="ends"),
               self.g.const(np.array(axes, np.int64), base="axes")]
        if steps is not None:
            ins.append(self.g.const(np.array(steps, np.int64), base="steps"))
        return self.g.node("Slice", ins, out)


def value_info(name, dyn_shape, batch_symbol="N", elem=TensorProto.FLOAT):
    dims = [batch_symbol if d == -1 else int(d) for d in dyn_shape]
    return helper.make_tensor_value_info(name, elem, dims)
