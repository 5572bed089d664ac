"""training/onnx_ensemble.py: shipped models of different input sizes joined into one graph."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from training.export import build_manifest, export_onnx
from training.export_random import CROP, EMOTIONS
from training.models import create
from training.onnx_ensemble import build, check_members

from .conftest import run_ort, validate_manifests


def member(d: str, name: str, size: int, seed: int, crop=CROP, labels=EMOTIONS) -> str:
    torch.manual_seed(seed)
    model = create("tiny", 1, input_size=size, heads={"emotion": len(labels)}, width=8).eval()
    path = os.path.join(d, f"{name}.onnx")
    export_onnx(model, path, ["emotion"], fp16_weights=seed % 2 == 1)
    man = build_manifest(id=name, onnx_path=path, in_channels=1, input_size=size, crop=crop,
                         normalisation={"kind": "scale", "scale": 1 / 255},
                         tasks=[{"name": "emotion", "decode": "softmax", "labels": labels}], description="test",
                         licence="test", training={"data": "none", "terms": "none"}, metrics={})
    json.dump(man, open(os.path.join(d, f"{name}.json"), "w"))
    return os.path.join(d, f"{name}.json")


def test_ensemble_averages_member_logits_with_the_small_member_on_a_box_downscaled_input(tmp_path):
    d = str(tmp_path)
    small, big = member(d, "small", 24, 0), member(d, "big", 48, 1)
    man = build([small, big], os.path.join(d, "out"), "both")
    validate_manifests(os.path.join(d, "out", "both.json"))
    assert (man["input"]["width"], man["input"]["channels"]) == (48, 1)
    assert [o["name"] for o in man["outputs"]] == ["emotion"] and "embedding" not in man
    x = np.random.default_rng(0).uniform(0, 1, (3, 1, 48, 48)).astype(np.float32)
    half = x.reshape(3, 1, 24, 2, 24, 2).mean(axis=(3, 5))  # 2x2 box = bilinear half-pixel at half size
    want = (run_ort(os.path.join(d, "small.onnx"), half, d)["emotion"] + run_ort(os.path.join(d, "big.onnx"), x, d)["emotion"]) / 2
    got = run_ort(os.path.join(d, "out", "both.onnx"), x, d)["emotion"]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_members_must_crop_alike_and_share_an_output(tmp_path):
    d = str(tmp_path)
    a = json.load(open(member(d, "a", 24, 0)))
    b = json.load(open(member(d, "b", 24, 2, crop={"mode": "aligned", "eyeDistance": 0.36, "eyeY": 0.38})))
    with pytest.raises(ValueError, match="crop"):
        check_members([a, b])
    c = json.load(open(member(d, "c", 24, 2, labels=[e + "x" for e in EMOTIONS])))
    with pytest.raises(ValueError, match="share no output"):
        check_members([a, c])


def age_member(d: str, name: str, seed: int, bins) -> str:
    torch.manual_seed(seed)
    model = create("tiny", 1, input_size=24, heads={"age": len(bins)}, width=8).eval()
    path = os.path.join(d, f"{name}.onnx")
    export_onnx(model, path, ["age"])
    bands = [{"name": "coarse", "labels": ["0-9", "10+"], "starts": [0, 10]}]
    man = build_manifest(id=name, onnx_path=path, in_channels=1, input_size=24, crop=CROP,
                         normalisation={"kind": "scale", "scale": 1 / 255},
                         tasks=[{"name": "age", "decode": "expectation", "labels": [str(b) for b in bins], "binValues": bins, "bands": bands}],
                         description="test", licence="test", training={"data": "none", "terms": "none"}, metrics={})
    json.dump(man, open(os.path.join(d, f"{name}.json"), "w"))
    return os.path.join(d, f"{name}.json")


def test_expectation_outputs_over_the_same_bins_average_their_logits_and_keep_bins_and_bands(tmp_path):
    d = str(tmp_path)
    bins = [0.0, 5.0, 10.0, 20.0, 40.0]
    a, b = age_member(d, "a", 0, bins), age_member(d, "b", 1, bins)
    man = build([a, b], os.path.join(d, "out"), "ages")
    validate_manifests(os.path.join(d, "out", "ages.json"))
    (age,) = man["outputs"]
    assert age["decode"] == "expectation" and age["binValues"] == bins and age["bands"][0]["name"] == "coarse"
    x = np.random.default_rng(1).uniform(0, 1, (2, 1, 24, 24)).astype(np.float32)
    want = (run_ort(os.path.join(d, "a.onnx"), x, d)["age"] + run_ort(os.path.join(d, "b.onnx"), x, d)["age"]) / 2
    np.testing.assert_allclose(run_ort(os.path.join(d, "out", "ages.onnx"), x, d)["age"], want, atol=1e-5)
    # Same labels, other bin values: not averaged.
    c = json.load(open(age_member(d, "c", 2, bins)))
    c["outputs"][0]["binValues"] = [0.0, 6.0, 12.0, 24.0, 48.0]
    with pytest.raises(ValueError, match="different bins"):
        check_members([json.load(open(a)), c])
