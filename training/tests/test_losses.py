"""Losses on hand-computed cases; masking of missing targets."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.losses import (MultiTaskLoss, TaskLoss, class_weights, majority_cross_entropy, masked_bce,
                             masked_cross_entropy, masked_regression, soft_cross_entropy)

NAN = float("nan")


def close(a, b, tol=1e-6):
    return abs(float(a) - float(b)) < tol


def test_cross_entropy_hand_computed():
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0]])
    loss, n = masked_cross_entropy(logits, torch.tensor([0, 1]))
    # row 0: uniform over 3 → ln 3; row 1: p = 3/5 → −ln 0.6
    assert n == 2 and close(loss, (math.log(3) - math.log(0.6)) / 2)


def test_cross_entropy_ignores_missing_rows_and_their_gradient():
    logits = torch.tensor([[0.0, 0.0], [5.0, -5.0], [0.0, math.log(3.0)]], requires_grad=True)
    loss, n = masked_cross_entropy(logits, torch.tensor([0, -1, 1]))
    assert n == 2 and close(loss, (math.log(2) + math.log(4 / 3)) / 2)
    loss.backward()
    assert torch.equal(logits.grad[1], torch.zeros(2))


def test_weighted_cross_entropy_is_the_weighted_mean():
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    loss, _ = masked_cross_entropy(logits, torch.tensor([0, 1]), weight=torch.tensor([1.0, 3.0]))
    assert close(loss, (1 * math.log(2) + 3 * math.log(4 / 3)) / 4)


def test_weighted_smoothed_cross_entropy_keeps_the_smoothed_optimum():
    # a face of class 0 with smoothing 0.1 over 3 classes: the optimum is p = (0.9333, 0.0333, 0.0333)
    # whatever the class weights; a heavily weighted rare class must not pull its probability up
    target = torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])
    logits = target.log().unsqueeze(0).requires_grad_(True)
    loss, _ = masked_cross_entropy(logits, torch.tensor([0]), weight=torch.tensor([1.0, 1.0, 30.0]),
                                   label_smoothing=0.1)
    loss.backward()
    assert torch.allclose(logits.grad, torch.zeros(1, 3), atol=1e-6)


def test_class_weights():
    w = class_weights([10, 30], "balanced")
    assert torch.allclose(w, torch.tensor([2.0, 2 / 3]))  # N / (K n_k)
    assert close((w * torch.tensor([10.0, 30.0])).sum() / 40, 1.0)  # mean weight per sample = 1
    s = class_weights([10, 30, 0], "sqrt")
    assert s[2] == 0 and s[0] > s[1]
    e = class_weights([10, 1000], "effective")
    assert e[0] > e[1]
    with pytest.raises(ValueError, match="mode"):
        class_weights([1, 2], "nope")


def test_soft_cross_entropy_to_a_vote_distribution():
    logits = torch.tensor([[0.0, math.log(3.0)], [1.0, 2.0]])
    dist = torch.tensor([[0.25, 0.75], [NAN, NAN]])
    loss, n = soft_cross_entropy(logits, dist)
    assert n == 1 and close(loss, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    # Votes that do not sum to 1 are renormalised: 1 and 3 votes out of 4.
    loss2, _ = soft_cross_entropy(logits[:1], torch.tensor([[1.0, 3.0]]))
    assert close(loss, loss2)


def test_majority_cross_entropy():
    loss, n = majority_cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.3, 0.7]]))
    assert n == 1 and close(loss, math.log(2))


def test_multilabel_bce_skips_nan_entries():
    logits = torch.tensor([[0.0, math.log(3.0)], [9.0, 9.0]])
    target = torch.tensor([[1.0, 1.0], [NAN, NAN]])
    loss, rows = masked_bce(logits, target)
    # σ(0) = 1/2 → ln 2; σ(ln 3) = 3/4 → ln 4/3
    assert rows == 1 and close(loss, (math.log(2) + math.log(4 / 3)) / 2)
    loss, rows = masked_bce(logits[:1], torch.tensor([[0.0, NAN]]))
    assert rows == 1 and close(loss, math.log(2))


def test_regression_skips_nan():
    loss, n = masked_regression(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([2.0, NAN, 5.0]))
    assert n == 2 and close(loss, (1 + 2) / 2)
    loss, n = masked_regression(torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 5.0]), "mse")
    assert close(loss, (1 + 4) / 2)


def test_loss_must_fit_the_target_kind():
    with pytest.raises(ValueError, match="does not fit"):
        TaskLoss("age", "regression", "ce")


def test_masked_multitask_loss_trains_only_labelled_heads():
    torch.manual_seed(0)
    n = 6
    outputs = {"emotion": torch.randn(n, 7, requires_grad=True), "votes": torch.randn(n, 7, requires_grad=True),
               "age": torch.randn(n, 1, requires_grad=True)}
    targets = {"emotion": torch.tensor([0, -1, 3, -1, 6, 2]),
               "votes": torch.softmax(torch.randn(n, 7), 1),
               "age": torch.tensor([30.0, NAN, NAN, 41.0, NAN, NAN])}
    targets["votes"][[0, 2]] = NAN
    mt = MultiTaskLoss([TaskLoss("emotion", "class", "ce"), TaskLoss("votes", "distribution", "soft_ce", weight=0.5),
                        TaskLoss("age", "regression", "l1", weight=0.1)])
    total, parts = mt(outputs, targets)
    assert parts["emotion"][1] == 4 and parts["votes"][1] == 4 and parts["age"][1] == 2
    # Total = weighted sum of per-task means over labelled rows only.
    e_keep = targets["emotion"] >= 0
    expect = (torch.nn.functional.cross_entropy(outputs["emotion"][e_keep], targets["emotion"][e_keep])
              + 0.5 * soft_cross_entropy(outputs["votes"], targets["votes"])[0]
              + 0.1 * (outputs["age"][[0, 3], 0] - targets["age"][[0, 3]]).abs().mean())
    assert close(total, expect, 1e-5)
    total.backward()
    # Rows without a label get exactly zero gradient on that head.
    assert torch.equal(outputs["emotion"].grad[~e_keep], torch.zeros(2, 7))
    assert torch.equal(outputs["votes"].grad[[0, 2]], torch.zeros(2, 7))
    assert torch.equal(outputs["age"].grad[[1, 2, 4, 5]], torch.zeros(4, 1))
    assert outputs["age"].grad[[0, 3]].abs().sum() > 0


def test_a_batch_without_any_label_for_a_head_contributes_an_exact_zero():
    logits = torch.randn(3, 4, requires_grad=True)
    mt = MultiTaskLoss([TaskLoss("x", "class", "ce")])
    total, parts = mt({"x": logits}, {"x": torch.tensor([-1, -1, -1])})
    assert float(total) == 0.0 and parts["x"][1] == 0
    total.backward()
    assert torch.equal(logits.grad, torch.zeros(3, 4))
    assert np.isfinite(float(total))
