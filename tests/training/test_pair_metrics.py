"""Sentence-pair metrics by hand: MAP/MRR on a small ranking, accuracy/F1, correlations, and
Tai et al.'s sparse target."""

from __future__ import annotations

import pytest
import torch

from training.tasks import pair_metrics
from training.tasks.sentence_pair import TASKS, expected_score, sparse_target


def test_map_and_mrr_by_hand() -> None:
    # q1: scores rank the candidates c, a, b (labels 0, 1, 1): AP = (1/2 + 2/3) / 2, RR = 1/2
    # q2: ranking e (1), d (0): AP = 1, RR = 1
    # q3: no correct candidate: left out
    groups = ["q1", "q1", "q1", "q2", "q2", "q3"]
    labels = [1, 1, 0, 0, 1, 0]
    scores = [0.5, 0.2, 0.9, 0.1, 0.3, 0.7]
    got = pair_metrics.map_mrr(groups, labels, scores)
    assert got["questions"] == 2
    assert got["map"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1) / 2)
    assert got["mrr"] == pytest.approx((1 / 2 + 1) / 2)


def test_ties_keep_file_order() -> None:
    got = pair_metrics.map_mrr(["q", "q"], [0, 1], [0.5, 0.5])
    assert got["mrr"] == pytest.approx(0.5)


def test_accuracy_and_f1_by_hand() -> None:
    # tp = 2, fp = 1, fn = 1: precision = recall = 2/3, F1 = 2/3; 3 of 5 right
    got = pair_metrics.accuracy_f1([1, 1, 1, 0, 0], [1, 1, 0, 1, 0])
    assert got["accuracy"] == pytest.approx(60.0)
    assert got["f1"] == pytest.approx(200 / 3)


def test_correlations() -> None:
    got = pair_metrics.correlations([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 9.0])
    # deviations (-1.5, -0.5, 0.5, 1.5) and (-3.25, -1.25, 0.75, 3.75): r = 11.5 / sqrt(5 · 26.75)
    assert got["pearson"] == pytest.approx(11.5 / (5 * 26.75) ** 0.5, abs=1e-9)
    assert got["spearman"] == pytest.approx(1.0)
    assert got["mse"] == pytest.approx((1 + 4 + 9 + 25) / 4)
    assert pair_metrics.correlations([1.0, 2.0], [3.0, 3.0])["pearson"] == 0.0


def test_sparse_target_and_expected_score() -> None:
    kind = TASKS["sick-relatedness"]  # points 1..5
    target = sparse_target(torch.tensor([3.6, 5.0, 1.0]), kind)
    assert torch.allclose(target[0], torch.tensor([0, 0, 0.4, 0.6, 0]), atol=1e-6)
    assert target[1].tolist() == [0, 0, 0, 0, 1]
    assert target[2].tolist() == [1, 0, 0, 0, 0]
    logits = torch.log(target[:1] + 1e-12)  # softmax(log p) = p
    assert expected_score(logits, kind).item() == pytest.approx(3.6, abs=1e-5)
    msrvid = sparse_target(torch.tensor([0.25]), TASKS["msrvid"])  # points 0..5
    assert torch.allclose(msrvid[0], torch.tensor([0.75, 0.25, 0, 0, 0, 0]))
