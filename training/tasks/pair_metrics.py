"""The sentence-pair tasks' metrics, from predictions as plain arrays (no torch).

* Answer selection (WikiQA): MAP and MRR over the questions that have at least one correct
  candidate (the standard filtered protocol: 243 of WikiQA's 633 test questions). Candidates are
  ranked by score, highest first; ties keep the file order (a stable sort).
* Paraphrase identification (MSRP): accuracy and F1 of the positive (paraphrase) class, in %.
* Entailment (SICK): accuracy in %.
* Relatedness (SICK, MSRVID): Pearson r, Spearman ρ (ranks with ties averaged) and MSE.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def average_precision(labels: Sequence[int]) -> float:
    """AP of one ranked candidate list (labels in rank order, 1 = correct)."""
    hits, total = 0, 0.0
    for rank, label in enumerate(labels, 1):
        if label:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def reciprocal_rank(labels: Sequence[int]) -> float:
    for rank, label in enumerate(labels, 1):
        if label:
            return 1.0 / rank
    return 0.0


def map_mrr(
    groups: Sequence[str], labels: Sequence[int], scores: Sequence[float]
) -> dict[str, float]:
    """MAP and MRR over the groups (questions) with at least one positive; ``questions`` counts
    them."""
    by_group: dict[str, list[tuple[float, int]]] = {}
    for g, y, s in zip(groups, labels, scores, strict=True):
        by_group.setdefault(g, []).append((float(s), int(y)))
    aps, rrs = [], []
    for rows in by_group.values():
        if not any(y for _, y in rows):
            continue
        ranked = [y for _, y in sorted(rows, key=lambda r: -r[0])]  # stable: ties in file order
        aps.append(average_precision(ranked))
        rrs.append(reciprocal_rank(ranked))
    if not aps:
        return {"map": 0.0, "mrr": 0.0, "questions": 0.0}
    return {"map": float(np.mean(aps)), "mrr": float(np.mean(rrs)), "questions": float(len(aps))}


def accuracy_f1(labels: Sequence[int], predicted: Sequence[int]) -> dict[str, float]:
    """Accuracy and the positive class's F1, both in %."""
    y, p = np.asarray(labels), np.asarray(predicted)
    tp = float(((p == 1) & (y == 1)).sum())
    precision = tp / max(float((p == 1).sum()), 1.0)
    recall = tp / max(float((y == 1).sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": 100.0 * float((y == p).mean()), "f1": 100.0 * f1}


def accuracy(labels: Sequence[int], predicted: Sequence[int]) -> dict[str, float]:
    return {"accuracy": 100.0 * float((np.asarray(labels) == np.asarray(predicted)).mean())}


def correlations(gold: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """Pearson r, Spearman ρ and MSE (0 correlation when either side is constant)."""
    y, p = np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    constant = np.ptp(y) == 0 or np.ptp(p) == 0
    pearson = 0.0 if constant else float(stats.pearsonr(y, p)[0])
    spearman = 0.0 if constant else float(stats.spearmanr(y, p)[0])
    return {"pearson": pearson, "spearman": spearman, "mse": float(np.mean((y - p) ** 2))}
