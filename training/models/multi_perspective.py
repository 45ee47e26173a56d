"""The multi-perspective sentence model and the structured similarity measurement layer of MP-CNN
(He, Gimpel, Lin 2015, sections 3 and 4), as the attention MPCNN (He et al. 2016) uses them.

Sentence model (:class:`MultiPerspectiveCNN`), over word vectors x (B, L, C):

* block A, holistic filters: Fa filters over whole word vectors, window ws ∈ {1, 2, 3}, tanh,
  then max, min and mean pooling over positions -> group(ws, p) (B, Fa). ws = ∞ pools the input
  itself: max, min and mean over every entry of the sentence's matrix -> (B, 1), as the Castor
  reimplementation does;
* block B, per-dimension filters: Fb filters for each of the C dimensions separately (a grouped
  convolution), window ws ∈ {1, 2, 3}, tanh, max and min pooling -> (B, C, Fb).

Windows: every window starts on a real word and reads zeros past the sentence's end (the input's
padded positions are zeroed), so a sentence gets the same features however much padding its batch
adds (padding never reaches a pooling: masked out). No window is skipped for short sentences.

Similarity layer (:class:`StructuredSimilarity`), two sentences' groups in, one feature vector out:

* horizontal comparison (Algorithm 1), for each pooling p and each holistic filter i: the vector
  of filter i over all windows (∞'s scalar broadcast) compared with cos and L2 -> 2 features;
* vertical comparison (Algorithm 2), block A: for each p, every pair of finite windows (ws1, ws2)
  and the (∞, ∞) pair, the two group vectors compared with [cos, L2, |x - y|]; block B: for max
  and min, each finite window and each per-dimension filter k, the (B, C) vectors compared the same.

Legend: B batch, L words, C word-vector dim (2 x the embedding dim after the attention input
interaction), Fa holistic filters, Fb per-dimension filters, W windows with ∞.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

POOLS_A = ("max", "min", "mean")
POOLS_B = ("max", "min")
BIG = 1e4  # masked positions move this far (conv outputs before tanh are far smaller)
EPS = 1e-6  # inside the square root of L2 distances (its gradient at 0) and under cos norms


def masked_pool(values: Tensor, mask: Tensor, pool: str, dim: int = -1) -> Tensor:
    """values pooled over axis ``dim`` where ``mask`` (float, broadcastable to values: 1 real,
    0 padding) is 1: max, min or mean. Every row must keep at least one position. Masking adds
    ∓ a large constant (one pass, a free backward) rather than masked_fill (a copy and a where);
    max/min with indices backpropagate by a scatter into the argmax (amax compares and divides
    over the whole tensor: 3x slower here on block B)."""
    if pool == "max":
        return (values - (1 - mask) * BIG).max(dim).values
    if pool == "min":
        return (values + (1 - mask) * BIG).min(dim).values
    return (values * mask).sum(dim) / mask.sum(dim)


class PerDimensionConv(nn.Module):
    """Fb filters of width ws over each of the C dimensions on its own (block B), as one batched
    matmul over the dimensions: out[c, k, b, t] = Σ_j W[c, j, k] x[b, c, t + j] + bias[c, k].
    (The same arithmetic as a grouped Conv1d, ~1.8x faster here forward + backward: mkldnn's
    grouped convolution with one input channel per group is slow on CPU; positions come last
    so that pooling reduces over contiguous memory.)"""

    def __init__(self, channels: int, filters: int, width: int) -> None:
        super().__init__()
        self.width = width
        bound = width**-0.5  # Conv1d's default init: fan_in = width
        # stored (C, ws, Fb) and (C, 1, Fb), transposed when used
        self.weight = nn.Parameter(torch.empty(channels, width, filters).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels, 1, filters).uniform_(-bound, bound))

    def forward(self, padded: Tensor, length: int) -> Tensor:
        """padded (B, C, L + ws - 1) -> (C, Fb, B, L), before tanh."""
        B, C, _ = padded.shape
        windows = torch.stack(
            [padded[:, :, j : j + length] for j in range(self.width)], dim=1
        )  # (B, ws, C, L)
        columns = windows.permute(2, 1, 0, 3).reshape(C, self.width, -1)  # (C, ws, B L)
        weight, bias = self.weight.transpose(1, 2), self.bias.transpose(1, 2)  # (C, Fb, ws|1)
        out = torch.baddbmm(bias, weight, columns)  # (C, Fb, B L)
        return out.reshape(C, -1, B, length)  # (C, Fb, B, L)


@dataclass
class Groups:
    """One sentence's pooled features, stacked (one tensor per block, few ONNX nodes):
    ``a`` (B, 3, W, Fa): block A by pooling (max, min, mean) and finite window;
    ``a_inf`` (B, 3, 1): the window ∞ by pooling; ``b`` (B, 2, W, C, Fb): block B by pooling
    (max, min) and finite window."""

    a: Tensor
    a_inf: Tensor
    b: Tensor


class MultiPerspectiveCNN(nn.Module):
    def __init__(
        self, channels: int, holistic: int, per_dim: int, windows: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.windows = windows
        self.holistic = nn.ModuleList(nn.Conv1d(channels, holistic, ws) for ws in windows)
        self.per_dimension = nn.ModuleList(
            PerDimensionConv(channels, per_dim, ws) for ws in windows
        )

    def forward(self, x: Tensor, keep: Tensor) -> Groups:
        """x (B, L, C) word vectors, zero at padded positions; keep (B, L)."""
        B, L, C = x.shape
        x = x.transpose(1, 2)  # (B, C, L)
        real = keep.to(x.dtype)  # (B, L)
        mask_a = real.unsqueeze(1)  # (B, 1, L)
        mask_b = real.reshape(1, 1, B, L)  # (1, 1, B, L)
        a, b = [], []
        for ws, holistic, per_dim in zip(
            self.windows, self.holistic, self.per_dimension, strict=True
        ):
            padded = F.pad(x, (0, ws - 1))  # (B, C, L + ws - 1): windows run into zeros
            out_a = holistic(padded)  # (B, Fa, L), before tanh
            # tanh is increasing: max/min pooling before it equals pooling after, and the
            # tanh then runs on (B, Fa) instead of (B, Fa, L) (and on (B, C, Fb) for block B)
            pooled_a = [
                torch.tanh(masked_pool(out_a, mask_a, "max")),  # (B, Fa)
                torch.tanh(masked_pool(out_a, mask_a, "min")),
                masked_pool(torch.tanh(out_a), mask_a, "mean"),
            ]
            a.append(torch.stack(pooled_a, dim=1))  # (B, 3, Fa)
            out_b = per_dim(padded, L)  # (C, Fb, B, L)
            pooled_b = [torch.tanh(masked_pool(out_b, mask_b, p)) for p in POOLS_B]  # (C, Fb, B)
            b.append(torch.stack(pooled_b, dim=0).permute(3, 0, 1, 2))  # (B, 2, C, Fb)
        whole = x.reshape(B, 1, -1)  # (B, 1, C L): every entry of the matrix
        entries = mask_a.expand(B, C, L).reshape(B, 1, -1)  # (B, 1, C L)
        a_inf = torch.stack([masked_pool(whole, entries, p) for p in POOLS_A], dim=1)  # (B, 3, 1)
        return Groups(torch.stack(a, dim=2), a_inf, torch.stack(b, dim=2))


def cosine(x: Tensor, y: Tensor) -> Tensor:
    """cos over the last axis: (..., N) x2 -> (...)."""
    dot = (x * y).sum(-1)
    return dot / (x.norm(dim=-1) * y.norm(dim=-1)).clamp_min(EPS)


def l2(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean distance over the last axis (ε inside the root): (..., N) x2 -> (...)."""
    return torch.sqrt(((x - y) ** 2).sum(-1) + EPS)


