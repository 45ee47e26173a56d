"""`attentive infer`: call a running server and print the prediction and where it attended.

    attentive infer MODEL --text "a cat sat on the mat" [--text ...]   (text models)
    attentive infer MODEL --json request.json     (KServe v2 JSON: {"inputs": [...], "outputs": [...]})
    attentive infer MODEL --example [NAME]        (an example from the model's card, via the server)

``--server HOST:PORT`` (default localhost:ATTENTIVE_GRPC_PORT). Prints text outputs, a short
summary of the other outputs, and for each attention output, what each query position attended to
most (with token strings when the model's tokenizer is in the local repository). ``--raw`` prints
the outputs as KServe v2 JSON instead. Never imports torch or onnxruntime.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="input text (repeat for a batch)")
    source.add_argument("--json", type=Path, metavar="FILE", help="KServe v2 JSON request")
    source.add_argument("--example", nargs="?", const="", metavar="NAME", help="a card example")
    parser.add_argument("--server", metavar="HOST:PORT", help="default localhost:<grpc port>")
    parser.add_argument("--output", action="append", dest="outputs", help="outputs to return")
    parser.add_argument("--repository", type=Path, help="local repository, for token strings")
    parser.add_argument("--token", help="auth token (ATTENTIVE_AUTH_TOKEN)")
    add_tls_arguments(parser)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--raw", action="store_true", help="print outputs as KServe v2 JSON")


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """TLS flags of the commands that call the server (each also an ATTENTIVE_* variable)."""
    parser.add_argument("--tls", action="store_true", help="use TLS (ATTENTIVE_TLS)")
    parser.add_argument("--tls-ca", type=Path, help="PEM roots to trust (ATTENTIVE_TLS_CA_FILE)")
    parser.add_argument(
        "--tls-cert", type=Path, help="mutual TLS certificate (ATTENTIVE_TLS_CLIENT_CERT_FILE)"
    )
    parser.add_argument(
        "--tls-key", type=Path, help="mutual TLS key (ATTENTIVE_TLS_CLIENT_KEY_FILE)"
    )
    parser.add_argument(
        "--tls-server-name", help="name the server certificate carries (ATTENTIVE_TLS_SERVER_NAME)"
    )


def client_settings(args: argparse.Namespace) -> Any:
    """ClientSettings from the environment, with the command's flags on top."""
    from server.client import ClientSettings

    flags: dict[str, Any] = {
        "auth_token": getattr(args, "token", None),
        "tls": getattr(args, "tls", False) or None,
        "tls_ca_file": getattr(args, "tls_ca", None),
        "tls_client_cert_file": getattr(args, "tls_cert", None),
        "tls_client_key_file": getattr(args, "tls_key", None),
        "tls_server_name": getattr(args, "tls_server_name", None),
    }
    return ClientSettings(**{k: v for k, v in flags.items() if v is not None})


def _tensor(t: dict[str, Any]) -> np.ndarray:
    from server import codecs

    return codecs.from_list(t["name"], t["datatype"], t["shape"], t["data"])


def _inputs(
    args: argparse.Namespace, client: Any
) -> tuple[dict[str, np.ndarray], list[str] | None]:
    if args.json is not None:
        request = json.loads(args.json.read_text(encoding="utf-8"))
        outputs = [o["name"] for o in request.get("outputs", [])] or None
        return {t["name"]: _tensor(t) for t in request["inputs"]}, outputs
    summary, card = client.card(args.model)
    if card is None:
        raise ValueError(f"model {args.model!r} has no card ({summary.status}); use --json")
    if args.text is not None:
        if not card.io.text_inputs:
            raise ValueError(f"model {args.model!r} takes no text; use --json or --example")
        texts = np.array([t.encode("utf-8") for t in args.text], dtype=object)
        return {card.io.text_inputs[0].name: texts}, None
    examples = {e.name: e for e in card.examples}
    example = examples.get(args.example) if args.example else card.examples[0]
    if example is None:
        raise ValueError(f"no example {args.example!r}; examples: {', '.join(examples)}")
    return {t.name: _tensor(t.model_dump()) for t in example.inputs}, None


