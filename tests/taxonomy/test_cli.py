"""`attentive taxonomy` end to end over a hand-made repository, and its import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attentive.cli import main
from taxonomy.axes import AXES
from taxonomy.card import ModelCard

ROOT = Path(__file__).resolve().parents[2]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["taxonomy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def listed(out: str) -> set[str]:
    """Model names in the first column of a `list` table (header and summary line excluded)."""
    lines = out.strip().splitlines()
    return {line.split()[0] for line in lines[1:-1]} if len(lines) > 1 else set()


def test_list_all(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, err = cli(capsys, "list", "--repository", str(repository))
    assert code == 0
    assert listed(out) == {"transformer", "gat", "abcnn", "seq2seq", "plain", "broken"}
    assert "broken" in err  # the invalid card is reported, not fatal


def test_list_all_of(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "list", "--repository", str(repository), "--sequences", "self")
    assert code == 0 and listed(out) == {"transformer", "gat"}
    _, out, _ = cli(
        capsys, "list", "--repository", str(repository), "--sequences", "self", "distinctive"
    )
    assert listed(out) == {"transformer"}


def test_list_any_and_several_axes(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    base = ["list", "--repository", str(repository)]
    _, out, _ = cli(capsys, *base, "--any", "--sequences", "distinctive", "co-attention")
    assert listed(out) == {"transformer", "abcnn"}
    _, out, _ = cli(capsys, *base, "--sequences", "co-attention", "--positions", "local")
    assert listed(out) == {"abcnn"}
    _, out, _ = cli(capsys, *base, "--positions", "global", "--architecture", "graph")
    assert listed(out) == {"gat"}


def test_list_empty_result(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "list", "--repository", str(repository), "--positions", "hard")
    assert code == 0 and listed(out) == set()
    assert out.startswith("0 of 6")


def test_list_json(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(
        capsys,
        "list",
        "--repository",
        str(repository),
        "--architecture",
        "encoder-decoder",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["query"] == {"all_of": {"architecture": ["encoder-decoder"]}, "any_of": {}}
    models = {m["name"]: m for m in data["models"]}
    assert set(models) == {"transformer", "seq2seq"}
    assert models["seq2seq"]["tags"]["sequences"] == []
    assert models["transformer"]["tags"]["sequences"] == ["distinctive", "self"]


def test_list_unknown_value(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, err = cli(capsys, "list", "--repository", str(repository), "--levels", "three")
    assert code == 2 and out == ""
    assert "single-level" in err and "multi-level" in err


def test_default_repository_from_environment(
    capsys: pytest.CaptureFixture[str], repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTENTIVE_REPOSITORY", str(repository))
    code, out, _ = cli(capsys, "list", "--architecture", "graph")
    assert code == 0 and listed(out) == {"gat"}


def test_missing_repository(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "coverage", "--repository", str(tmp_path / "none"))
    assert code == 1 and "does not exist" in err


def test_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:  # a free port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    code, out, err = cli(capsys, "list", "--server", address)
    assert code == 1 and out == ""
    assert address in err and "UNAVAILABLE" in err


def test_show(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "show", "transformer", "--repository", str(repository))
    assert code == 0
    assert "transformer title" in out
    for path in ("encoder.self", "decoder.self", "decoder.cross"):
        assert path in out
    assert "network-without-rnns" in out


def test_show_json_is_the_card(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "show", "gat", "--repository", str(repository), "--json")
    assert code == 0
    assert ModelCard.model_validate(json.loads(out)) == ModelCard.load(
        repository / "gat" / "card.json"
    )


def test_show_unknown_taxonomy(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "show", "plain", "--repository", str(repository))
    assert code == 0 and "unknown" in out


def test_show_invalid_card(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, _, err = cli(capsys, "show", "broken", "--repository", str(repository))
    assert code == 1 and "invalid card.json" in err


def test_show_unknown_model(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, err = cli(capsys, "show", "bert", "--repository", str(repository))
    assert code == 1 and out == ""
    assert "bert" in err
    assert all(name in err for name in ("transformer", "gat", "abcnn", "plain"))


def test_coverage_table(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "coverage", "--repository", str(repository))
    assert code == 0
    rows = {}
    for line in out.splitlines()[1:]:
        cells = line.split(None, 3) if not line.startswith(" ") else ["", *line.split(None, 2)]
        if len(cells) == 4 and cells[2].isdigit():
            rows[cells[1]] = (int(cells[2]), cells[3])
    assert rows["hard"] == (0, "-")
    assert rows["local"] == (1, "abcnn")
    assert rows["self"] == (2, "gat, transformer")  # repository order: by name
    assert "plain" in out.splitlines()[-1]


def test_coverage_json(capsys: pytest.CaptureFixture[str], repository: Path) -> None:
    code, out, _ = cli(capsys, "coverage", "--repository", str(repository), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["matrix"]["representations"]["multi-representational"] == []
    assert data["matrix"]["architecture"]["graph"] == ["gat"]
    assert sorted(data["untagged"]) == ["broken", "plain"]


def test_axes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "axes", "--json")
    data = json.loads(out)
    assert code == 0
    assert {a: [v["value"] for v in d["values"]] for a, d in data.items()} == {
        axis: [v.value for v in enum] for axis, enum in AXES.items()
    }
    assert data["positions"]["aliases"]["global"] == "soft"
    code, out, _ = cli(capsys, "axes")
    assert code == 0 and all(v.value in out for enum in AXES.values() for v in enum)


def test_no_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys)
    assert code == 2 and "coverage" in err


def test_taxonomy_never_imports_torch_or_onnxruntime(repository: Path) -> None:
    # A fresh interpreter: other tests may have imported torch into this one.
    code = (
        "import sys, taxonomy, taxonomy.query, taxonomy.derive, attentive.commands.taxonomy\n"
        "from attentive.cli import main\n"
        f"repo = {str(repository)!r}\n"
        "for argv in (['list'], ['show', 'gat'], ['coverage'], ['axes']):\n"
        "    assert main(['taxonomy', *argv, *(['--repository', repo] if argv != ['axes'] else [])]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'onnxruntime', 'onnx', 'grpc') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
