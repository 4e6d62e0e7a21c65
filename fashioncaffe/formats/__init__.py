"""Caffe's file formats: models, solver snapshots, blobs and mean files, Datum LMDBs.

(pycaffe's ``caffe.io`` — image preprocessing and the BlobProto/Datum helpers pycaffe scripts call —
is :mod:`fashioncaffe.io`, built on these.)

- :mod:`.model_files`: models and solver states in either format, chosen by the file name
  (the functions exported here); :mod:`.caffemodel` the binary protobuf files, :mod:`.hdf5` the
  ``.h5`` variants.
- :mod:`.weights`: ``Net.copy_from`` / ``Net.save`` (Caffe's layer-name matching rules).
- :mod:`.blobproto`: BlobProto <-> numpy, ``.binaryproto`` mean files, BlobProtoVector.
- :mod:`.lmdb_datum`: Datum records and LMDB access for the data layers and tools.

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
from .caffemodel import SolverStateData, read_solverstate_proto
from .hdf5 import read_caffemodel_h5, read_solverstate_h5, write_caffemodel_h5, write_solverstate_h5
from .model_files import (
    is_hdf5_path,
    iter_layer_blobs,
    read_caffemodel,
    read_solverstate,
    write_caffemodel,
    write_solverstate,
)

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
