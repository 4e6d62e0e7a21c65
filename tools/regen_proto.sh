#!/usr/bin/env bash
# Regenerate fashioncaffe/proto/caffe_pb2.py from fashioncaffe/proto/caffe.proto.
#
# Uses the protoc bundled with grpcio-tools, so no system protoc is needed.  The proto path is the
# proto folder itself, so the descriptor is registered as "caffe.proto" (the name BVLC's module uses).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proto_dir="$repo/fashioncaffe/proto"
python="${PYTHON:-python}"
"$python" -m grpc_tools.protoc --proto_path="$proto_dir" --python_out="$proto_dir" "$proto_dir/caffe.proto"
echo "wrote $proto_dir/caffe_pb2.py"
