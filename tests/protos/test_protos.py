"""The generated stubs never drift from the .proto files, and our `inference` package is
wire-compatible with Triton's (same names, numbers and types as tritonclient's compiled files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from protos import generate
from tests.protos.triton_descriptors import table

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_proto_files(tmp_path: Path) -> None:
    fresh = tmp_path / "gen"
    generate.generate(fresh)
    assert generate.diff(fresh, generate.GEN) == []


def test_check_reports_drift(tmp_path: Path) -> None:
    stale = tmp_path / "gen"
    generate.generate(stale)
    victim = stale / "inference" / "grpc_service_pb2.py"
    victim.write_text(victim.read_text() + "# edited\n")
    (stale / "extra.py").write_text("")
    assert generate.main(["--check", "--out", str(stale)]) == 1
    fresh = tmp_path / "fresh"
    generate.generate(fresh)
    assert generate.diff(fresh, stale) == ["extra.py", "inference/grpc_service_pb2.py"]


def test_generated_modules_import_inside_the_package() -> None:
    from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc
    from protos.gen.inference import grpc_service_pb2, grpc_service_pb2_grpc

    assert grpc_service_pb2.DESCRIPTOR.package == "inference"
    assert hasattr(grpc_service_pb2_grpc, "GRPCInferenceServiceStub")
    assert hasattr(taxonomy_pb2_grpc, "TaxonomyServiceStub")


@pytest.fixture(scope="module")
def triton() -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("triton_descriptors.py"))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def ours() -> dict:
    from protos.gen.inference import grpc_service_pb2, model_config_pb2

    files = []
    for module in (grpc_service_pb2, model_config_pb2):
        fd = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(fd)
        files.append(fd)
    return json.loads(json.dumps(table(files)))


def test_every_message_and_field_matches_triton(ours: dict, triton: dict) -> None:
    for name, fields in ours["messages"].items():
        assert name in triton["messages"], f"{name} is not a Triton message"
        theirs = triton["messages"][name]
        for field, spec in fields.items():
            assert theirs.get(field) == spec, (
                f"{name}.{field}: ours {spec}, Triton {theirs.get(field)}"
            )


def test_our_messages_carry_every_triton_field(ours: dict, triton: dict) -> None:
    # Left out on purpose: sequence batching and ensembles (see model_config.proto).
    left_out = {".inference.ModelConfig": {"sequence_batching", "ensemble_scheduling"}}
    for name, fields in ours["messages"].items():
        missing = set(triton["messages"][name]) - set(fields) - left_out.get(name, set())
        assert not missing, f"{name} lacks Triton fields {sorted(missing)}"


def test_enums_and_methods_match_triton(ours: dict, triton: dict) -> None:
    for name, values in ours["enums"].items():
        assert triton["enums"][name] == values, name
    for name, spec in ours["methods"].items():
        assert triton["methods"].get(name) == spec, name
    required = {
        "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
        "ModelInfer", "ModelStreamInfer", "ModelConfig", "ModelStatistics", "RepositoryIndex",
        "RepositoryModelLoad", "RepositoryModelUnload",
    }  # fmt: skip
    served = {n.rsplit(".", 1)[1] for n in ours["methods"]}
    assert required <= served
