"""Local attention (local-m, local-p) against hand-computed numbers: the window, the clamp at the
source end, the predicted position and the Gaussian."""

from __future__ import annotations

import math

import torch

from taxonomy.axes import Positions
from training.attention import get
from training.attention.local import LocalAttention, local_monotonic, local_predictive

S = 6
KEYS = torch.eye(S).unsqueeze(0)  # (1, 6, 6): h̄_s = e_s, so h_tᵀ I h̄_s = h_t[s]
VALUES = torch.arange(S, dtype=torch.float32).view(1, S, 1)  # value of position s is s
MASK4 = torch.tensor([[[True] * 4 + [False] * 2]])  # 4 real source tokens, 2 pads


def test_local_m_softmax_over_the_window_around_t() -> None:
    query = torch.tensor([[[0.0, 1.0, 2.0, 3.0, 9.0, 9.0]]])  # scores h_t[s]
    out, weights = local_monotonic(
        query, KEYS, VALUES, None, weight=torch.eye(S), position=torch.tensor([[2.0]]), window=1
    )
    # window [1, 3]: softmax([1, 2, 3]) there, 0 elsewhere (even where scores are larger)
    z = math.e + math.e**2 + math.e**3
    expected = [0.0, math.e / z, math.e**2 / z, math.e**3 / z, 0.0, 0.0]
    assert torch.allclose(weights, torch.tensor([[expected]]), atol=1e-6)
    assert torch.allclose(out, torch.tensor([[[sum(s * w for s, w in enumerate(expected))]]]))


def test_local_m_clamps_past_the_source_end() -> None:
    query = torch.zeros(1, 1, S)
    _, weights = local_monotonic(
        query, KEYS, VALUES, MASK4, weight=torch.eye(S), position=torch.tensor([[10.0]]), window=1
    )
    # p_t = min(10, 4 - 1) = 3: window [2, 4] ∩ real tokens {0..3} = {2, 3}, uniform scores
    assert torch.allclose(weights, torch.tensor([[[0.0, 0.0, 0.5, 0.5, 0.0, 0.0]]]))


def test_local_p_predicts_the_centre_and_applies_the_gaussian() -> None:
    query = torch.zeros(1, 1, S)
    # W_p = 0 -> v_pᵀ tanh(0) = 0 -> p_t = S_real · sigmoid(0) = 4 · 0.5 = 2; W_a = 0 -> align
    # uniform over the window [0, 4] ∩ real tokens {0..3}: 1/4 each; σ = D / 2 = 1
    _, weights = local_predictive(
        query,
        KEYS,
        VALUES,
        MASK4,
        weight=torch.zeros(S, S),
        predictor=torch.zeros(3, S),
        v_p=torch.zeros(1, 3),
        window=2,
    )
    gauss = [math.exp(-((s - 2) ** 2) / 2) for s in range(4)]
    expected = [0.25 * g for g in gauss] + [0.0, 0.0]
    assert torch.allclose(weights, torch.tensor([[expected]]), atol=1e-6)
    assert weights.sum() < 1.0


def test_local_p_centre_moves_with_the_predictor() -> None:
    # v_pᵀ tanh(W_p h_t) = 20·tanh(1) ≈ 15 -> sigmoid ≈ 1 -> p_t ≈ 4 (the real length)
    query = torch.ones(1, 1, S)
    predictor = torch.zeros(1, S)
    predictor[0, 0] = 1.0
    _, weights = local_predictive(
        query,
        KEYS,
        VALUES,
        MASK4,
        weight=torch.zeros(S, S),
        predictor=predictor,
        v_p=torch.tensor([[20.0]]),
        window=2,
    )
    # window [2, 6] ∩ {0..3} = {2, 3}: align 1/2 each, Gaussian exp(-(s - 4)²/2)
    p = 4 * torch.sigmoid(torch.tensor(20 * math.tanh(1.0))).item()
    expected = [0.0, 0.0, 0.5 * math.exp(-((2 - p) ** 2) / 2), 0.5 * math.exp(-((3 - p) ** 2) / 2)]
    assert torch.allclose(weights[0, 0, :4], torch.tensor(expected), atol=1e-5)
    assert weights[0, 0, 4:].abs().sum() == 0


def test_layers_rows_sum_to_one_local_m_and_at_most_one_local_p() -> None:
    torch.manual_seed(0)
    h = torch.randn(2, 9, 5)
    mask = torch.tensor([[True] * 9, [True] * 4 + [False] * 5]).unsqueeze(1)  # (2, 1, 9)
    m = LocalAttention("monotonic", hidden=5, window=2)
    p = LocalAttention("predictive", hidden=5, window=2)
    for t in range(12):
        q = torch.randn(2, 1, 5)
        _, wm = m(q, m.prepare(h), h, mask, torch.tensor(float(t)).reshape(1, 1))
        _, wp = p(q, p.prepare(h), h, mask)
        assert torch.allclose(wm.sum(-1), torch.ones(2, 1), atol=1e-6)
        assert (wp.sum(-1) <= 1.0 + 1e-6).all() and (wp.sum(-1) > 0).all()
        assert wm[1, 0, 4:].abs().sum() == 0 and wp[1, 0, 4:].abs().sum() == 0
        assert (wm > 0).sum(-1).max() <= 5  # at most 2D + 1 positions
    assert get("local_monotonic").onnx == "LocalMonotonic"
    assert get("local_predictive").onnx == "LocalPredictive"
    assert m.facets().positions == {Positions.LOCAL} == p.facets().positions
