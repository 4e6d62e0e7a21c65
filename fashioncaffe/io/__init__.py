"""Caffe's binary files: models, solver snapshots, blobs and mean files (and pycaffe's ``caffe.io`` helpers).

- :mod:`.caffemodel`: ``.caffemodel`` / ``.solverstate`` (binary protobuf), weight listing for
  ``Net.copy_from``.
- :mod:`.blobproto`: BlobProto <-> numpy, ``.binaryproto`` mean files, BlobProtoVector.
- :mod:`.hdf5`: the ``.h5`` variants of models and solver states.

Every writer replaces its file atomically; every reader raises FashionCaffeError naming the file.
"""

from .blobproto import (
    array_to_blobproto,
    arraylist_to_blobprotovector_str,
    arrays_to_blobprotovector,
    blob_shape,
    blobproto_to_array,
    blobprotovector_str_to_arraylist,
    blobprotovector_to_arrays,
    read_binaryproto,
    read_blobproto,
    write_binaryproto,
)
from .caffemodel import (
    SolverStateData,
    is_hdf5_path,
    iter_layer_blobs,
    read_caffemodel,
    read_solverstate,
    read_solverstate_proto,
    write_caffemodel,
    write_solverstate,
)
from .hdf5 import read_caffemodel_h5, read_solverstate_h5, write_caffemodel_h5, write_solverstate_h5

__all__ = [
    "array_to_blobproto",
    "arraylist_to_blobprotovector_str",
    "arrays_to_blobprotovector",
    "blob_shape",
    "blobproto_to_array",
    "blobprotovector_str_to_arraylist",
    "blobprotovector_to_arrays",
    "read_binaryproto",
    "read_blobproto",
    "write_binaryproto",
    "SolverStateData",
    "is_hdf5_path",
    "iter_layer_blobs",
    "read_caffemodel",
    "read_solverstate",
    "read_solverstate_proto",
    "write_caffemodel",
    "write_solverstate",
    "read_caffemodel_h5",
    "read_solverstate_h5",
    "write_caffemodel_h5",
    "write_solverstate_h5",
]


_PYCAFFE_IO = ("Transformer", "load_image", "resize_image", "oversample", "array_to_datum", "datum_to_array")


def __getattr__(name):
    # `caffe.io` is pycaffe's preprocessing module; since `fashioncaffe.io` is this package, its
    # names are forwarded to fashioncaffe.pyio so `caffe.io.Transformer` keeps working.
    if name in _PYCAFFE_IO:
        from .. import pyio

        return getattr(pyio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
