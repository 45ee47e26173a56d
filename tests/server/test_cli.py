"""`attentive infer` against the session server, and the server never importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attentive.cli import main as cli
from taxonomy.query import CardEntry
from tests.server.helpers import example_array, reference

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_infer_text_prints_translation_and_attention(
    capsys: pytest.CaptureFixture[str], address: str, repository: Path, zoo: list[CardEntry]
) -> None:
    texts = [e for e in zoo if e.card and e.card.io.text_inputs and e.card.io.text_outputs]
    if not texts:
        pytest.skip("no text model in the repository")
    entry = texts[0]
    code, out, err = _run(
        capsys, "infer", entry.name, "--server", address, "--text", "a cat sat",
        "--repository", str(repository),
    )  # fmt: skip
    assert code == 0, err
    text_output = entry.card.io.text_outputs[0].name  # type: ignore[union-attr]
    assert f"{text_output}[0]: " in out
    assert "->" in out  # for each output token, the source token attended to most


def test_infer_example_raw_equals_onnxruntime(
    capsys: pytest.CaptureFixture[str], address: str, repository: Path, zoo: list[CardEntry]
) -> None:
    for entry in zoo:
        card = entry.card
        assert card is not None
        example = next(e for e in card.examples if all(t.datatype != "BYTES" for t in e.inputs))
        code, out, err = _run(
            capsys, "infer", entry.name, "--server", address, "--example", example.name, "--raw"
        )
        assert code == 0, err
        got = {
            t["name"]: np.asarray(t["data"]).reshape(t["shape"]) for t in json.loads(out)["outputs"]
        }
        want = reference(
            repository / entry.name, {t.name: example_array(t) for t in example.inputs}
        )
        for name, array in want.items():
            np.testing.assert_allclose(got[name], array, rtol=1e-5, atol=1e-6)


def test_infer_json_file(
    capsys: pytest.CaptureFixture[str], address: str, tmp_path: Path, roles: dict[str, str]
) -> None:
    request = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 1, 2, 3]}],
        "outputs": [{"name": "y"}],
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    code, out, err = _run(
        capsys, "infer", roles["plain"], "--server", address, "--json", str(path), "--raw"
    )
    assert code == 0, err
    assert json.loads(out)["outputs"][0]["data"] == [1.0, 3.0, 5.0, 7.0]


def test_infer_reports_server_errors(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, _, err = _run(capsys, "infer", "no_such_model", "--server", address, "--text", "a")
    assert code == 1 and "NOT_FOUND" in err


def test_server_and_clients_never_import_torch() -> None:
    probe = (
        "import sys\n"
        "import server.grpc.app, server.dataplane, server.client\n"
        "import attentive.commands.serve, attentive.commands.infer\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'training', 'export'))]\n"
        "print(bad)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
