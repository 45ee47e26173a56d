"""Attention pictures: what a served model attended to, drawn from one request to the server.

`attentive show` asks the server for the model's card, builds the request from the user's input,
and hands the answer to the family that draws the card's attention outputs (registry.py):
translation alignments, captions over the image, a graph node's neighbourhood, sentence-pair
matrices, memory hops, hierarchical word/sentence weights. Each family returns a View that draws
itself as a matplotlib Figure (Agg, no pyplot) or as text. Never imports torch or onnxruntime."""

from __future__ import annotations

from typing import Any

from attentive.pictures.registry import Query, View, family_for


def picture(client: Any, query: Query) -> View:
    """One request for ``query`` through ``client`` (server.client.Client), as a View.

    Raises grpc.RpcError from the server, ValueError (registry.NoAttention, NoRenderer, bad
    input) before or after it."""
    summary, card = client.card(query.model)
    if card is None:
        raise ValueError(
            f"model {query.model!r} has no card ({summary.status or 'unknown'}): its outputs are "
            "not described, so there is no attention to draw"
        )
    family = family_for(card)
    inputs = family.request(card, query)
    outputs = client.infer(query.model, inputs)
    return family.view(card, query, inputs, outputs)
