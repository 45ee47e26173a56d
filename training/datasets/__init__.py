"""Datasets on a user's machine: a registry of canonical sources with checksums and converters,
the data directory as cache and offline mirror, and safe downloading and parsing.

Imports neither torch nor the server; ``attentive data`` and ``attentive build`` use it.
"""

from training.datasets.registry import DATASETS, Dataset, get, names
from training.datasets.store import DatasetsMissing, ensure_datasets, fetch, status, verify

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetsMissing",
    "ensure_datasets",
    "fetch",
    "get",
    "names",
    "status",
    "verify",
]
