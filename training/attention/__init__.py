"""Attention mechanisms, one per file. Importing this package registers every one of them.

Add a mechanism: write its file (pure function + Mechanism + thin module) and import it here.
"""

from training.attention import (
    additive,  # noqa: F401
    cosine_interaction,  # noqa: F401
    graph_attention,  # noqa: F401
    hierarchical,  # noqa: F401
    local,  # noqa: F401
    luong,  # noqa: F401
    match,  # noqa: F401
    memory_hop,  # noqa: F401
    meta_embedding,  # noqa: F401
    multi_dimensional,  # noqa: F401
    scaled_dot_product,  # noqa: F401
    structured_self,  # noqa: F401
    visual,  # noqa: F401
)
from training.attention.registry import MECHANISMS, get

__all__ = ["MECHANISMS", "get"]
