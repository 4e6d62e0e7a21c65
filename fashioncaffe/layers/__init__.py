"""The engine's layer catalogue: one module per Caffe layer family, each registering its types.

Importing this package registers every family; ``layer_class(type_name)`` finds a layer by the
Caffe type name used in prototxt.
"""
import importlib

from .base import Layer, TRAIN, TEST, register, layer_class, layer_type_list  # noqa: F401

_FAMILIES = [
    "input", "vision", "neuron", "normalization", "common", "shape", "loss", "data_layers",
    "data_readers",
]

for _name in _FAMILIES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:  # a family not written yet must not hide the others
        if _e.name != f"{__name__}.{_name}":
            raise


def __getattr__(name):
    # pycaffe scripts write `from caffe import layers as L; L.Convolution(...)`: since
    # `fashioncaffe.layers` is this package, unknown capitalised names are NetSpec layer factories.
    if name[:1].isupper():
        from .. import net_spec

        return getattr(net_spec.layers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
