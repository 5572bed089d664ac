"""Losses, all *masked*: a row whose target is missing (class −1, NaN row; docs/pack-format.md)
contributes nothing, so a joint multi-task pack trains only the heads each row has labels for
(paper 000 §5 joint network, paper 003 §7.11 multi-task). Each loss is averaged over the rows that
have the target; when a batch has none the loss is an exact zero that keeps the graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor

#: loss name → the target kinds it accepts.
LOSSES = {
    "ce": ("class",),
    "weighted_ce": ("class",),
    "soft_ce": ("distribution",),
    "majority_ce": ("distribution",),
    "bce": ("multilabel", "distribution"),
    "l1": ("regression",),
    "smooth_l1": ("regression",),
    "mse": ("regression",),
    "dldl": ("regression",),
    "mean_variance": ("regression",),
}
DEFAULT_LOSS = {"class": "ce", "distribution": "soft_ce", "multilabel": "bce", "regression": "l1"}
#: Default loss of a regression target learnt over bins (``outputs.<task>.decode: expectation``).
DEFAULT_BINNED_LOSS = "dldl"
#: Losses that need a binned head (a distribution over ``bins``).
BINNED_ONLY = ("dldl", "mean_variance")


def _zero(logits: Tensor) -> Tensor:
    return logits.sum() * 0.0


def class_weights(counts: Sequence[float], mode: str = "balanced", beta: float = 0.999) -> Tensor:
    """Per-class weights from training counts (paper 001's remedy for FairFace's imbalance).

    ``balanced``: N / (K·n_k) (inverse frequency, scikit-learn's convention: mean weight over
    samples is 1). ``sqrt``: the square root of that, a milder correction. ``effective``: Cui et
    al. 2019, (1 − β) / (1 − β^n_k), rescaled to mean 1 over samples. Empty classes get weight 0.
    """
    n = np.asarray(counts, dtype=np.float64)
    k, total = len(n), n.sum()
    if total <= 0:
        raise ValueError("class_weights: no samples")
    w = np.zeros(k)
    have = n > 0
    if mode in ("balanced", "sqrt"):
        w[have] = total / (have.sum() * n[have])
        if mode == "sqrt":
            w = np.sqrt(w)
    elif mode == "effective":
        w[have] = (1 - beta) / (1 - beta ** n[have])
    else:
        raise ValueError(f"class weight mode must be balanced, sqrt or effective, got {mode!r}")
    w *= total / (w * n).sum()  # mean weight per training sample = 1: the lr keeps its meaning
    return torch.tensor(w, dtype=torch.float32)


def masked_cross_entropy(logits: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         label_smoothing: float = 0.0) -> Tuple[Tensor, int]:
    """Cross-entropy over rows with ``target >= 0``. With ``weight`` it is the weighted mean
    Σ w_y·ℓ / Σ w_y, each row weighted by its own class. (PyTorch's ``weight=`` with label smoothing
    also weights the smoothing term of every class by that class's weight, which pushes a rare,
    heavily weighted class's probability up on every face: 0.3 for sunglasses with 2 training
    faces. Weighting whole rows keeps the smoothed target's optimum.) Returns (loss, rows used)."""
    keep = target >= 0
    n = int(keep.sum())
    if n == 0:
        return _zero(logits), 0
    rows = F.cross_entropy(logits[keep], target[keep], reduction="none", label_smoothing=label_smoothing)
    if weight is None:
        return rows.mean(), n
    w = weight.to(rows.dtype)[target[keep]]
    return (rows * w).sum() / w.sum().clamp_min(1e-12), n


def _complete_rows(target: Tensor) -> Tensor:
    return ~torch.isnan(target).any(dim=1)


def soft_cross_entropy(logits: Tensor, dist: Tensor, label_smoothing: float = 0.0) -> Tuple[Tensor, int]:
    """Cross-entropy to a target distribution, −Σ_k p_k log q_k (Barsoum et al. 2016's FER+ "CE"
    scheme; paper 003 eq. 7.1). Rows of NaN are missing. Rows are renormalised to sum 1."""
    keep = _complete_rows(dist)
    n = int(keep.sum())
    if n == 0:
        return _zero(logits), 0
    p = dist[keep]
    p = p / p.sum(dim=1, keepdim=True).clamp(min=1e-12)
    if label_smoothing > 0:
        p = p * (1 - label_smoothing) + label_smoothing / p.shape[1]
    return -(p * F.log_softmax(logits[keep], dim=1)).sum(dim=1).mean(), n


def majority_cross_entropy(logits: Tensor, dist: Tensor, label_smoothing: float = 0.0) -> Tuple[Tensor, int]:
    """Barsoum's "majority vote" scheme: hard cross-entropy to the argmax of the distribution."""
    keep = _complete_rows(dist)
    n = int(keep.sum())
    if n == 0:
        return _zero(logits), 0
    return F.cross_entropy(logits[keep], dist[keep].argmax(dim=1), label_smoothing=label_smoothing), n


def masked_bce(logits: Tensor, target: Tensor, pos_weight: Optional[Tensor] = None) -> Tuple[Tensor, int]:
    """Multi-label binary cross-entropy with logits; NaN entries (or rows) are missing and skipped.
    Averaged over the present entries; returns (loss, number of rows with any entry)."""
    present = ~torch.isnan(target)
    rows = int(present.any(dim=1).sum())
    if rows == 0:
        return _zero(logits), 0
    t = torch.where(present, target, torch.zeros_like(target))
    per = F.binary_cross_entropy_with_logits(logits, t, reduction="none", pos_weight=pos_weight)
    return (per * present).sum() / present.sum(), rows


def masked_regression(pred: Tensor, target: Tensor, kind: str = "l1") -> Tuple[Tensor, int]:
    """L1 / smooth-L1 / MSE between a 1-output head and a float target; NaN targets are missing."""
    pred = pred.reshape(pred.shape[0], -1)[:, 0]
    keep = ~torch.isnan(target)
    n = int(keep.sum())
    if n == 0:
        return _zero(pred), 0
    fn = {"l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss, "mse": F.mse_loss}[kind]
    return fn(pred[keep], target[keep]), n


def _binned(logits: Tensor, target: Tensor, bins: Tensor) -> Tuple[Tensor, Tensor, Tensor, int]:
    """Rows with a target: (log-probabilities over bins, expectation sum p*bin, target clamped to
    the bin range, count)."""
    keep = ~torch.isnan(target)
    logp = F.log_softmax(logits[keep], dim=1)
    y = target[keep].clamp(float(bins[0]), float(bins[-1]))
    return logp, (logp.exp() * bins).sum(dim=1), y, int(keep.sum())


#: FairFace's 9 age groups (lower bounds, years): the bands the issue-17 acceptance set scores.
FAIRFACE_STARTS = (0.0, 3.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0)


def band_cross_entropy(logp: Tensor, y: Tensor, bins: Tensor, starts: Sequence[float] = FAIRFACE_STARTS) -> Tensor:
    """Cross-entropy of the true band against the probability mass the bins put in each band:
    the same head then predicts bands directly (the band with the most mass), not only through
    its expectation."""
    s = torch.tensor(starts, dtype=bins.dtype)
    bin_band = (bins[:, None] >= s[None, :]).sum(dim=1) - 1  # band index of each bin
    onehot = F.one_hot(bin_band.clamp(min=0), len(starts)).to(logp.dtype)  # (bins, bands)
    band_logp = torch.logsumexp(logp[:, :, None] + torch.log(onehot.clamp(min=1e-30))[None], dim=1)
    y_band = ((y[:, None] >= s[None, :]).sum(dim=1) - 1).clamp(min=0)
    return F.nll_loss(band_logp, y_band)


def dldl_loss(logits: Tensor, target: Tensor, bins: Tensor, sigma: float = 2.0, l1_weight: float = 1.0,
              band_weight: float = 0.0) -> Tuple[Tensor, int]:
    """DLDL-v2 (Gao et al., IJCAI 2018): cross-entropy to a Gaussian label distribution N(y, sigma^2)
    discretised on the bins (neighbouring ages look alike, so they share the target mass), plus
    ``l1_weight`` x |E[bin] - y| so the expectation the analyzer reports is trained directly, plus
    ``band_weight`` x the FairFace band cross-entropy (:func:`band_cross_entropy`).
    Targets outside the bins are clamped to the range; NaN targets are missing."""
    if not (~torch.isnan(target)).any():
        return _zero(logits), 0
    logp, mean, y, n = _binned(logits, target, bins)
    d = torch.exp(-((bins[None, :] - y[:, None]) ** 2) / (2 * sigma * sigma))
    d = d / d.sum(dim=1, keepdim=True).clamp(min=1e-12)
    ce = -(d * logp).sum(dim=1).mean()
    loss = ce + l1_weight * (mean - y).abs().mean()
    if band_weight > 0:
        loss = loss + band_weight * band_cross_entropy(logp, y, bins)
    return loss, n


def mean_variance_loss(logits: Tensor, target: Tensor, bins: Tensor, mean_weight: float = 0.2,
                       variance_weight: float = 0.05) -> Tuple[Tensor, int]:
    """Mean-variance loss (Pan et al., CVPR 2018): softmax cross-entropy to the nearest bin, plus
    mean_weight x (E - y)^2 / 2 and variance_weight x Var (a confident, centred distribution);
    0.2 and 0.05 as in the paper."""
    if not (~torch.isnan(target)).any():
        return _zero(logits), 0
    logp, mean, y, n = _binned(logits, target, bins)
    nearest = (bins[None, :] - y[:, None]).abs().argmin(dim=1)
    ce = F.nll_loss(logp, nearest)
    var = (logp.exp() * (bins[None, :] - mean[:, None]) ** 2).sum(dim=1)
    return ce + mean_weight * 0.5 * ((mean - y) ** 2).mean() + variance_weight * var.mean(), n


@dataclass
class TaskLoss:
    """How one head is trained: which loss, its weight in the total and its options."""

    task: str
    kind: str  # target kind (class, distribution, multilabel, regression)
    loss: str
    weight: float = 1.0
    label_smoothing: float = 0.0
    class_weight: Optional[Tensor] = None
    #: Bin values of a regression head learnt over bins (expectation decoding); None = one output.
    bins: Optional[Tensor] = None
    #: Loss options: dldl ``sigma``, ``l1_weight``; mean_variance ``mean_weight``, ``variance_weight``.
    params: Dict[str, float] = field(default_factory=dict)
    #: The head this target trains when it is not the task's own: a teacher's distribution
    #: (``facesense teach``) guiding the ``gender`` head, say. None = the head named ``task``.
    output: Optional[str] = None

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"task {self.task!r}: unknown loss {self.loss!r}; known: {sorted(LOSSES)}")
        if self.kind not in LOSSES[self.loss]:
            raise ValueError(f"task {self.task!r}: loss {self.loss!r} does not fit a {self.kind} target "
                             f"(it takes {', '.join(LOSSES[self.loss])})")
        if self.loss in BINNED_ONLY and self.bins is None:
            raise ValueError(f"task {self.task!r}: loss {self.loss!r} needs a binned head "
                             f"(outputs.{self.task}: decode expectation with binRange or binValues)")
        known = {"dldl": {"sigma", "l1_weight", "band_weight"}, "mean_variance": {"mean_weight", "variance_weight"}}.get(self.loss, set())
        if set(self.params) - known:
            raise ValueError(f"task {self.task!r}: loss {self.loss!r} takes options {sorted(known) or 'none'}, "
                             f"got {sorted(self.params)}")

    def __call__(self, logits: Tensor, target: Tensor) -> Tuple[Tensor, int]:
        if self.loss == "dldl":
            return dldl_loss(logits, target, self.bins, **self.params)
        if self.loss == "mean_variance":
            return mean_variance_loss(logits, target, self.bins, **self.params)
        if self.bins is not None:
            # L1 / smooth-L1 / MSE on the expectation over the bins.
            mean = (F.softmax(logits, dim=1) * self.bins).sum(dim=1, keepdim=True)
            return masked_regression(mean, target, self.loss)
        if self.loss in ("ce", "weighted_ce"):
            return masked_cross_entropy(logits, target, self.class_weight, self.label_smoothing)
        if self.loss == "soft_ce":
            return soft_cross_entropy(logits, target, self.label_smoothing)
        if self.loss == "majority_ce":
            return majority_cross_entropy(logits, target, self.label_smoothing)
        if self.loss == "bce":
            return masked_bce(logits, target)
        return masked_regression(logits, target, self.loss)


class MultiTaskLoss(nn.Module):
    """Σ_t weight_t · loss_t over the targets; each loss uses only the rows labelled for it. A head
    may have several targets (its labels, and a teacher's distribution through ``output``)."""

    def __init__(self, tasks: Sequence[TaskLoss]) -> None:
        super().__init__()
        self.tasks = list(tasks)

    def forward(self, outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tuple[Tensor, Dict[str, Tuple[float, int]]]:
        total: Optional[Tensor] = None
        parts: Dict[str, Tuple[float, int]] = {}
        for t in self.tasks:
            value, n = t(outputs[t.output or t.task], targets[t.task])
            parts[t.task] = (float(value.detach()), n)
            term = t.weight * value
            total = term if total is None else total + term
        assert total is not None, "MultiTaskLoss needs at least one task"
        return total, parts
