"""Converting between numpy arrays and Caffe's BlobProto, and reading/writing ``.binaryproto`` files.

A BlobProto's shape is its ``shape`` message, unless any of the legacy ``num``/``channels``/
``height``/``width`` fields is present, in which case it is those four (as in Caffe).  Values are in
``data`` (float) or ``double_data`` (double; preferred when non-empty), gradients likewise in
``diff``/``double_diff``.  Mean images from ``compute_image_mean`` are BlobProtos in
``mean.binaryproto`` files.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import fail
from ..proto import caffe_pb2
from .atomic import atomic_write_bytes

__all__ = [
    "blob_shape",
    "blobproto_to_array",
    "array_to_blobproto",
    "blobprotovector_to_arrays",
    "arrays_to_blobprotovector",
    "arraylist_to_blobprotovector_str",
    "blobprotovector_str_to_arraylist",
    "read_blobproto",
    "read_binaryproto",
    "write_binaryproto",
    "read_proto_file",
]


def blob_shape(blob: caffe_pb2.BlobProto) -> tuple:
    """The shape Caffe gives ``blob``: the legacy 4-D fields if any is set, else ``shape.dim``."""
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return (blob.num, blob.channels, blob.height, blob.width)
    return tuple(int(d) for d in blob.shape.dim)


def blobproto_to_array(blob: caffe_pb2.BlobProto, return_diff: bool = False, name: str = "blob") -> np.ndarray:
    """Return the blob's values (or its diff) as a numpy array of the blob's shape.

    float32 for ``data``/``diff``, float64 for ``double_data``/``double_diff``.  ``name`` labels the
    blob in the error raised when the value count does not match the shape.
    """
    doubles = blob.double_diff if return_diff else blob.double_data
    if len(doubles):
        values, dtype = doubles, np.float64
    else:
        values, dtype = (blob.diff if return_diff else blob.data), np.float32
    # upb hands repeated scalars to numpy without a per-element Python loop.
    arr = np.array(values, dtype=dtype)
    shape = blob_shape(blob)
    count = int(np.prod(shape, dtype=np.int64))
    if arr.size != count:
        what = "diff" if return_diff else "data"
        raise fail(f"{name}: holds {arr.size} {what} value(s) but its shape {list(shape)} needs {count}.",
                   like=ValueError)  # pycaffe's reshape raises ValueError
    return arr.reshape(shape)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _packed_floats(field_number: int, arr: np.ndarray) -> bytes:
    raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if not raw:
        return b""
    return _varint(field_number << 3 | 2) + _varint(len(raw)) + raw


def array_to_blobproto(arr, diff=None, legacy_4d: bool = False) -> caffe_pb2.BlobProto:
    """Make a BlobProto with float32 ``data`` (and ``diff`` when given) and the array's shape.

    The shape goes in the ``shape`` message, as Caffe writes weights, or with ``legacy_4d`` in
    ``num``/``channels``/``height``/``width``, as Caffe's ``compute_image_mean`` writes means (the
    array must then be 4-D).  ``diff`` must have as many values as ``arr``.
    """
    arr = np.asarray(arr)
    # Filling a repeated field value by value is slow for large arrays (seconds for a VGG layer);
    # encoding the packed wire form directly and parsing it is a memory copy.
    wire = _packed_floats(5, arr.ravel())
    if diff is not None:
        diff = np.asarray(diff)
        if diff.size != arr.size:
            raise fail(f"array_to_blobproto: diff has {diff.size} values but data has {arr.size}.", like=ValueError)
        wire += _packed_floats(6, diff.ravel())
    if legacy_4d:
        if arr.ndim != 4:
            raise fail(f"array_to_blobproto: legacy_4d needs a 4-D array, got shape {list(arr.shape)}.",
                       like=ValueError)
        blob = caffe_pb2.BlobProto.FromString(wire)
        blob.num, blob.channels, blob.height, blob.width = (int(d) for d in arr.shape)
        return blob
    shape = caffe_pb2.BlobShape(dim=[int(d) for d in arr.shape]).SerializeToString()
    wire += _varint(7 << 3 | 2) + _varint(len(shape)) + shape
    return caffe_pb2.BlobProto.FromString(wire)


def blobprotovector_to_arrays(vec: caffe_pb2.BlobProtoVector) -> list:
    """Arrays of every blob in a BlobProtoVector."""
    return [blobproto_to_array(b, name=f"blob {i}") for i, b in enumerate(vec.blobs)]


def arrays_to_blobprotovector(arrays) -> caffe_pb2.BlobProtoVector:
    """A BlobProtoVector holding one blob per array."""
    vec = caffe_pb2.BlobProtoVector()
    for a in arrays:
        vec.blobs.append(array_to_blobproto(a))
    return vec


def arraylist_to_blobprotovector_str(arraylist) -> bytes:
    """pycaffe's name: serialized BlobProtoVector of the arrays."""
    return arrays_to_blobprotovector(arraylist).SerializeToString()


def blobprotovector_str_to_arraylist(data: bytes) -> list:
    """pycaffe's name: arrays from a serialized BlobProtoVector."""
    vec = caffe_pb2.BlobProtoVector()
    vec.ParseFromString(data)
    return blobprotovector_to_arrays(vec)


def read_proto_file(path, message, what: str):
    """Parse binary protobuf file ``path`` into ``message`` and return it; ``what`` names the file kind."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise fail(f"{path}: file does not exist (expected {what}).")
    if os.path.isdir(path):
        raise fail(f"{path}: is a directory, not {what}.")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise fail(f"{path}: cannot be read ({e.strerror}).") from None
    if not data:
        raise fail(f"{path}: is empty (0 bytes); expected {what}. A copy or download that failed, or a write "
                   "that was interrupted, leaves such a file.")
    try:
        message.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError (or RuntimeError from upb) on bad bytes
        hint = ""
        if data[:8] == b"\x89HDF\r\n\x1a\n":
            hint = " It is an HDF5 file; give it a .h5 name so it is read as one."
        elif data.lstrip()[:1].isalpha():
            hint = " It looks like a text file; binary protobuf was expected."
        raise fail(f"{path}: cannot be parsed as {what} ({len(data)} bytes; protobuf says: {e}).{hint}") from None
    return message


def read_blobproto(path) -> caffe_pb2.BlobProto:
    """Read a ``.binaryproto`` file into a BlobProto message."""
    return read_proto_file(path, caffe_pb2.BlobProto(), "a binary BlobProto file (.binaryproto)")


def read_binaryproto(path) -> np.ndarray:
    """Read a ``.binaryproto`` file (e.g. ``mean.binaryproto``) as an array of the blob's shape."""
    return blobproto_to_array(read_blobproto(path), name=os.fspath(path))


def write_binaryproto(path, arr, legacy_4d: bool = False) -> None:
    """Write ``arr`` as a BlobProto file, atomically (``legacy_4d``: see array_to_blobproto)."""
    atomic_write_bytes(path, array_to_blobproto(arr, legacy_4d=legacy_4d).SerializeToString())
