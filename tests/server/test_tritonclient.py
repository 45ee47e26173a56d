"""Triton's own client, a client this project did not write, drives every model of the repository
with each card's examples; the outputs equal in-process onnxruntime on the same inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server import codecs
from taxonomy.query import CardEntry, load_cards
from tests.server.helpers import reference

SCRIPT = Path(__file__).with_name("triton_client_check.py")
TOKENIZERS_SKIP = {"BYTES"}


@pytest.fixture(scope="module")
def seen(address: str, repository: Path) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), address, str(repository)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def _array(t: dict[str, Any]) -> np.ndarray:
    return codecs.from_list(t["name"], t["datatype"], t["shape"], t["data"])


def test_server_health_and_metadata(seen: dict[str, Any]) -> None:
    assert seen["live"] is True
    assert seen["ready"] is True
    assert seen["server_metadata"]["name"] == "attentive"
    assert "model_repository" in seen["server_metadata"]["extensions"]


def test_every_model_is_indexed(seen: dict[str, Any], repository: Path) -> None:
    names = {m["name"] for m in seen["index"]}
    assert names == {e.name for e in load_cards(repository)}


def test_ready_models_and_the_corrupt_one(seen: dict[str, Any], roles: dict[str, str]) -> None:
    for name, model in seen["models"].items():
        if name == roles["corrupt"]:
            assert model["ready"] is False
            assert model["error"].startswith("StatusCode.UNAVAILABLE")
        else:
            assert model["ready"] is True, name


def test_metadata_and_config_follow_the_card(seen: dict[str, Any], zoo: list[CardEntry]) -> None:
    for entry in zoo:
        card = entry.card
        assert card is not None
        model = seen["models"][entry.name]
        meta = {t["name"]: t for t in model["metadata"]["inputs"]}
        for spec in card.io.inputs:
            assert meta[spec.name]["datatype"] == spec.datatype
            assert [int(d) for d in meta[spec.name]["shape"]] == spec.shape
        for text in card.io.text_inputs:
            assert meta[text.name]["datatype"] == "BYTES"
        outs = {t["name"]: t for t in model["metadata"]["outputs"]}
        assert {o.name for o in card.io.outputs} | {o.name for o in card.io.text_outputs} == set(
            outs
        )
        config = model["config"]
        assert config["name"] == entry.name
        assert int(config.get("max_batch_size", 0)) == card.io.max_batch_size
        provider = config["parameters"]["execution_provider"]["string_value"]
        assert provider in ("CPUExecutionProvider", "CUDAExecutionProvider")


def test_every_example_matches_onnxruntime(
    seen: dict[str, Any], repository: Path, roles: dict[str, str]
) -> None:
    compared = 0
    for name, model in seen["models"].items():
        if name == roles["corrupt"]:
            continue
        assert model["requests"], f"{name}: no request was made"
        for example, result in model["requests"].items():
            assert "error" not in result, f"{name}/{example}: {result.get('error')}"
            inputs = {t["name"]: _array(t) for t in result["inputs"]}
            got = {
                k: np.asarray(v["data"]).reshape(v["shape"]) for k, v in result["outputs"].items()
            }
            if any(a.dtype == object for a in inputs.values()):
                continue  # text: checked against the tokenizer in test_text_models
            want = reference(repository / name, inputs)
            assert set(want) <= set(got), f"{name}/{example}"
            for out, expected in want.items():
                if expected.dtype.kind in "iub":
                    np.testing.assert_array_equal(got[out], expected, err_msg=f"{name}/{out}")
                else:
                    np.testing.assert_allclose(
                        got[out], expected, rtol=1e-5, atol=1e-6, err_msg=f"{name}/{out}"
                    )
                compared += 1
    assert compared > 0


def test_text_models_answer_text_beside_ids(seen: dict[str, Any], zoo: list[CardEntry]) -> None:
    from tokenizers import Tokenizer

    checked = 0
    for entry in zoo:
        card = entry.card
        assert card is not None
        for text_out in card.io.text_outputs:
            tokenizer = Tokenizer.from_file(str(entry.path / text_out.tokenizer))
            for example, result in seen["models"][entry.name]["requests"].items():
                outputs = result["outputs"]
                assert outputs[text_out.name]["datatype"] == "BYTES"
                ids = np.asarray(outputs[text_out.ids_output]["data"]).reshape(
                    outputs[text_out.ids_output]["shape"]
                )
                texts = outputs[text_out.name]["data"]
                assert len(texts) == ids.shape[0], example
                for row, text in zip(ids, texts, strict=True):
                    kept = []
                    for token in row.tolist():
                        if token == card.io.eos_id:
                            break
                        if token not in (card.io.pad_id, card.io.bos_id):
                            kept.append(token)
                    assert text == tokenizer.decode(kept), f"{entry.name}/{example}"
                    checked += 1
    assert checked > 0 or not any(e.card and e.card.io.text_outputs for e in zoo)


def test_statistics_counted_the_requests(seen: dict[str, Any], roles: dict[str, str]) -> None:
    for name, model in seen["models"].items():
        if name == roles["corrupt"]:
            continue
        stats = model["statistics"]["model_stats"][0]
        assert int(stats["inference_stats"]["success"]["count"]) >= len(model["requests"])
