"""Access: the bearer token (constant-time, UNAUTHENTICATED before any servicer runs, health open
only by setting), TLS and mutual TLS with certificates made here, the client helpers and CLI
over TLS + token, model names that cannot leave the repository, and nothing read from disk being
unpickled or evaluated."""

from __future__ import annotations

import ast
import datetime
import ipaddress
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from attentive.cli import main as cli
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.client import Client, Tls
from server.grpc import app as app_module
from server.grpc.app import AuthInterceptor, BackgroundServer
from server.settings import ServerSettings
from tests.server import fake_repository
from tests.server.conftest import server_settings
from tests.server.helpers import infer_request, outputs_of

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-with-enough-entropy"
X = np.ones((1, 4), np.float32)


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="module")
def small_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = tmp_path_factory.mktemp("access") / "repository"
    fake_repository.plain_model(repository / fake_repository.PLAIN)
    fake_repository.graph_model(repository / fake_repository.GRAPH)
    return repository


# ---- bearer token ----


@pytest.fixture(scope="module")
def guarded(small_repository: Path) -> Iterator[tuple[BackgroundServer, grpc.Channel]]:
    settings = server_settings(small_repository, auth_token=TOKEN, metrics_port=None)
    with (
        BackgroundServer(settings) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield server, channel


BAD_METADATA = {
    "none": None,
    "wrong token": [("authorization", "Bearer nope")],
    "no Bearer": [("authorization", TOKEN)],
    "lower-case bearer": [("authorization", f"bearer {TOKEN}")],
    "trailing space": [("authorization", f"Bearer {TOKEN} ")],
    "token prefix": [("authorization", f"Bearer {TOKEN[:-1]}")],
    "twice": [("authorization", f"Bearer {TOKEN}"), ("authorization", "Bearer nope")],
    "other header": [("x-api-key", TOKEN)],
}


@pytest.mark.parametrize("kind", sorted(BAD_METADATA))
def test_every_rpc_needs_the_token(
    guarded: tuple[BackgroundServer, grpc.Channel], kind: str
) -> None:
    server, channel = guarded
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    taxonomy = tx_grpc.TaxonomyServiceStub(channel)
    metadata = BAD_METADATA[kind]
    plane = server.app.plane  # type: ignore[union-attr]
    before = sum(s.fail.count + s.success.count for s in plane.statistics())
    calls = [
        lambda: stub.ModelInfer(infer_request("plain_affine", {"x": X}), metadata=metadata),
        lambda: stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=metadata),
        lambda: stub.ServerLive(pb.ServerLiveRequest(), metadata=metadata),
        lambda: stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=metadata),
        lambda: stub.RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="plain_affine"), metadata=metadata
        ),
        lambda: taxonomy.ListModels(tx.ListModelsRequest(), metadata=metadata),
        lambda: list(
            stub.ModelStreamInfer(
                iter([infer_request("plain_affine", {"x": X})]), metadata=metadata
            )
        ),
    ]
    for call in calls:
        assert _code(call) == grpc.StatusCode.UNAUTHENTICATED
    # the data plane never saw the requests: nothing counted, the model still loaded
    assert sum(s.fail.count + s.success.count for s in plane.statistics()) == before
    assert plane.model_ready("plain_affine")


def test_the_right_token_passes_and_health_is_open(
    guarded: tuple[BackgroundServer, grpc.Channel],
) -> None:
    _, channel = guarded
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    metadata = [("authorization", f"Bearer {TOKEN}")]
    answer = stub.ModelInfer(infer_request("plain_affine", {"x": X}), metadata=metadata)
    np.testing.assert_array_equal(outputs_of(answer)["y"], 3.0)
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING


def test_health_can_be_closed_too(small_repository: Path) -> None:
    settings = server_settings(
        small_repository, auth_token=TOKEN, health_open=False, metrics_port=None
    )
    with (
        BackgroundServer(settings) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        assert _code(lambda: health.Check(request, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
        metadata = [("authorization", f"Bearer {TOKEN}")]
        assert health.Check(request, timeout=10, metadata=metadata).status == 1


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = app_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    interceptor = AuthInterceptor(TOKEN)
    assert interceptor.allowed([("authorization", f"Bearer {TOKEN}")])
    assert not interceptor.allowed([("authorization", "Bearer x")])
    assert not interceptor.allowed([("authorization", "Bearer \u00e9t\u00e9")])  # non-ASCII
    assert len(compared) == 3 and all(isinstance(a, bytes) for a, _ in compared)
    source = Path(app_module.__file__).read_text()
    assert "== self.expected" not in source and "compare_digest" in source


# ---- TLS ----


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_cert: Path
    other_key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate it signed,
    and a second CA with its own client certificate (trusted by nobody)."""
    folder = tmp_path_factory.mktemp("pki")
    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("ca", "srv", "cli", "oca", "oc")}
    _write(folder, "ca", _issue("Test CA", keys["ca"], "Test CA", keys["ca"], ca=True), keys["ca"])
    server = _issue("localhost", keys["srv"], "Test CA", keys["ca"], server=True)
    _write(folder, "server", server, keys["srv"])
    _write(folder, "client", _issue("client", keys["cli"], "Test CA", keys["ca"]), keys["cli"])
    other = _issue("Other CA", keys["oca"], "Other CA", keys["oca"], ca=True)
    _write(folder, "other-ca", other, keys["oca"])
    _write(folder, "other", _issue("intruder", keys["oc"], "Other CA", keys["oca"]), keys["oc"])
    return Pki(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
        folder / "other-ca.pem",
        folder / "other.pem",
        folder / "other.key",
    )


def _affine(client: Client) -> np.ndarray:
    return client.infer("plain_affine", {"x": X})["y"]


def test_tls_serves_only_tls_clients_that_trust_its_ca(small_repository: Path, pki: Pki) -> None:
    settings = server_settings(
        small_repository, metrics_port=None, tls_cert_file=pki.cert, tls_key_file=pki.key
    )
    with BackgroundServer(settings) as server:
        address = f"localhost:{server.port}"
        with Client(address, timeout=10, tls=Tls(ca_file=pki.ca)) as client:
            np.testing.assert_array_equal(_affine(client), 3.0)
        with Client(f"127.0.0.1:{server.port}", timeout=10, tls=Tls(ca_file=pki.ca)) as client:
            np.testing.assert_array_equal(_affine(client), 3.0)  # the IP SAN
        with Client(address, timeout=5) as plaintext:
            assert _code(lambda: _affine(plaintext)) == grpc.StatusCode.UNAVAILABLE
        with Client(address, timeout=5, tls=Tls(ca_file=pki.other_ca)) as untrusting:
            assert _code(lambda: _affine(untrusting)) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate_from_its_ca(
    small_repository: Path, pki: Pki
) -> None:
    settings = server_settings(
        small_repository,
        metrics_port=None,
        tls_cert_file=pki.cert,
        tls_key_file=pki.key,
        tls_client_ca_file=pki.ca,
        auth_token=TOKEN,
    )
    with BackgroundServer(settings) as server:
        address = f"localhost:{server.port}"
        mine = Tls(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
        with Client(address, token=TOKEN, timeout=10, tls=mine) as client:
            np.testing.assert_array_equal(_affine(client), 3.0)
        with Client(address, timeout=10, tls=mine) as tokenless:
            assert _code(lambda: _affine(tokenless)) == grpc.StatusCode.UNAUTHENTICATED
        for tls in (
            Tls(ca_file=pki.ca),  # no client certificate
            Tls(ca_file=pki.ca, cert_file=pki.other_cert, key_file=pki.other_key),  # wrong CA
        ):
            with Client(address, token=TOKEN, timeout=5, tls=tls) as stranger:
                assert _code(lambda c=stranger: _affine(c)) == grpc.StatusCode.UNAVAILABLE


def test_cli_commands_take_the_token_and_tls(
    small_repository: Path,
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = server_settings(
        small_repository,
        metrics_port=None,
        tls_cert_file=pki.cert,
        tls_key_file=pki.key,
        auth_token=TOKEN,
    )
    with BackgroundServer(settings) as server:
        address = f"localhost:{server.port}"
        argv = ["infer", fake_repository.GRAPH, "--server", address, "--example", "--raw"]
        code = cli([*argv, "--tls-ca", str(pki.ca), "--token", TOKEN])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert '"logits"' in out
        assert cli([*argv, "--tls-ca", str(pki.ca)]) == 1  # no token
        assert "UNAUTHENTICATED" in capsys.readouterr().err
        monkeypatch.setenv("ATTENTIVE_AUTH_TOKEN", TOKEN)
        monkeypatch.setenv("ATTENTIVE_TLS_CA_FILE", str(pki.ca))
        assert cli(argv) == 0  # both from the environment
        capsys.readouterr()
        assert cli(["taxonomy", "list", "--server", address, "--json"]) == 0
        assert fake_repository.GRAPH in capsys.readouterr().out


def test_tls_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="set both or neither"):
        ServerSettings(tls_cert_file=Path(__file__))
    with pytest.raises(ValidationError, match="is not a file"):
        ServerSettings(tls_cert_file=Path("/no/cert.pem"), tls_key_file=Path("/no/key.pem"))
    with pytest.raises(ValidationError, match="mutual TLS"):
        ServerSettings(tls_client_ca_file=Path(__file__))


# ---- the repository is the boundary ----


def test_load_and_unload_cannot_leave_the_repository(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    fake_repository.plain_model(repository / fake_repository.PLAIN)
    fake_repository.plain_model(tmp_path / "outside")  # a valid model next to the repository
    (repository / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    with (
        BackgroundServer(server_settings(repository, metrics_port=None)) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        names = {m.name for m in stub.RepositoryIndex(pb.RepositoryIndexRequest()).models}
        assert names == {fake_repository.PLAIN}  # the symlink out was not served at startup
        for name in ("../outside", str(tmp_path / "outside"), "..", ".", "a/../../outside"):
            request = pb.RepositoryModelLoadRequest(model_name=name)
            error = _code(lambda r=request: stub.RepositoryModelLoad(r, timeout=30))
            assert error == grpc.StatusCode.INVALID_ARGUMENT, name
            unload = pb.RepositoryModelUnloadRequest(model_name=name)
            error = _code(lambda r=unload: stub.RepositoryModelUnload(r, timeout=30))
            assert error == grpc.StatusCode.INVALID_ARGUMENT, name
        linked = pb.RepositoryModelLoadRequest(model_name="linked")
        with pytest.raises(grpc.RpcError) as caught:
            stub.RepositoryModelLoad(linked, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "outside the repository" in caught.value.details()  # type: ignore[attr-defined]
        names = {m.name for m in stub.RepositoryIndex(pb.RepositoryIndexRequest()).models}
        assert names == {fake_repository.PLAIN}


# ---- nothing from disk is unpickled or evaluated ----

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
SERVING_CODE = [
    *sorted((ROOT / "server").rglob("*.py")),
    *sorted((ROOT / "taxonomy").rglob("*.py")),
    ROOT / "attentive" / "commands" / "serve.py",
    ROOT / "attentive" / "commands" / "infer.py",
    ROOT / "attentive" / "settings.py",
]


def test_the_serving_code_never_unpickles_or_evaluates() -> None:
    problems = []
    for path in SERVING_CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad = [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
            elif isinstance(node, ast.ImportFrom):
                bad = (
                    [node.module] if (node.module or "").split(".")[0] in FORBIDDEN_MODULES else []
                )
            elif isinstance(node, ast.Call):
                f = node.func
                name = (
                    f.id
                    if isinstance(f, ast.Name)
                    else f.attr
                    if isinstance(f, ast.Attribute)
                    else ""
                )
                pickled = any(
                    k.arg == "allow_pickle"
                    and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords
                )
                unsafe_yaml = (
                    name == "load"
                    and isinstance(f, ast.Attribute)
                    and getattr(f.value, "id", "") == "yaml"
                )
                builtin = isinstance(f, ast.Name) and name in FORBIDDEN_CALLS
                bad = [name] if builtin or pickled or unsafe_yaml else []
            else:
                bad = []
            problems += [f"{path.relative_to(ROOT)}:{node.lineno}: {b}" for b in bad]  # type: ignore[attr-defined]
    assert problems == []


def test_checkpoints_load_weights_only() -> None:
    """torch.load anywhere in the project passes weights_only=True (no pickled code runs)."""
    calls = []
    for path in sorted([*(ROOT / "training").rglob("*.py"), *(ROOT / "export").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and getattr(node.func.value, "id", "") == "torch"
            ):
                safe = any(
                    k.arg == "weights_only"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in node.keywords
                )
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", safe))
    assert calls and all(safe for _, safe in calls), calls


class _Payload:
    """Unpickling this creates the marker file: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_files_in_the_repository_are_parsed_as_data(tmp_path: Path) -> None:
    """A pickle (that would run code) placed as each file a model folder holds: the model is
    unavailable with a reason, the code never runs, the others serve."""
    repository = tmp_path / "repository"
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    fake_repository.plain_model(repository / fake_repository.PLAIN)
    victims = {}
    for file in ("card.json", "tokenizer.json", "config.pbtxt", "1/model.onnx"):
        name = "victim_" + file.split("/")[-1].split(".")[0]
        fake_repository.translator(repository / name)  # named after its folder
        (repository / name / file).write_bytes(payload)
        victims[name] = file
    with (
        BackgroundServer(server_settings(repository, metrics_port=None)) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        index = {m.name: m for m in stub.RepositoryIndex(pb.RepositoryIndexRequest()).models}
        for name in victims:
            assert index[name].state == "UNAVAILABLE" and index[name].reason, (name, index[name])
        assert index[fake_repository.PLAIN].state == "READY"
        answer = stub.ModelInfer(infer_request(fake_repository.PLAIN, {"x": X}), timeout=30)
        np.testing.assert_array_equal(outputs_of(answer)["y"], 3.0)
    assert not marker.exists()
