"""Pinned sources in the registry: commit forms and the URLs built from them (no network)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from training.datasets import registry

# Abbreviated pins whose full SHA could not be confirmed offline (docs/datasets-sources.md).
ABBREVIATED = {"harvardnlp/MemN2N": "f32f9531", "castorini/MP-CNN-Torch": "68cb72f6"}

CONFIRMED_FULL = {
    "tkipf/gcn": "39a4089fe72ad9f055ed6fdb9746abdcfebc4d81",
    "Diego999/pyGAT": "3664f2dc90cbf971564c0bf186dc794f12446d0c",
    "multi30k/dataset": "a3d2e0d26b56f3846f66a952536ffed4e401d05a",
    "brmson/dataset-sts": "e1d3375f5b3bc24f21aa4e46f96eb379e9fc1081",
}


def _pinned() -> dict[str, set[str]]:
    """repo -> commits of every URL that names a commit (mirrors name a branch instead)."""
    out: dict[str, set[str]] = {}
    for dataset in registry.DATASETS.values():
        for source in dataset.sources:
            for url in source.urls:
                parts = urlsplit(url).path.strip("/").split("/")
                repo = f"{parts[0]}/{parts[1]}"
                commit = parts[3] if urlsplit(url).netloc == "github.com" else parts[2]
                if commit != "master":
                    out.setdefault(repo, set()).add(commit)
    return out


def test_github_url_forms() -> None:
    full = "a" * 40
    raw = f"https://raw.githubusercontent.com/o/r/{full}/p/f"
    assert registry.github("o/r", full, "p/f") == raw
    assert registry.github("o/r", "abcdef12", "p/f") == "https://github.com/o/r/raw/abcdef12/p/f"


def test_every_pin_is_full_except_the_documented_abbreviations() -> None:
    pinned = _pinned()
    for repo, commits in pinned.items():
        for commit in commits:
            if repo in ABBREVIATED:
                assert commit == ABBREVIATED[repo]
            else:
                assert re.fullmatch(r"[0-9a-f]{40}", commit), (repo, commit)
    for repo, commit in CONFIRMED_FULL.items():
        assert pinned[repo] == {commit}
