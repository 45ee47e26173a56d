"""Translation quality side by side, as the papers lay it out, from the *exported* models.

``attentive bench quality`` builds every model first (card metrics: BLEU of the ONNX graph on
Multi30k test 2016, perplexity); :func:`report` then adds

* Luong et al.'s Table 4 layout: one row per attention variant, our perplexity and BLEU beside
  their WMT'14 English -> German BLEU (a reference, different data — not a target), plus
  RNNsearch, the Transformer and the no-attention baseline;
* Bahdanau et al.'s figure: BLEU by source-sentence length for the fixed-vector baseline,
  RNNsearch and the best Luong variant — a table and a PNG. Every hypothesis comes from the
  served ``model.onnx`` run by onnxruntime on the test split (text in through the model's own
  ``tokenizer.json``), so both measure what is served.

Standalone, over a repository that holds the models::

    .venv/bin/python -m benchmarks.translation_quality --repository results/quality-full/repository
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import report as report_files

# (model, Luong's row label, their WMT'14 En->De BLEU in Table 4)
TABLE4: list[tuple[str | None, str, float | None]] = [
    ("luong-location", "global (location)", 18.1),
    ("luong-dot", "global (dot)", 18.6),
    ("luong-general", "global (general)", 17.3),
    ("luong-concat", "global (concat)", None),
    ("luong-local-m", "local-m (general)", 18.6),
    (None, "local-p (dot)", 18.0),
    ("luong-local-p", "local-p (general)", 19.0),
]
OTHERS: list[tuple[str, str]] = [
    ("rnnsearch", "RNNsearch: additive (Bahdanau et al.)"),
    ("transformer", "Transformer (Vaswani et al.)"),
    ("seq2seq", "no attention: fixed vector (Cho et al.)"),
]
TRANSLATION_MODELS = {m for m, _, _ in TABLE4 if m} | {m for m, _ in OTHERS}
# Source length in words (whitespace tokens), as in Bahdanau et al.'s figure.
BUCKETS: list[tuple[int, int]] = [(1, 8), (9, 11), (12, 14), (15, 18), (19, 24), (25, 1000)]


def _metric(entry: dict[str, Any] | None, name: str) -> float | None:
    for m in (entry or {}).get("metrics", []):
        if m["name"] == name:
            return float(m["value"])
    return None


def translate(entry: Path, sources: list[str], batch: int = 64) -> list[str]:
    """Greedy translations by the served graph: tokenizer.json in, model.onnx on onnxruntime."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from taxonomy.card import ModelCard

    card = ModelCard.load(entry / "card.json")
    (text_input,) = card.io.text_inputs
    tokenizer = Tokenizer.from_file(str(entry / text_input.tokenizer))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(entry / "1" / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    pad, eos, bos = card.io.pad_id, card.io.eos_id, card.io.bos_id
    encoded = [e.ids[: text_input.max_length] for e in tokenizer.encode_batch(sources)]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    hyps = [""] * len(sources)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        width = max(len(encoded[i]) for i in chunk)
        ids = np.full((len(chunk), width), pad, dtype=np.int64)  # (B, S)
        for row, i in enumerate(chunk):
            ids[row, : len(encoded[i])] = encoded[i]
        (out,) = session.run(["output_ids"], {text_input.ids_input: ids})
        for row, i in zip(out, chunk, strict=True):
            kept: list[int] = []
            for t in row.tolist():
                if t == eos:
                    break
                if t not in (pad, bos):
                    kept.append(int(t))
            hyps[i] = tokenizer.decode(kept)
    return hyps


def bleu_by_length(hyps: list[str], refs: list[str], sources: list[str]) -> list[dict[str, Any]]:
    import sacrebleu

    rows = []
    for low, high in BUCKETS:
        idx = [i for i, s in enumerate(sources) if low <= len(s.split()) <= high]
        if not idx:
            continue
        score = sacrebleu.corpus_bleu([hyps[i] for i in idx], [[refs[i] for i in idx]]).score
        label = f"{low}-{high}" if high < 1000 else f"{low}+"
        rows.append({"bucket": label, "sentences": len(idx), "bleu": round(score, 2)})
    return rows


def plot(by_length: dict[str, list[dict[str, Any]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, rows in by_length.items():
        ax.plot([r["bucket"] for r in rows], [r["bleu"] for r in rows], marker="o", label=name)
    ax.set_xlabel("source sentence length (words)")
    ax.set_ylabel("BLEU (sacrebleu, Multi30k test 2016)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(
    results: dict[str, Any], out_dir: Path, data_dir: Path, repository: Path | None = None
) -> str:
    """Markdown for the translation models among ``results['models']`` (nothing if none); adds
    ``results['translation']`` and writes ``bleu_by_length.png`` beside the results."""
    from training.data import multi30k

    models: dict[str, Any] = results.get("models", {})
    present = [m for m in models if m in TRANSLATION_MODELS]
    if not present:
        return ""
    preset = results.get("preset", "")
    table_rows: list[dict[str, Any]] = []
    for model, label, wmt in [*TABLE4, *[(m, lbl, None) for m, lbl in OTHERS]]:
        entry = models.get(model) if model else None
        if model and model not in models:
            continue
        table_rows.append(
            {
                "system": label,
                "model": model,
                "perplexity": _metric(entry, "perplexity"),
                "bleu": _metric(entry, "bleu"),
                "luong_wmt14_bleu": wmt,
            }
        )
    luong = [
        m for m in present if m.startswith("luong-") and _metric(models[m], "bleu") is not None
    ]
    best = max(luong, key=lambda m: _metric(models[m], "bleu") or 0.0) if luong else None
    curves = [m for m in ("seq2seq", "rnnsearch", best) if m and m in present]
    repository = repository or out_dir / "repository"  # where `bench quality` builds
    pairs = multi30k.read_pairs(data_dir, "test")
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    by_length = {
        m: bleu_by_length(translate(repository / m, sources), refs, sources)
        for m in curves
        if (repository / m / "1" / "model.onnx").exists()
    }
    results["translation"] = {"table4": table_rows, "bleu_by_length": by_length, "best_luong": best}
    md = [
        f"\n## Translation, Multi30k En->De test 2016 ({preset} preset), after Luong et al. "
        "Table 4\n",
        "BLEU: sacrebleu 13a on the exported graph's greedy output (onnxruntime). Perplexity: "
        "teacher-forced per BPE token (PyTorch, the exported weights). The WMT'14 column is "
        "the paper's (other data, 4-layer LSTMs, beam search): a reference, not a target.\n",
        report_files.table(
            ["system", "model", "ppl (ours)", "BLEU (ours)", "BLEU Luong WMT'14"],
            [
                [
                    r["system"],
                    r["model"] or "—",
                    r["perplexity"],
                    r["bleu"],
                    r["luong_wmt14_bleu"],
                ]
                for r in table_rows
            ],
        ),
    ]
    if by_length:
        png = out_dir / "bleu_by_length.png"
        out_dir.mkdir(parents=True, exist_ok=True)
        plot(by_length, png, f"BLEU by source length ({preset} preset)")
        buckets = [r["bucket"] for r in next(iter(by_length.values()))]
        counts = {r["bucket"]: r["sentences"] for r in next(iter(by_length.values()))}
        md += [
            "\n## BLEU by source-sentence length (after Bahdanau et al., Fig. 2)\n",
            f"Fixed-vector baseline vs attention (best Luong variant: {best}); exported graphs "
            f"on onnxruntime. Plot: `{png.name}`.\n",
            report_files.table(
                ["model", *[f"{b} ({counts[b]})" for b in buckets]],
                [[m, *[r["bleu"] for r in rows]] for m, rows in by_length.items()],
            ),
        ]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repository", required=True, type=Path)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from attentive.settings import Settings
    from taxonomy.card import ModelCard

    data = args.data or Settings().data
    models: dict[str, Any] = {}
    for entry in sorted(args.repository.iterdir()):
        if entry.name in TRANSLATION_MODELS and (entry / "card.json").exists():
            card = ModelCard.load(entry / "card.json")
            models[entry.name] = {"metrics": [m.model_dump(mode="json") for m in card.metrics]}
    out = args.out or args.repository.parent
    results: dict[str, Any] = {"preset": "", "models": models}
    md = report(results, out, data, args.repository)
    report_files.write(out, "translation", results, md)
    print(md)
    print(json.dumps({"wrote": str(out / "translation.json")}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
