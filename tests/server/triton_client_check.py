"""Drive a running server with Triton's own client (tritonclient.grpc) and print what it saw as
JSON. Run as a subprocess: tritonclient's compiled `inference` package and ours cannot share one
protobuf pool. Imports neither protos.gen nor server.

    python tests/server/triton_client_check.py HOST:PORT REPOSITORY
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from taxonomy.query import load_cards  # noqa: E402

NUMPY = {
    "INT64": np.int64,
    "INT32": np.int32,
    "FP32": np.float32,
    "FP64": np.float64,
    "BOOL": np.bool_,
}


def encode(datatype: str, shape: list[int], data: list[Any]) -> np.ndarray:
    if datatype == "BYTES":
        return np.array([str(d).encode() for d in data], dtype=np.object_).reshape(shape)
    return np.array(data, dtype=NUMPY[datatype]).reshape(shape)


def jsonable(array: np.ndarray) -> dict[str, Any]:
    if array.dtype == np.object_:
        data = [b.decode() if isinstance(b, bytes) else str(b) for b in array.ravel()]
        return {"datatype": "BYTES", "shape": list(array.shape), "data": data}
    return {
        "datatype": str(array.dtype),
        "shape": list(array.shape),
        "data": array.ravel().tolist(),
    }


def synthesize(metadata: Any, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Inputs for a model without a card: -1 dimensions become 2, small values."""
    inputs = []
    for t in metadata.inputs:
        if t.datatype == "BYTES":
            return []
        shape = [2 if d < 0 else int(d) for d in t.shape]
        count = int(np.prod(shape))
        if t.datatype.startswith("FP"):
            data = np.round(rng.standard_normal(count), 3).tolist()
        else:
            data = rng.integers(0, 3, count).tolist()
        inputs.append({"name": t.name, "datatype": t.datatype, "shape": shape, "data": data})
    return inputs


def infer(client: triton.InferenceServerClient, model: str, inputs: list[dict[str, Any]]) -> dict:
    tensors = []
    for t in inputs:
        array = encode(t["datatype"], t["shape"], t["data"])
        tensor = triton.InferInput(t["name"], list(array.shape), t["datatype"])
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    try:
        result = client.infer(model, tensors, client_timeout=60)
    except InferenceServerException as error:
        return {"inputs": inputs, "error": f"{error.status()}: {error.message()}"}
    response = result.get_response()
    outputs = {o.name: jsonable(result.as_numpy(o.name)) for o in response.outputs}
    return {"inputs": inputs, "outputs": outputs}


def main(address: str, repository: Path) -> dict[str, Any]:
    client = triton.InferenceServerClient(address)
    rng = np.random.default_rng(0)
    seen: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server_metadata": client.get_server_metadata(as_json=True),
        "index": client.get_model_repository_index(as_json=True).get("models", []),
        "models": {},
    }
    cards = {e.name: e for e in load_cards(repository)}
    for name in sorted(cards):
        entry = cards[name]
        model: dict[str, Any] = {"ready": client.is_model_ready(name)}
        seen["models"][name] = model
        try:
            metadata = client.get_model_metadata(name)
            model["metadata"] = client.get_model_metadata(name, as_json=True)
            model["config"] = client.get_model_config(name, as_json=True)["config"]
        except InferenceServerException as error:
            model["error"] = f"{error.status()}: {error.message()}"
            continue
        examples = (
            [(e.name, [t.model_dump() for t in e.inputs]) for e in entry.card.examples]
            if entry.card
            else [("synthesized", synthesize(metadata, rng))]
        )
        model["requests"] = {ex: infer(client, name, inputs) for ex, inputs in examples if inputs}
        model["statistics"] = client.get_inference_statistics(name, as_json=True)
    return seen


if __name__ == "__main__":
    json.dump(main(sys.argv[1], Path(sys.argv[2])), sys.stdout)
