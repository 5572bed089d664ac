"""Builds tiny packs in the real format (docs/pack-format.md) for tests: learnable synthetic faces."""
from __future__ import annotations

import json
import os
from typing import Dict, Optional, Sequence

import numpy as np

EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def synthetic_images(labels: np.ndarray, size: int = 48, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Noise plus a bright bar whose position encodes the class: a model can learn it in a few
    hundred steps, so tests can check that training actually reduces the loss."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    x = rng.normal(110, 25, size=(n, size, size, channels))
    k = max(1, int(labels.max()) + 1) if n else 1
    band = max(2, size // (k + 1))
    for i, y in enumerate(labels):
        if y >= 0:
            r0 = int(y) * band + band // 2
            x[i, r0:r0 + band // 2, size // 6: size - size // 6, :] += 90
    return np.clip(x, 0, 255).astype(np.uint8)


def make_pack(root: str, *, n: Dict[str, int] = None, size: int = 48, channels: int = 1,
              classes: Sequence[str] = EMOTIONS, extra_targets: bool = False, seed: int = 0,
              crop: Optional[dict] = None) -> str:
    """Writes a pack with a class target ``emotion`` (and, with ``extra_targets``, a vote
    ``distribution`` ``ferplus``, a ``multilabel`` ``attrs`` and a ``regression`` ``age``, each
    missing on some rows, as a joint multi-task pack)."""
    n = n or {"train": 64, "val": 32, "test": 32}
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(seed)
    k = len(classes)
    targets = [{"name": "emotion", "kind": "class", "classes": list(classes)}]
    if extra_targets:
        targets += [{"name": "ferplus", "kind": "distribution", "classes": list(classes)},
                    {"name": "attrs", "kind": "multilabel", "classes": ["glasses", "beard"]},
                    {"name": "age", "kind": "regression"}]
    splits = {}
    for s_i, (split, count) in enumerate(n.items()):
        y = np.arange(count) % k
        rng.shuffle(y)
        x = synthetic_images(y, size, channels, seed + 17 * s_i)
        np.save(os.path.join(root, f"{split}_x.npy"), x)
        np.save(os.path.join(root, f"{split}_emotion.npy"), y.astype(np.int64))
        if extra_targets:
            votes = rng.random((count, k)).astype(np.float32)
            votes[np.arange(count), y] += 3
            dist = (votes / votes.sum(1, keepdims=True)).astype(np.float32)
            dist[::4] = np.nan  # every 4th row has no FER+ votes
            np.save(os.path.join(root, f"{split}_ferplus.npy"), dist)
            attrs = (rng.random((count, 2)) > 0.5).astype(np.float32)
            attrs[1::3] = np.nan
            np.save(os.path.join(root, f"{split}_attrs.npy"), attrs)
            age = rng.uniform(1, 80, count).astype(np.float32)
            age[2::5] = np.nan
            np.save(os.path.join(root, f"{split}_age.npy"), age)
        splits[split] = {"count": count, "perClass": {"emotion": {c: int((y == i).sum()) for i, c in enumerate(classes)}}}
    meta = {"format": "facesense-pack", "version": 1, "source": {"layout": "synthetic-test", "root": root},
            "image": {"height": size, "width": size, "channels": channels},
            "preprocessing": {"crop": crop or {"mode": "aligned", "eyeDistance": 0.42, "eyeY": 0.38}, "resize": "bilinear"},
            "targets": targets, "splits": splits, "skipped": {"count": 0, "items": []},
            "createdBy": "training/tests/packutil.py"}
    with open(os.path.join(root, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    return root
