"""BCNN / ABCNN-1/-2/-3: output shapes, attention per block, padding gets zero attention and
changes nothing, pooling and overlap features by hand."""

from __future__ import annotations

import pytest
import torch

from training.data.words import PAD, UNK
from training.models.abcnn import ABCNN, ABCNNConfig, attention_outputs, conv_keep, overlap, w_ap
from training.tasks.sentence_pair import PairData


def _config(variant: str, layers: int = 2, task: str = "wikiqa") -> ABCNNConfig:
    data = PairData(task=task, vectors="random", embed_dim=6, vocab_size=30, max_length=12)
    return ABCNNConfig(variant=variant, layers=layers, filters=5, width=3, data=data)


def _ids() -> tuple[torch.Tensor, torch.Tensor]:
    left = torch.tensor([[5, 6, 7, 8], [9, 10, PAD, PAD]])  # (2, 4): row 1 has 2 real tokens
    right = torch.tensor([[11, 5, 12, 13, 14], [9, 15, 16, PAD, PAD]])  # (2, 5)
    return left, right


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("bcnn", []),
        ("abcnn-1", [(2, 4, 5), (2, 4, 5)]),
        ("abcnn-2", [(2, 6, 7), (2, 6, 7)]),
        ("abcnn-3", [(2, 4, 5), (2, 6, 7), (2, 4, 5), (2, 6, 7)]),
    ],
)
def test_shapes_and_attention_per_block(variant: str, expected: list[tuple[int, ...]]) -> None:
    torch.manual_seed(0)
    cfg = _config(variant)
    model = ABCNN(cfg).eval()
    logits, *attention = model(*_ids())
    assert logits.shape == (2, 2)
    assert [tuple(a.shape) for a in attention] == expected
    assert len(attention_outputs(cfg)) == len(expected)


@pytest.mark.parametrize("variant", ["abcnn-1", "abcnn-2", "abcnn-3"])
def test_padding_gets_zero_attention_and_changes_nothing(variant: str) -> None:
    torch.manual_seed(0)
    model = ABCNN(_config(variant)).eval()
    left, right = _ids()
    logits, *attention = model(left, right)
    for a in attention:
        extra = a.shape[1] - left.shape[1]  # w - 1 for the pooling attention
        assert a[1, 2 + extra :].abs().sum() == 0  # padded sentence-1 positions
        assert a[1, :, 3 + extra :].abs().sum() == 0  # padded sentence-2 positions
        assert (a[0] > 0).all()
    # the second pair alone, unpadded: the same logits and the same attention on real positions
    alone, *alone_attention = model(left[1:, :2], right[1:, :3])
    assert torch.allclose(alone, logits[1:], atol=1e-5)
    for a, b in zip(attention, alone_attention, strict=True):
        assert torch.allclose(a[1:, : b.shape[1], : b.shape[2]], b, atol=1e-5)


def test_relatedness_task_outputs_score_points() -> None:
    model = ABCNN(_config("abcnn-3", layers=1, task="msrvid")).eval()
    assert model(*_ids())[0].shape == (2, 6)  # integer scores 0..5


def test_w_ap_averages_or_weights_windows() -> None:
    x = torch.tensor([[[1.0], [2.0], [3.0], [4.0]]])  # (1, T + w - 1 = 4, 1), w = 3
    assert w_ap(x, 3, None).flatten().tolist() == pytest.approx([2.0, 3.0])
    weights = torch.tensor([[1.0, 0.0, 2.0, 1.0]])
    assert w_ap(x, 3, weights).flatten().tolist() == pytest.approx([1 + 6, 6 + 4])  # sums


def test_conv_keep_marks_wide_convolution_columns() -> None:
    keep = torch.tensor([[True, True, False]])  # 2 real tokens of 3
    assert conv_keep(keep, 3).tolist() == [[True, True, True, True, False]]


def test_overlap_features_by_hand() -> None:
    left = torch.tensor([[4, 5, 5, UNK, PAD]])
    right = torch.tensor([[5, 6, UNK, PAD, PAD]])
    idf = torch.zeros(10)
    idf[5] = 2.0
    idf[4] = 1.0
    # words 4 5 5 (UNK and PAD are not words): the two 5s occur in sentence 2: 2 of 3 words;
    # IDF-weighted: (2 + 2) / (1 + 2 + 2)
    assert overlap(left, right, idf).flatten().tolist() == pytest.approx([2 / 3, 0.8])
