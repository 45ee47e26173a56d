"""Show, Attend and Tell's visual attention: soft and hard against hand-computed numbers (the
hard sampling path with a fixed seed included), the thin module's train/eval behaviour, and the
captioning objectives and metrics built on them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from taxonomy.axes import Positions, Representations, Sequences
from training.attention import get
from training.attention.visual import (
    HARD_VISUAL,
    SOFT_VISUAL,
    VisualAttention,
    hard_visual_attention,
    sample_location,
    soft_visual_attention,
)
from training.data.digit_grids import BLANK_LABEL, GridData, Grids
from training.data.tokenizer import BOS, EOS, PAD
from training.tasks.captioning import (
    FIRST_WORD,
    CaptionObjective,
    CaptionOutput,
    CaptionTask,
    caption_metrics,
    doubly_stochastic,
    word_tokenizer,
)

# One image, L = 3 regions, attention dim A = 2, features D = 2.
Q = [0.5, -1.0]  # W_h h_{t-1}
K = [[1.0, 0.0], [0.0, 1.0], [-0.5, 0.5]]  # W_a a_i
W = [2.0, 1.0]  # wᵀ
V = [[1.0, 2.0], [3.0, -1.0], [0.0, 4.0]]  # a_i


def _hand_alpha(mask: list[bool] | None = None) -> list[float]:
    scores = [sum(W[j] * math.tanh(K[i][j] + Q[j]) for j in range(2)) for i in range(3)]
    allowed = mask or [True] * 3
    exp = [math.exp(s) if ok else 0.0 for s, ok in zip(scores, allowed, strict=True)]
    return [e / sum(exp) for e in exp]


def _tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.tensor([Q]),  # (1, A)
        torch.tensor([K]),  # (1, L, A)
        torch.tensor([V]),  # (1, L, D)
        torch.tensor([W]),  # (1, A)
    )


def test_soft_matches_hand_computed_example() -> None:
    q, k, v, w = _tensors()
    out, weights = soft_visual_attention(q, k, v, None, score_weight=w)
    alpha = _hand_alpha()
    assert weights[0].tolist() == pytest.approx(alpha, abs=1e-6)
    expected = [sum(alpha[i] * V[i][d] for i in range(3)) for d in range(2)]
    assert out[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_soft_masked_region_gets_no_weight() -> None:
    q, k, v, w = _tensors()
    mask = torch.tensor([[True, False, True]])
    out, weights = soft_visual_attention(q, k, v, mask, score_weight=w)
    alpha = _hand_alpha([True, False, True])
    assert weights[0].tolist() == pytest.approx(alpha, abs=1e-6)
    assert weights[0, 1] == 0.0


def test_hard_at_inference_takes_the_argmax_region() -> None:
    q, k, v, w = _tensors()
    out, weights = hard_visual_attention(q, k, v, None, score_weight=w)
    best = int(np.argmax(_hand_alpha()))
    assert weights[0].tolist() == [1.0 if i == best else 0.0 for i in range(3)]
    assert out[0].tolist() == pytest.approx(V[best])


def test_hard_sampling_with_a_fixed_seed_matches_the_hand_computed_draw() -> None:
    q, k, v, w = _tensors()
    alpha = _hand_alpha()
    cumulative = [sum(alpha[: i + 1]) for i in range(3)]
    for seed in range(20):
        u = float(torch.rand(1, 1, generator=torch.Generator().manual_seed(seed)))
        expected = next(i for i, c in enumerate(cumulative) if u < c)  # inverse CDF
        out, weights = hard_visual_attention(
            q,
            k,
            v,
            None,
            score_weight=w,
            sample=True,
            generator=torch.Generator().manual_seed(seed),
        )
        assert weights[0].tolist() == [1.0 if i == expected else 0.0 for i in range(3)]
        assert out[0].tolist() == pytest.approx(V[expected])


def test_sampled_locations_follow_the_distribution_and_avoid_masked_regions() -> None:
    probs = torch.tensor([[0.1, 0.0, 0.6, 0.3]]).expand(20000, 4)
    drawn = sample_location(probs, torch.Generator().manual_seed(0))
    counts = torch.bincount(drawn, minlength=4).float() / len(drawn)
    assert counts.tolist() == pytest.approx([0.1, 0.0, 0.6, 0.3], abs=0.015)
    assert (drawn != 1).all()


def test_mechanisms_are_registered_with_their_onnx_names_and_facets() -> None:
    assert get("soft_visual") is SOFT_VISUAL and get("hard_visual") is HARD_VISUAL
    assert (SOFT_VISUAL.onnx, HARD_VISUAL.onnx) == ("SoftVisualAttention", "HardVisualAttention")
    assert SOFT_VISUAL.facets.positions == {Positions.SOFT}
    assert HARD_VISUAL.facets.positions == {Positions.HARD}
    for mech in (SOFT_VISUAL, HARD_VISUAL):
        assert mech.facets.representations == {Representations.SINGLE}
    layer = VisualAttention(4, 5, 3, hard=True)
    assert layer.facets().sequences == {Sequences.DISTINCTIVE}


def test_hard_module_samples_in_training_and_takes_the_argmax_in_eval() -> None:
    torch.manual_seed(0)
    layer = VisualAttention(4, 5, 3, hard=True, generator=torch.Generator().manual_seed(1))
    hidden, annotations = torch.randn(64, 5), torch.randn(64, 6, 4)
    keys = layer.keys(annotations)
    alpha = layer.distribution(hidden, keys)  # (64, 6)
    assert torch.allclose(alpha.sum(-1), torch.ones(64))
    layer.eval()
    _, chosen = layer(hidden, keys, annotations)
    assert torch.equal(chosen.argmax(-1), alpha.argmax(-1))
    _, again = layer(hidden, keys, annotations)
    assert torch.equal(chosen, again)  # deterministic
    layer.train()
    draws = torch.stack([layer(hidden, keys, annotations)[1].argmax(-1) for _ in range(5)])
    assert (draws != alpha.argmax(-1)).any()  # sampled, not always the argmax
    assert torch.equal(chosen.sum(-1), torch.ones(64))  # one-hot rows


def test_soft_module_weights_are_a_distribution_and_the_context_their_expectation() -> None:
    torch.manual_seed(0)
    layer = VisualAttention(4, 5, 3)
    hidden, annotations = torch.randn(8, 5), torch.randn(8, 6, 4)
    keys = layer.keys(annotations)
    z, alpha = layer(hidden, keys, annotations)
    assert torch.allclose(alpha, layer.distribution(hidden, keys))
    assert torch.allclose(z, (alpha.unsqueeze(-1) * annotations).sum(1), atol=1e-6)


def test_doubly_stochastic_regulariser_by_hand() -> None:
    # 1 caption, T = 3 steps of which 2 decoded, L = 2 regions: τ = 2 / 2 = 1.
    weights = torch.tensor([[[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]]])
    real = torch.tensor([[1.0, 1.0, 0.0]])
    expected = (1 - (0.9 + 0.3)) ** 2 + (1 - (0.1 + 0.7)) ** 2
    assert float(doubly_stochastic(weights, real)) == pytest.approx(expected)


class _Fixed(torch.nn.Module):
    """A 'model' returning fixed outputs: the hard objective on known numbers."""

    hard = True

    def __init__(self, out: CaptionOutput) -> None:
        super().__init__()
        self.out = out
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, images: torch.Tensor, target_in: torch.Tensor) -> CaptionOutput:
        return self.out._replace(logits=self.out.logits * self.scale)


def test_reinforce_objective_and_moving_average_baseline(tmp_path: Path) -> None:
    """−[log p(y|s̃) + λ_r (log p(y|s̃) − b_{k−1}) log p(s̃) + λ_e H] per token, by hand, and
    b_k = 0.9 b_{k−1} + 0.1 log p(y|s̃_k) (batch mean; b_0 = the first batch's mean)."""
    objective = CaptionObjective(reinforce=0.7, entropy=0.5, baseline_decay=0.9)
    task = CaptionTask(GridData(train_size=4, val_size=2, test_size=2), objective, 2, tmp_path)
    captions = torch.tensor([[BOS, FIRST_WORD, EOS], [BOS, FIRST_WORD + 1, EOS]])  # T = 2
    images = torch.zeros(2, 24, 24)
    probs = torch.full((2, 2, 3), 1 / 3)  # α uniform over L = 3 regions
    weights = torch.nn.functional.one_hot(torch.tensor([[0, 1], [2, 2]]), 3).float()
    sampled = torch.tensor([True, False])  # the second image used α's expectation
    for k in range(3):
        logits = torch.randn(2, 2, 15, generator=torch.Generator().manual_seed(k))
        before = task.baseline
        loss = task.loss(_Fixed(CaptionOutput(logits, weights, probs, sampled)), (images, captions))
        nll = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), captions[:, 1:], reduction="none"
        )
        log_likelihood = (-nll.sum(1)).tolist()  # per caption
        reward = sum(log_likelihood) / 2
        baseline = reward if before is None else before
        assert task.baseline == pytest.approx(0.9 * baseline + 0.1 * reward, rel=1e-5)
        log_locations = [2 * math.log(1 / 3), 0.0]  # two steps at α = 1/3; none when not sampled
        entropy = 2 * math.log(3)
        bound = sum(
            ll + 0.7 * (ll - baseline) * lp + 0.5 * entropy
            for ll, lp in zip(log_likelihood, log_locations, strict=True)
        )
        assert float(loss.detach()) == pytest.approx(-bound / 4, rel=1e-5)  # 4 decoded tokens


