"""Evaluation metrics per task kind (accuracy, per-class precision/recall/F1, confusion, MAE)."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np


def classification_report(pred: np.ndarray, true: np.ndarray, labels: Sequence[str],
                          scores: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Accuracy, mean per-class recall, top-2 accuracy, per-class P/R/F1/support (paper 001's
    reports) and the confusion matrix (rows = true class, columns = predicted)."""
    k = len(labels)
    n = len(true)
    if n == 0:
        return {"count": 0}
    conf = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(conf).astype(np.float64)
    support = conf.sum(axis=1)
    predicted = conf.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    out: Dict[str, Any] = {
        "count": int(n),
        "acc": float(tp.sum() / n),
        "balanced_acc": float(recall[support > 0].mean()) if (support > 0).any() else 0.0,
        "macro_f1": float(f1[support > 0].mean()) if (support > 0).any() else 0.0,
        "per_class": {lab: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                            "support": int(support[i])} for i, lab in enumerate(labels)},
        "confusion": conf.tolist(),
    }
    if scores is not None and k > 2:
        top2 = np.argsort(-scores, axis=1)[:, :2]
        out["top2_acc"] = float((top2 == true[:, None]).any(axis=1).mean())
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def regression_report(pred: np.ndarray, true: np.ndarray,
                      bands: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, Any]:
    """MAE, RMSE, CS(5) (share within 5 units, the age-estimation literature's cumulative score) and,
    per named band (training/outputs.py), the accuracy of the predicted band (paper 000's 17
    five-year classes; FairFace's 9 groups) and the share at most one band off."""
    err = pred - true
    out: Dict[str, Any] = {"count": int(len(true)), "mae": float(np.abs(err).mean()),
                           "rmse": float(np.sqrt((err ** 2).mean())), "cs5": float((np.abs(err) <= 5).mean())}
    for b in bands or []:
        starts = np.asarray(b["starts"], dtype=np.float64)
        # Whole units, as outputs.band_index: a band holds round(value).
        bp = np.searchsorted(starts, np.round(pred), side="right") - 1
        bt = np.searchsorted(starts, np.round(true), side="right") - 1
        bp, bt = np.clip(bp, 0, len(starts) - 1), np.clip(bt, 0, len(starts) - 1)
        out[f"{b['name']}_acc"] = float((bp == bt).mean())
        out[f"{b['name']}_acc1"] = float((np.abs(bp - bt) <= 1).mean())
    return out


def task_metrics(kind: str, logits: np.ndarray, target: np.ndarray, labels: List[str],
                 bin_values: Optional[Sequence[float]] = None,
                 bands: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, Any]:
    if kind == "class":
        keep = target >= 0
        rep = classification_report(logits[keep].argmax(1), target[keep], labels, logits[keep])
        if bin_values is not None and keep.any():
            # Expectation decoding (e.g. age bins → years): MAE of Σ p·bin against the true bin's value.
            z = logits[keep] - logits[keep].max(1, keepdims=True)
            p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
            bins = np.asarray(bin_values, dtype=np.float64)
            rep["mae"] = float(np.abs(p @ bins - bins[target[keep]]).mean())
        return rep
    if kind == "distribution":
        keep = ~np.isnan(target).any(axis=1)
        # FER+ protocol: accuracy against the majority vote.
        return classification_report(logits[keep].argmax(1), target[keep].argmax(1), labels, logits[keep])
    if kind == "multilabel":
        present = ~np.isnan(target)
        if not present.any():
            return {"count": 0}
        hit = ((logits > 0) == (target > 0.5)) & present
        per = hit.sum(0) / np.maximum(present.sum(0), 1)
        return {"count": int(present.any(1).sum()), "acc": float(hit.sum() / present.sum()),
                "per_label_acc": {lab: float(per[i]) for i, lab in enumerate(labels)}}
    if kind == "regression":
        flat = logits.reshape(len(logits), -1)
        if bin_values is not None and flat.shape[1] == len(bin_values) and flat.shape[1] > 1:
            pred = _softmax(flat.astype(np.float64)) @ np.asarray(bin_values, dtype=np.float64)  # expectation decoding
        else:
            pred = flat[:, 0]
        keep = ~np.isnan(target)
        if not keep.any():
            return {"count": 0}
        return regression_report(pred[keep], target[keep].astype(np.float64), bands)
    raise ValueError(f"unknown target kind {kind!r}")
