#!/bin/sh
# Regenerate the Python modules of carmesh's own gRPC API (carmesh.app.v1) from
# src/carmesh/api/grpc/proto with grpcio-tools (pip install grpcio-tools):
#
#     scripts/gen-proto.sh            # uses .venv/bin/python, or $PYTHON
#
# protoc names the modules after the proto package (carmesh.app.v1); they live in the
# package carmesh.api.grpc.carmesh_app_v1 instead, so the generated import is rewritten.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PROTO=src/carmesh/api/grpc/proto
OUT=src/carmesh/api/grpc/carmesh_app_v1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m grpc_tools.protoc -I "$PROTO" \
    --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" \
    carmesh/app/v1/app.proto
for name in app_pb2.py app_pb2.pyi app_pb2_grpc.py; do
    sed 's/^from carmesh\.app\.v1 import /from carmesh.api.grpc.carmesh_app_v1 import /' \
        "$tmp/carmesh/app/v1/$name" > "$OUT/$name"
done
echo "generated $OUT/app_pb2.py, app_pb2.pyi, app_pb2_grpc.py"
