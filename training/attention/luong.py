"""Global attention (Luong, Pham, Manning 2015): at every decoder step the hidden state h_t
attends over all source states h̄_s, with one of four scores, each a registered mechanism and its
own ONNX local function:

    dot       score(h_t, h̄_s) = h_tᵀ h̄_s                        LuongDot
    general   score(h_t, h̄_s) = h_tᵀ W_a h̄_s                    LuongGeneral
    concat    score(h_t, h̄_s) = v_aᵀ tanh(W_a [h_t; h̄_s])       LuongConcat
    location  a_t = softmax(W_a h_t)   (no source content)       LuongLocation

a_t(s) = softmax_s score(h_t, h̄_s) over the real source positions, c_t = Σ_s a_t(s) h̄_s.
What the score owns (W_a of general and location, v_a of concat) is owned by the mechanism
(inside its function); concat's W_a = [W_1 W_2] splits into two projections of the thin module,
W_2 h̄_s computed once per sentence outside the decoding loop. The location score has one row of
W_a per source position, so it serves sources of at most ``max_positions`` tokens.

Legend: B batch, L queries (decoder steps), S source positions, D hidden dim, A attention dim,
P location positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.additive import additive
from training.attention.base import AttentionLayer, Mechanism
from training.attention.owned import OwnedWeightsCore, masked_softmax
from training.attention.registry import register

_SOFT_SINGLE = Facets(
    positions=frozenset({Positions.SOFT}),
    representations=frozenset({Representations.SINGLE}),
)


def luong_dot(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """query (B, L, D), keys (B, S, D), values (B, S, E), mask broadcastable to (B, L, S).
    Returns out (B, L, E) and weights (B, L, S)."""
    scores = torch.bmm(query, keys.transpose(1, 2))  # (B, L, S)
    weights = masked_softmax(scores, mask)
    return torch.bmm(weights, values), weights


def luong_general(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, weight: Tensor
) -> tuple[Tensor, Tensor]:
    """As :func:`luong_dot` with the bilinear matrix ``weight`` W_a (D_q, D_k):
    score = h_tᵀ W_a h̄_s."""
    scores = torch.bmm(torch.matmul(query, weight), keys.transpose(1, 2))  # (B, L, S)
    weights = masked_softmax(scores, mask)
    return torch.bmm(weights, values), weights


def luong_concat(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, v: Tensor
) -> tuple[Tensor, Tensor]:
    """query (B, L, A) = W_1 h_t, keys (B, S, A) = W_2 h̄_s, v (1, A):
    score = vᵀ tanh(W_1 h_t + W_2 h̄_s) = vᵀ tanh(W_a [h_t; h̄_s]). The same arithmetic as
    Bahdanau's additive score, reached from Luong's concatenation."""
    return additive(query, keys, values, mask, v=v)


def luong_location(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, weight: Tensor
) -> tuple[Tensor, Tensor]:
    """a_t = softmax(W_a h_t) over the first S of P positions; ``weight`` W_a (P, D). ``keys``
    are not scored (the location score ignores source content); only S = values.shape[1]
    matters. Returns out (B, L, E) and weights (B, L, S)."""
    S = values.shape[1]
    # narrow, not [:S]: a slice's length is min(S, P), which export cannot equate with the
    # mask's S, so it specialised S to the example's length
    scores = F.linear(query, weight).narrow(-1, 0, S)  # (B, L, S)
    weights = masked_softmax(scores, mask)
    return torch.bmm(weights, values), weights


def _mechanism(name: str, fn: object, score: str, onnx: str) -> Mechanism:
    return register(
        Mechanism(name=name, fn=fn, score=score, facets=_SOFT_SINGLE, onnx=onnx)  # type: ignore[arg-type]
    )


LUONG_DOT = _mechanism("luong_dot", luong_dot, "h_tᵀ h̄_s", "LuongDot")
LUONG_GENERAL = _mechanism("luong_general", luong_general, "h_tᵀ W_a h̄_s", "LuongGeneral")
LUONG_CONCAT = _mechanism("luong_concat", luong_concat, "v_aᵀ tanh(W_a [h_t; h̄_s])", "LuongConcat")
LUONG_LOCATION = _mechanism(
    "luong_location", luong_location, "a_t = softmax(W_a h_t)", "LuongLocation"
)
SCORES = {
    "dot": LUONG_DOT,
    "general": LUONG_GENERAL,
    "concat": LUONG_CONCAT,
    "location": LUONG_LOCATION,
}


def bilinear_init(query_dim: int, key_dim: int) -> Tensor:
    """W_a for the general score: Xavier-uniform (D_q, D_k)."""
    return nn.init.xavier_uniform_(torch.empty(query_dim, key_dim))


class GlobalAttention(AttentionLayer):
    """Luong global attention with one of the four scores (the thin module).

    ``hidden`` is the size of h_t and of h̄_s (the dot score needs them equal; the model projects
    a bidirectional encoder's states to it); ``attention_dim`` is concat's A; ``max_positions``
    location's P."""

    def __init__(
        self,
        score: str,
        hidden: int,
        *,
        attention_dim: int | None = None,
        max_positions: int = 128,
        query_from: str = "decoder state h_t",
        keys_from: str = "source states h̄_s",
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"unknown Luong score {score!r}; valid: {', '.join(SCORES)}")
        mechanism = SCORES[score]
        super().__init__(mechanism, Sequences.DISTINCTIVE, query_from, keys_from)
        self.score = score
        self.query_proj: nn.Module = nn.Identity()
        self.key_proj: nn.Module = nn.Identity()
        if score == "dot":
            self.core = OwnedWeightsCore(mechanism, {})
        elif score == "general":
            self.core = OwnedWeightsCore(mechanism, {"weight": bilinear_init(hidden, hidden)})
        elif score == "concat":
            A = attention_dim or hidden
            self.query_proj = nn.Linear(hidden, A, bias=False)  # W_1
            self.key_proj = nn.Linear(hidden, A, bias=False)  # W_2
            v = torch.empty(1, A).uniform_(-(A**-0.5), A**-0.5)
            self.core = OwnedWeightsCore(mechanism, {"v": v})
        else:
            weight = torch.empty(max_positions, hidden).uniform_(-(hidden**-0.5), hidden**-0.5)
            self.core = OwnedWeightsCore(mechanism, {"weight": weight})

    def prepare(self, states: Tensor) -> Tensor:
        """What the score reads of the source, once per sentence: (B, S, D) -> keys (B, S, ·)."""
        return self.key_proj(states)

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """query (B, L, D) decoder states, keys from :meth:`prepare`, values (B, S, D).
        Returns the context (B, L, D) and weights (B, L, S)."""
        return self.core(self.query_proj(query), keys, values, mask)