def _tokenizer(args: argparse.Namespace, card: Any) -> Any:
    if card is None or not (card.io.text_inputs or card.io.text_outputs):
        return None
    from attentive.settings import Settings

    repository = args.repository or Settings().repository
    name = (card.io.text_inputs or card.io.text_outputs)[0].tokenizer
    path = Path(repository) / args.model / name
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def summarize(
    outputs: dict[str, np.ndarray],
    card: Any,
    source_ids: np.ndarray | None,
    tokenizer: Any,
) -> list[str]:
    """Readable lines: text outputs, other outputs' shapes, and attention argmaxes."""

    def token(i: int) -> str:
        return (tokenizer.id_to_token(int(i)) if tokenizer else None) or f"#{int(i)}"

    lines = []
    text_names = {t.name: t for t in card.io.text_outputs} if card else {}
    ids_of_text = {t.ids_output for t in text_names.values()}
    for name, array in outputs.items():
        if name in text_names:
            for row, text in enumerate(array.reshape(-1)):
                lines.append(f"{name}[{row}]: {bytes(text).decode('utf-8', 'replace')}")
        elif "attention" in name:
            continue
        elif array.dtype.kind == "f" and array.ndim == 2:
            top = array.argmax(axis=-1)
            shown = ", ".join(str(int(c)) for c in top[:10]) + (" ..." if len(top) > 10 else "")
            lines.append(f"{name}: shape {list(array.shape)}; argmax per row: {shown}")
        elif name not in ids_of_text:
            lines.append(f"{name}: shape {list(array.shape)} {array.dtype}")
    for name, array in outputs.items():
        if "attention" not in name:
            continue
        lines.append(f"{name}: shape {list(array.shape)}")
        ids_out = next(
            (outputs[t.ids_output] for t in text_names.values() if t.ids_output in outputs), None
        )
        if array.ndim == 3:  # (B, T, S): each query position's strongest source position
            for b in range(min(array.shape[0], 4)):
                picks = []
                for t in range(array.shape[1]):
                    s = int(array[b, t].argmax())
                    q = token(ids_out[b, t]) if ids_out is not None else f"t{t}"
                    k = (
                        token(source_ids[b, s])
                        if source_ids is not None and s < source_ids.shape[1]
                        else f"s{s}"
                    )
                    picks.append(f"{q}->{k} ({array[b, t, s]:.2f})")
                lines.append(f"  [{b}] " + "  ".join(picks))
        elif array.ndim == 2:  # e.g. (H, E): each head's strongest entries
            for h in range(min(array.shape[0], 8)):
                top = np.argsort(-array[h])[:3]
                lines.append(
                    f"  head {h}: top " + ", ".join(f"#{int(i)} ({array[h, i]:.2f})" for i in top)
                )
    return lines


def run(args: argparse.Namespace) -> int:
    import grpc

    from server.client import Client
    from server.settings import ServerSettings

    address = args.server or f"localhost:{ServerSettings().grpc_port}"
    access = client_settings(args)
    try:
        with Client(
            address, token=access.token(), timeout=args.timeout, tls=access.tls_config()
        ) as client:
            inputs, outputs = _inputs(args, client)
            result = client.infer(args.model, inputs, outputs or args.outputs)
            card = None
            with contextlib.suppress(grpc.RpcError):  # a model without a card still answers
                _, card = client.card(args.model)
    except grpc.RpcError as error:
        print(f"attentive infer: {error.code().name}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    except (ValueError, OSError) as error:
        print(f"attentive infer: error: {error}", file=sys.stderr)
        return 2
    if args.raw:
        from server import codecs

        tensors = []
        for name, array in result.items():
            data = (
                [bytes(x).decode("utf-8", "replace") for x in array.ravel()]
                if array.dtype == object
                else array.ravel().tolist()
            )
            tensors.append(
                {
                    "name": name,
                    "datatype": codecs.datatype_of(array),
                    "shape": list(array.shape),
                    "data": data,
                }
            )
        print(json.dumps({"model_name": args.model, "outputs": tensors}))
        return 0
    tokenizer = _tokenizer(args, card)
    source_ids = None
    if card is not None and args.text is not None and tokenizer is not None:
        encoded = [tokenizer.encode(t).ids for t in args.text]
        width = max(len(e) for e in encoded)
        source_ids = np.full((len(encoded), width), card.io.pad_id or 0, dtype=np.int64)
        for row, e in zip(source_ids, encoded, strict=True):
            row[: len(e)] = e
    elif card is not None:
        ids_inputs = [
            t.name for t in card.io.inputs if t.vocab_size is not None and t.name in inputs
        ]
        source_ids = inputs[ids_inputs[0]] if ids_inputs else None
    print("\n".join(summarize(result, card, source_ids, tokenizer)))
    return 0