def compare_full(x: Tensor, y: Tensor) -> Tensor:
    """comU1 of the paper, [cos, L2, |x - y|]: (B, ..., N) x2 -> (B, ..., 2 + N)."""
    return torch.cat([cosine(x, y).unsqueeze(-1), l2(x, y).unsqueeze(-1), (x - y).abs()], dim=-1)


class StructuredSimilarity(nn.Module):
    """forward(groups of sentence 1, groups of sentence 2) -> features (B, :meth:`size`).
    Every comparison of a block is one broadcast over (pooling, window[, window or filter])."""

    def __init__(
        self, channels: int, holistic: int, per_dim: int, windows: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.windows = windows
        self.channels, self.holistic, self.per_dim = channels, holistic, per_dim

    def size(self) -> int:
        n = len(self.windows)
        horizontal = len(POOLS_A) * 2 * self.holistic
        vertical_a = len(POOLS_A) * (n * n * (2 + self.holistic) + 3)
        vertical_b = len(POOLS_B) * n * self.per_dim * (2 + self.channels)
        return horizontal + vertical_a + vertical_b

    def horizontal(self, one: Groups, two: Groups) -> list[Tensor]:
        """Algorithm 1: per pooling and holistic filter, the filter's values over the windows
        (∞'s scalar broadcast over the filters) compared with cos and L2 -> 2 x (B, 3 Fa)."""
        regs = []
        for g in (one, two):
            inf = g.a_inf.unsqueeze(2).expand(-1, -1, 1, g.a.shape[-1])  # (B, 3, 1, Fa)
            regs.append(torch.cat([g.a, inf], dim=2).transpose(2, 3))  # (B, 3, Fa, W + 1)
        return [cosine(*regs).flatten(1), l2(*regs).flatten(1)]

    def vertical(self, one: Groups, two: Groups) -> list[Tensor]:
        """Algorithm 2: block A, every (ws1, ws2) pair of finite windows and (∞, ∞), per
        pooling; block B, per pooling, window and per-dimension filter; [cos, L2, |x - y|]."""
        pairs = compare_full(one.a.unsqueeze(3), two.a.unsqueeze(2))  # (B, 3, W, W, 2 + Fa)
        infinite = compare_full(one.a_inf, two.a_inf)  # (B, 3, 3)
        x = one.b.transpose(3, 4)  # (B, 2, W, Fb, C): filter k's vector over the dimensions
        y = two.b.transpose(3, 4)
        per_dim = compare_full(x, y)  # (B, 2, W, Fb, 2 + C)
        return [pairs.flatten(1), infinite.flatten(1), per_dim.flatten(1)]

    def forward(self, one: Groups, two: Groups) -> Tensor:
        return torch.cat(self.horizontal(one, two) + self.vertical(one, two), dim=1)
