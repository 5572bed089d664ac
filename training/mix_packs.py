"""One expression pack from FER+ and CK+ (issue 17: multi-dataset expression training).

``facesense merge-packs`` joins packs whose shared targets have the same classes; FER+ (8 classes,
vote distributions) and CK+ (7 classes, no neutral, one label per frame) do not. This writes a pack
whose rows all carry the base pack's ``emotion`` target: the extra pack's class labels become
one-hot distributions over the base classes, matched by name through the synonyms of
src/eval/label-map.ts (CK+ "happy" is FER+ "happiness"). Only the chosen splits (e.g. CK+'s
subject folds fold0..fold7) join the base's train split, repeated ``--repeat`` times so that a
few hundred posed faces weigh against 28k FER+ faces; the other folds stay out for measurement.
The base pack's other splits and its meta (framing, crop) are kept: the two sets' measured framing
must agree within ``--max-framing-gap`` (both are 48 px face crops; CK+48 eyes 37.4% apart at
40.2% height vs FER+'s 36.2% at 39.6%).

    python -m training.mix_packs --base packs/ferplus --extra packs/ckplus48 \\
        --extra-splits fold0,fold1,fold2,fold3,fold4,fold5,fold6,fold7 --repeat 3 --out packs/ferplus-ckplus
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from .data import Pack, PackError

#: Canonical expression name → names meaning the same class (mirrors src/eval/label-map.ts).
SYNONYMS: Dict[str, Sequence[str]] = {
    "anger": ("angry", "anger"), "contempt": ("contempt", "contemptuous"), "disgust": ("disgust", "disgusted"),
    "fear": ("fear", "fearful", "afraid", "scared"), "happiness": ("happy", "happiness", "joy"),
    "neutral": ("neutral",), "sadness": ("sad", "sadness"), "surprise": ("surprise", "surprised"),
}
_CANONICAL = {n: c for c, names in SYNONYMS.items() for n in names}


def canonical(name: str) -> str:
    key = name.strip().lower()
    return _CANONICAL.get(key, key)


def class_map(extra: Sequence[str], base: Sequence[str]) -> List[int]:
    """Index into ``base`` of each ``extra`` class; every extra class must have a counterpart."""
    where = {canonical(c): i for i, c in enumerate(base)}
    missing = [c for c in extra if canonical(c) not in where]
    if missing:
        raise PackError(f"classes {missing} have no counterpart among {list(base)}")
    return [where[canonical(c)] for c in extra]


def extra_as_distribution(labels: np.ndarray, mapping: Sequence[int], k: int) -> np.ndarray:
    """Class indices of the extra pack (-1 = missing) → float32 one-hot rows over the base's k classes."""
    out = np.full((labels.shape[0], k), np.nan, dtype=np.float32)
    ok = labels >= 0
    out[ok] = 0.0
    out[np.flatnonzero(ok), np.asarray(mapping, dtype=np.int64)[labels[ok]]] = 1.0
    return out


def mix(base_dir: str, extra_dir: str, extra_splits: Sequence[str], out_dir: str, *, target: str = "emotion",
        repeat: int = 1, into: str = "train", max_framing_gap: float = 0.03) -> dict:
    base, extra = Pack(base_dir), Pack(extra_dir)
    if (base.height, base.width, base.channels) != (extra.height, extra.width, extra.channels):
        raise PackError(f"{extra_dir}: images {extra.height}x{extra.width}x{extra.channels} differ from "
                        f"{base_dir}'s {base.height}x{base.width}x{base.channels}")
    fb = base.meta.get("preprocessing", {}).get("framing") or {}
    fe = extra.meta.get("preprocessing", {}).get("framing") or {}
    for key in ("eyeDistance", "eyeY"):
        if key in fb and key in fe and abs(float(fb[key]) - float(fe[key])) > max_framing_gap:
            raise PackError(f"{extra_dir}: framing {key} {fe[key]:.3f} differs from {base_dir}'s {fb[key]:.3f} "
                            f"by more than {max_framing_gap}")
    spec, espec = base.target(target), extra.target(target)
    if spec.kind != "distribution" or espec.kind != "class":
        raise PackError(f"{target}: expects a distribution target in the base and a class target in the extra pack")
    mapping = class_map(espec.classes, spec.classes)
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    os.makedirs(out_dir, exist_ok=True)
    meta = json.loads(json.dumps(base.meta))
    for split in meta["splits"]:
        x, y = base.images(split), base.labels(split, target)
        if split == into:
            xs = [np.asarray(x)] + [np.asarray(extra.images(s)) for s in extra_splits] * repeat
            ys = [np.asarray(y)] + [extra_as_distribution(np.asarray(extra.labels(s, target)), mapping, spec.size)
                                    for s in extra_splits] * repeat
            x, y = np.concatenate(xs), np.concatenate(ys)
            meta["splits"][split]["count"] = int(x.shape[0])
            # The base's per-class counts (e.g. FER+'s emotion_majority) describe its rows only: replace
            # them by the summed votes of the mixed split.
            meta["splits"][split]["perClass"] = {f"{target}_votes": {c: round(float(v), 3) for c, v in zip(spec.classes, np.nan_to_num(y).sum(0))}}
        np.save(os.path.join(out_dir, f"{split}_x.npy"), np.asarray(x))
        np.save(os.path.join(out_dir, f"{split}_{target}.npy"), np.asarray(y))
    meta["source"] = {"mixed": {"base": base.meta.get("source"), "extra": extra.meta.get("source"),
                                "extraSplits": list(extra_splits), "repeat": repeat, "into": into,
                                "classMap": {c: spec.classes[i] for c, i in zip(espec.classes, mapping)}}}
    meta["targets"] = [t for t in meta["targets"] if t["name"] == target]
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    return meta


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="pack with a distribution target (FER+)")
    ap.add_argument("--extra", required=True, help="pack with a class target (CK+)")
    ap.add_argument("--extra-splits", required=True, help="comma-separated splits of the extra pack to add")
    ap.add_argument("--into", default="train", help="the base split they join (default train)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--target", default="emotion")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    meta = mix(a.base, a.extra, [s for s in a.extra_splits.split(",") if s], a.out, target=a.target,
               repeat=a.repeat, into=a.into)
    print(json.dumps({s: v["count"] for s, v in meta["splits"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
