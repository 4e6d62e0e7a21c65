"""Export of deploy nets to ONNX (``fashioncaffe export``) and what the models carry for inference.

    from fashioncaffe.onnx import export_net
    model = export_net(net, "model.onnx", opset=17, metadata=...)

Converters: one small function per Caffe layer type (:mod:`.converters`), registered by type name;
Python layers are looked up by ``module.Class`` (:func:`register_python_converter`) or by an
``onnx_converter`` attribute on the layer class.  See :mod:`.exporter` for the graph construction,
:mod:`.deploy` for ``--from-train-val`` and :mod:`.metadata` for the stored preprocessing/labels.
"""
from .graph import ExportError, LayerContext  # noqa: F401
from .registry import (converter, converter_types, python_converter, python_converter_keys,  # noqa: F401
                       register_converter, register_python_converter)
from .exporter import DEFAULT_OPSET, export_net  # noqa: F401
from .api import export  # noqa: F401
