"""training/mix_packs.py: CK+ frames (class labels) join FER+'s train split (vote distributions)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from training.data import Pack, PackError
from training.mix_packs import class_map, extra_as_distribution, mix

from .packutil import make_pack

FERPLUS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
CKPLUS = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]


def ferplus_like(root: str, framing: float = 0.362) -> str:
    """make_pack's images and splits, with the emotion target rewritten as FER+ vote distributions."""
    make_pack(root, classes=FERPLUS, n={"train": 16, "val": 8, "test": 8})
    meta = json.load(open(os.path.join(root, "meta.json")))
    for split in meta["splits"]:
        y = np.load(os.path.join(root, f"{split}_emotion.npy"))
        d = np.full((len(y), 8), 0.05, dtype=np.float32)
        d[np.arange(len(y)), y] = 0.65
        np.save(os.path.join(root, f"{split}_emotion.npy"), d)
    meta["targets"] = [{"name": "emotion", "kind": "distribution", "classes": FERPLUS}]
    meta["preprocessing"] = {"crop": {"mode": "none"}, "framing": {"eyeDistance": framing, "eyeY": 0.396}}
    json.dump(meta, open(os.path.join(root, "meta.json"), "w"))
    return root


def ckplus_like(root: str, framing: float = 0.374) -> str:
    make_pack(root, classes=CKPLUS, n={"fold0": 7, "fold1": 7, "fold2": 7}, seed=3)
    meta = json.load(open(os.path.join(root, "meta.json")))
    meta["preprocessing"] = {"crop": {"mode": "none"}, "framing": {"eyeDistance": framing, "eyeY": 0.402}}
    json.dump(meta, open(os.path.join(root, "meta.json"), "w"))
    return root


def test_class_map_folds_synonyms_and_refuses_unknown_classes():
    assert class_map(CKPLUS, FERPLUS) == [4, 7, 5, 6, 1, 3, 2]
    with pytest.raises(PackError, match="calm"):
        class_map(["happy", "calm"], FERPLUS)
    d = extra_as_distribution(np.array([0, 4, -1]), class_map(CKPLUS, FERPLUS), 8)
    assert d[0].tolist() == [0, 0, 0, 0, 1, 0, 0, 0] and d[1].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    assert np.isnan(d[2]).all()


def test_mix_adds_the_chosen_folds_to_train_only(tmp_path):
    base, extra = ferplus_like(str(tmp_path / "fp")), ckplus_like(str(tmp_path / "ck"))
    mix(base, extra, ["fold0", "fold1"], str(tmp_path / "out"), repeat=2)
    out, b, e = Pack(str(tmp_path / "out")), Pack(base), Pack(extra)
    assert out.images("train").shape[0] == 16 + 2 * 14
    assert out.images("val").shape[0] == 8 and out.images("test").shape[0] == 8
    y = out.labels("train", "emotion")
    np.testing.assert_array_equal(y[:16], b.labels("train", "emotion"))
    np.testing.assert_array_equal(out.images("train")[16:23], e.images("fold0"))
    np.testing.assert_array_equal(out.images("train")[16 + 14:16 + 21], e.images("fold0"))  # the repeat
    ck = e.labels("fold0", "emotion")
    assert [FERPLUS[i] for i in y[16:23].argmax(1)] == [{"happy": "happiness"}.get(CKPLUS[c], CKPLUS[c]) for c in ck]
    assert out.meta["source"]["mixed"]["extraSplits"] == ["fold0", "fold1"]
    assert out.meta["preprocessing"]["framing"]["eyeDistance"] == 0.362  # the base's crop is what the model is served


def test_mix_refuses_packs_framed_differently(tmp_path):
    base, extra = ferplus_like(str(tmp_path / "fp")), ckplus_like(str(tmp_path / "ck"), framing=0.45)
    with pytest.raises(PackError, match="framing eyeDistance"):
        mix(base, extra, ["fold0"], str(tmp_path / "out"))
