"""Attentive's inference server: the Open Inference Protocol (KServe v2, Triton's gRPC definition)
and the taxonomy service over onnxruntime. Never imports torch, training/ or export/.

Layers, outermost first (each imports only the ones below it):
  server.grpc      protocol adapters: thin servicers, protobuf <-> dataclass converters, app
  server.dataplane protocol-free operations: live/ready/metadata/infer/repository/taxonomy
  server.runtime   one onnxruntime session per model: load / predict / unload, providers
  server.repository, server.codecs, server.validate, server.errors, server.metrics, server.types
"""
