"""Multi30k task 1 (Elliott et al. 2016): aligned English/German/French image descriptions.

Files under ``<data>/multi30k/``: ``{train,val,test_2016_flickr}.{en,de,fr}``, one sentence a
line, aligned by line number (29,000 / 1,014 / 1,000 lines).
"""

from __future__ import annotations

from pathlib import Path

SPLIT_FILES = {"train": "train", "val": "val", "test": "test_2016_flickr"}


def read_pairs(
    data_dir: Path, split: str, src: str = "en", tgt: str = "de"
) -> list[tuple[str, str]]:
    stem = SPLIT_FILES[split]
    folder = Path(data_dir) / "multi30k"
    source = (folder / f"{stem}.{src}").read_text(encoding="utf-8").splitlines()
    target = (folder / f"{stem}.{tgt}").read_text(encoding="utf-8").splitlines()
    if len(source) != len(target):
        raise ValueError(f"multi30k {split}: {len(source)} {src} lines vs {len(target)} {tgt}")
    return [(s.strip(), t.strip()) for s, t in zip(source, target, strict=True)]
