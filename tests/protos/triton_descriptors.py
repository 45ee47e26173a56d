"""Print, as JSON, the message fields, enums and service methods of Triton's own compiled
definitions (shipped in tritonclient). Run in a subprocess: tritonclient's `inference` package
would clash with ours in one protobuf pool."""

from __future__ import annotations

import json
import sys
from typing import Any

from google.protobuf import descriptor_pb2


def table(files: list[descriptor_pb2.FileDescriptorProto]) -> dict[str, Any]:
    """{"messages": {full name: {field: [number, type, label, type_name]}}, "enums": ...,
    "methods": {service.method: [input, output, client_streaming, server_streaming]}}."""
    messages: dict[str, dict[str, list[Any]]] = {}
    enums: dict[str, dict[str, int]] = {}
    methods: dict[str, list[Any]] = {}

    def walk(prefix: str, msg: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{msg.name}"
        messages[name] = {f.name: [f.number, f.type, f.label, f.type_name] for f in msg.field}
        for e in msg.enum_type:
            enums[f"{name}.{e.name}"] = {v.name: v.number for v in e.value}
        for nested in msg.nested_type:
            walk(name, nested)

    for fd in files:
        prefix = f".{fd.package}"
        for msg in fd.message_type:
            walk(prefix, msg)
        for e in fd.enum_type:
            enums[f"{prefix}.{e.name}"] = {v.name: v.number for v in e.value}
        for svc in fd.service:
            for m in svc.method:
                methods[f"{prefix}.{svc.name}.{m.name}"] = [
                    m.input_type,
                    m.output_type,
                    m.client_streaming,
                    m.server_streaming,
                ]
    return {"messages": messages, "enums": enums, "methods": methods}


def main() -> None:
    from tritonclient.grpc import model_config_pb2, service_pb2

    files = []
    for module in (service_pb2, model_config_pb2):
        fd = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(fd)
        files.append(fd)
    json.dump(table(files), sys.stdout)


if __name__ == "__main__":
    main()