def test_caption_metrics_by_hand() -> None:
    # Two 1x2 grids: "three blank" and "one two"; L = 2 regions, one per cell.
    grids = Grids(
        images=np.zeros((2, 8, 16), np.float32),
        labels=np.array([[3, BLANK_LABEL], [1, 2]]),
        sources=np.zeros((2, 2), np.int64),
    )
    w = FIRST_WORD
    ids = np.array(
        [
            [w + 3, w + BLANK_LABEL, EOS, PAD],  # exact
            [w + 1, w + 5, w + 2, EOS],  # "one five two": second word wrong, one word too many
        ]
    )
    attention = np.zeros((2, 4, 2), np.float32)
    attention[0, 0] = [0.9, 0.1]  # word 0 names cell 0: 0.9
    attention[0, 1] = [0.2, 0.8]  # word 1 names cell 1: 0.8
    attention[1, 0] = [1.0, 0.0]  # 1.0
    attention[1, 1] = [0.5, 0.5]  # 0.5
    attention[1, 2] = [0.0, 1.0]  # word 2 names no cell: 0
    m = caption_metrics(ids, attention, grids)
    assert m["exact_match"] == 0.5
    # reference tokens: 2 x (2 words + EOS) = 6; correct: 3 + 1 ("one")
    assert m["token_accuracy"] == pytest.approx(4 / 6)
    assert m["localisation"] == pytest.approx((0.9 + 0.8 + 1.0 + 0.5 + 0.0) / 5)
    assert m["bleu4"] == 0.0  # no caption has four words: no 4-gram matches


