"""The survey's taxonomy: four axes plus architecture, each value with a definition and its source.

Chaudhari et al., "An Attentive Survey of Attention Models" (ACM TIST 2021, arXiv:1904.02874),
section 4 (the taxonomy) and section 5 (architectures). Values are plain strings on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SURVEY = "Chaudhari, Mithal, Polatkan, Ramanath: An Attentive Survey of Attention Models, arXiv:1904.02874"


class Sequences(StrEnum):
    """Number of sequences (survey section 4.1)."""

    DISTINCTIVE = "distinctive"
    CO_ATTENTION = "co-attention"
    SELF = "self"


class Levels(StrEnum):
    """Number of abstraction levels (survey section 4.2)."""

    SINGLE = "single-level"
    MULTI = "multi-level"


class Positions(StrEnum):
    """Number of positions (survey section 4.3). "global" is an alias of soft."""

    SOFT = "soft"
    HARD = "hard"
    LOCAL = "local"


class Representations(StrEnum):
    """Number of representations (survey section 4.4)."""

    SINGLE = "single"
    MULTI_REPRESENTATIONAL = "multi-representational"
    MULTI_DIMENSIONAL = "multi-dimensional"


class Architecture(StrEnum):
    """Architectures (survey section 5) plus this project's additions (graph, conv sentence-pair)."""

    ENCODER_DECODER = "encoder-decoder"
    MEMORY_NETWORK = "memory-network"
    NO_RNN = "network-without-rnns"
    GRAPH = "graph"
    CONV_SENTENCE_PAIR = "convolutional-sentence-pair"


Value = Sequences | Levels | Positions | Representations | Architecture

# axis name (as used in cards, the CLI and the gRPC service) -> enum
AXES: dict[str, type[StrEnum]] = {
    "sequences": Sequences,
    "levels": Levels,
    "positions": Positions,
    "representations": Representations,
    "architecture": Architecture,
}

# Spellings accepted on input and what they mean.
ALIASES: dict[str, dict[str, str]] = {
    "positions": {"global": Positions.SOFT.value},
    "sequences": {"inner": Sequences.SELF.value, "co": Sequences.CO_ATTENTION.value},
}


@dataclass(frozen=True)
class Definition:
    text: str
    source: str


DEFINITIONS: dict[StrEnum, Definition] = {
    Sequences.DISTINCTIVE: Definition(
        "Candidate and query states belong to two distinct input and output sequences, as in "
        "encoder-decoder translation where the decoder attends over the encoder's states.",
        f"{SURVEY}, sec. 4.1",
    ),
    Sequences.CO_ATTENTION: Definition(
        "Several input sequences are attended jointly, each one's weights computed in view of "
        "the other(s), as in sentence-pair and visual question answering models.",
        f"{SURVEY}, sec. 4.1",
    ),
    Sequences.SELF: Definition(
        "Self (inner) attention: queries and candidates come from the same sequence, so each "
        "element is represented in terms of the others of its own sequence.",
        f"{SURVEY}, sec. 4.1",
    ),
    Levels.SINGLE: Definition(
        "Attention weights are computed for one level of abstraction of the input only.",
        f"{SURVEY}, sec. 4.2",
    ),
    Levels.MULTI: Definition(
        "Attention is applied at several abstraction levels in turn (e.g. words then sentences), "
        "the output of a lower level serving as the context of the higher one.",
        f"{SURVEY}, sec. 4.2",
    ),
    Positions.SOFT: Definition(
        "Soft (global) attention: a weighted average over all positions of the input, "
        "differentiable end to end. The survey's 'global' attention is the same thing.",
        f"{SURVEY}, sec. 4.3 (Bahdanau et al. 2015; Luong et al. 2015 call it global)",
    ),
    Positions.HARD: Definition(
        "Hard attention: one position (or a few) is sampled from the attention distribution; "
        "not differentiable, trained with REINFORCE-style estimators.",
        f"{SURVEY}, sec. 4.3 (Xu et al. 2015)",
    ),
    Positions.LOCAL: Definition(
        "Local attention: soft attention restricted to a window around a chosen or predicted "
        "position, between soft and hard attention.",
        f"{SURVEY}, sec. 4.3 (Luong et al. 2015)",
    ),
    Representations.SINGLE: Definition(
        "One representation of the input is attended, with one scalar weight per position.",
        f"{SURVEY}, sec. 4.4",
    ),
    Representations.MULTI_REPRESENTATIONAL: Definition(
        "Several representations of the same input (e.g. several embedding sets) are combined "
        "with attention weights over the representations.",
        f"{SURVEY}, sec. 4.4 (Kiela et al. 2018)",
    ),
    Representations.MULTI_DIMENSIONAL: Definition(
        "A weight per feature dimension rather than one scalar per position: a vector of "
        "attention scores for every candidate.",
        f"{SURVEY}, sec. 4.4 (Shen et al. 2018; Lin et al. 2017)",
    ),
    Architecture.ENCODER_DECODER: Definition(
        "An encoder turns the input into representations that a decoder reads, with attention "
        "letting the decoder look back at every encoder state.",
        f"{SURVEY}, sec. 5.1",
    ),
    Architecture.MEMORY_NETWORK: Definition(
        "A memory of facts is read by attention, possibly in several hops, to answer a query.",
        f"{SURVEY}, sec. 5.2",
    ),
    Architecture.NO_RNN: Definition(
        "Networks without recurrence, such as the Transformer, where attention alone relates "
        "positions.",
        f"{SURVEY}, sec. 5.3",
    ),
    Architecture.GRAPH: Definition(
        "Graph neural networks whose nodes attend over their neighbours (this project's addition; "
        "the survey discusses GAT among applications).",
        f"{SURVEY}, sec. 6 (Velickovic et al. 2018); architecture class added by Attentive",
    ),
    Architecture.CONV_SENTENCE_PAIR: Definition(
        "Convolutional networks over a pair of sentences with attention between them (this "
        "project's addition).",
        f"{SURVEY}, sec. 4.1 (Yin et al. 2016); architecture class added by Attentive",
    ),
}


def parse_value(axis: str, text: str) -> StrEnum:
    """Parse one axis value, accepting aliases ("global" -> soft). Raises ValueError naming choices."""
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; valid axes: {', '.join(AXES)}")
    enum = AXES[axis]
    key = ALIASES.get(axis, {}).get(text.strip().lower(), text.strip().lower())
    try:
        return enum(key)
    except ValueError:
        valid = [v.value for v in enum] + list(ALIASES.get(axis, {}))
        raise ValueError(
            f"unknown value {text!r} for axis {axis!r}; valid values: {', '.join(valid)}"
        ) from None
