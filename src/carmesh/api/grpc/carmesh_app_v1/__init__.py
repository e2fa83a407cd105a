"""Generated protobuf and gRPC modules of ``carmesh.app.v1`` (the app host).

Do not edit ``app_pb2*``: change ``src/carmesh/api/grpc/proto/carmesh/app/v1/app.proto`` and
run ``scripts/gen-proto.sh``.
"""