def test_bleu4_is_100_for_perfect_captions_and_lower_otherwise() -> None:
    labels = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]])
    grids = Grids(np.zeros((2, 8, 40), np.float32), labels, np.zeros((2, 5), np.int64))
    perfect = np.concatenate([labels + FIRST_WORD, np.full((2, 1), EOS)], axis=1)
    attention = np.zeros((2, 6, 5), np.float32)
    assert caption_metrics(perfect, attention, grids)["bleu4"] == pytest.approx(100.0)
    wrong = perfect.copy()
    wrong[0, 2] = FIRST_WORD + BLANK_LABEL
    assert 0 < caption_metrics(wrong, attention, grids)["bleu4"] < 100


def test_word_tokenizer_keeps_the_served_special_ids() -> None:
    tok = word_tokenizer()
    assert [tok.token_to_id(s) for s in ("[PAD]", "[BOS]", "[EOS]", "[UNK]")] == [0, 1, 2, 3]
    encoded = tok.encode("seven three blank one").ids
    assert encoded[0] == BOS and encoded[-1] == EOS
    assert encoded[1:-1] == [
        FIRST_WORD + 7,
        FIRST_WORD + 3,
        FIRST_WORD + BLANK_LABEL,
        FIRST_WORD + 1,
    ]
    assert tok.decode(encoded[1:-1]) == "seven three blank one"
