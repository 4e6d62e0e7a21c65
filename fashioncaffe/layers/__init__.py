"""The engine's layer catalogue: one module per Caffe layer family, each registering its types.

Importing this package registers every family (a new family is one more module in the import
below); ``layer_class(type_name)`` finds a layer by the Caffe type name used in prototxt.
"""
from .base import Layer, TRAIN, TEST, register, layer_class, layer_type_list  # noqa: F401
from . import (input, vision, neuron, normalization, common, shape, loss,  # noqa: F401  (each registers its types)
               in_memory_data, file_data)


def __getattr__(name):
    # pycaffe scripts write `from caffe import layers as L; L.Convolution(...)`: since
    # `fashioncaffe.layers` is this package, unknown capitalised names are NetSpec layer factories.
    if name[:1].isupper():
        from .. import net_spec

        return getattr(net_spec.layers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
