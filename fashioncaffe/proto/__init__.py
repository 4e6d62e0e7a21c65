"""Caffe's protobuf schema as a Python module: ``from fashioncaffe.proto import caffe_pb2``.

``caffe_pb2`` is generated from ``caffe.proto`` in this folder by ``tools/regen_proto.sh`` and is
committed, so importing it needs only the protobuf runtime (see README.md for the minimum version).
"""

from . import caffe_pb2

__all__ = ["caffe_pb2"]
