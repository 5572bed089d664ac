"""Export option --activations: chosen layers' [N, C, H, W] outputs as extra ONNX outputs
(act_<layer>), declared in the manifest, equal in onnxruntime-node to the torch modules' outputs;
without the option the export is unchanged."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from training.export import (ACTIVATION_PREFIX, activation_name, build_manifest, check_manifest, export_onnx,
                             main, resolve_activations)
from training.models import create

from .conftest import run_ort, validate_manifests
from .test_export import _train


def _random_resnet(seed: int = 0):
    torch.manual_seed(seed)
    model = create("compact_resnet", 1, input_size=48, heads={"emotion": 7}, stem=4, widths=(4, 8, 8), blocks=(1, 1, 1))
    for m in model.modules():  # BN statistics of random images, so the maps depend on the input
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.rand(16, 1, 48, 48, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


def _torch_maps(model, layers, x):
    got = {}
    mods = dict(model.named_modules())
    hooks = [mods[n].register_forward_hook(lambda _m, _i, o, n=n: got.setdefault(n, o.clone())) for n in layers]
    with torch.no_grad():
        logits = model(torch.from_numpy(x))["emotion"].numpy()
    for h in hooks:
        h.remove()
    return logits, {n: t.numpy() for n, t in got.items()}


def _manifest(path, acts, embedding_size=None):
    return build_manifest(
        id=os.path.splitext(os.path.basename(path))[0], onnx_path=path, in_channels=1, input_size=48,
        crop={"mode": "none"}, normalisation={"kind": "scale", "scale": 1 / 255},
        tasks=[{"name": "emotion", "decode": "softmax", "labels": list("abcdefg")}], description="test",
        licence="test", training={}, metrics={}, embedding_size=embedding_size, activations=acts)


def test_stages_shorthand_exports_every_stage_with_its_shape(tmp_path):
    model = _random_resnet()
    acts = resolve_activations(model, ["stages", "stem"])
    assert acts == [
        {"name": "act_stages_0", "layer": "stages.0", "channels": 4, "height": 24, "width": 24},
        {"name": "act_stages_1", "layer": "stages.1", "channels": 8, "height": 12, "width": 12},
        {"name": "act_stages_2", "layer": "stages.2", "channels": 8, "height": 6, "width": 6},
        {"name": "act_stem", "layer": "stem", "channels": 4, "height": 24, "width": 24},
    ]
    path = str(tmp_path / "act.onnx")
    export_onnx(model, path, ["emotion"], embedding=True, activations=acts)
    man = _manifest(path, acts, embedding_size=8)
    check_manifest(man)
    with open(tmp_path / "act.json", "w", encoding="utf-8") as f:
        json.dump(man, f)
    validate_manifests(str(tmp_path / "act.json"))
    assert man["activations"] == acts
    x = np.random.default_rng(3).random((3, 1, 48, 48), dtype=np.float32)
    got = run_ort(path, x, str(tmp_path))
    assert list(got) == ["emotion", "embedding", "act_stages_0", "act_stages_1", "act_stages_2", "act_stem"]
    logits, maps = _torch_maps(model, [a["layer"] for a in acts], x)
    np.testing.assert_allclose(got["emotion"], logits, atol=1e-5)  # the heads are unchanged
    for a in acts:
        assert got[a["name"]].shape == (3, a["channels"], a["height"], a["width"])
        np.testing.assert_allclose(got[a["name"]], maps[a["layer"]], atol=1e-5)
    assert (got["act_stages_2"] >= 0).all(), "a stage ends in a ReLU"
    assert np.abs(got["act_stages_2"][0] - got["act_stages_2"][1]).max() > 1e-4, "maps depend on the input"


def test_without_activations_the_export_is_unchanged(tmp_path):
    model = _random_resnet()
    a, b = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    export_onnx(model, a, ["emotion"])
    export_onnx(model, b, ["emotion"], activations=[])
    assert open(a, "rb").read() == open(b, "rb").read()
    assert "activations" not in _manifest(a, [])
    assert list(run_ort(a, np.zeros((1, 1, 48, 48), np.float32), str(tmp_path))) == ["emotion"]
    # the hooks are gone after an export with activations: the model runs as before
    export_onnx(model, b, ["emotion"], activations=resolve_activations(model, ["stages.1"]))
    assert all(not m._forward_hooks for m in model.modules())


def test_flip_averaging_keeps_the_unmirrored_maps(tmp_path):
    model = _random_resnet(1)
    acts = resolve_activations(model, ["stages.1"])
    path = str(tmp_path / "flip.onnx")
    export_onnx(model, path, ["emotion"], tta_flip=True, activations=acts)
    x = np.random.default_rng(4).random((2, 1, 48, 48), dtype=np.float32)
    got = run_ort(path, x, str(tmp_path))
    logits, maps = _torch_maps(model, ["stages.1"], x)
    mirrored, _ = _torch_maps(model, [], x[..., ::-1].copy())
    np.testing.assert_allclose(got["emotion"], (logits + mirrored) / 2, atol=1e-5)
    np.testing.assert_allclose(got["act_stages_1"], maps["stages.1"], atol=1e-5)


def test_bad_layers_are_refused_with_the_names_there_are():
    model = _random_resnet()
    with pytest.raises(ValueError, match=r"--activations stage9: .*'stages' \(every stage\).*stem \(4×24×24\), "
                                         r"stem\.0 \(4×48×48\), stem\.1 \(4×24×24\), stages \(8×6×6\), stages\.0 \(4×24×24\)"):
        resolve_activations(model, ["stage9"])
    with pytest.raises(ValueError, match=r"--activations heads.emotion: its output is not a \[N, C, H, W\] map"):
        resolve_activations(model, ["heads.emotion"])
    tiny = create("tiny", 1, input_size=48, heads={"emotion": 7})
    with pytest.raises(ValueError, match=r"has no such layer; name a module with a \[C×H×W\] output, e.g. trunk \(16×12×12\), trunk\.0 \(8×24×24\), trunk\.1"):
        resolve_activations(tiny, ["stages"])  # no stages module: no shorthand
    assert [a["layer"] for a in resolve_activations(model, ["stages.2", " stages.2 ", ""])] == ["stages.2"]
    assert activation_name("stages.0.conv1") == ACTIVATION_PREFIX + "stages_0_conv1"


def test_manifest_check_refuses_bad_activation_entries(tmp_path):
    ok = {"name": "act_x", "layer": "x", "channels": 1, "height": 1, "width": 1}
    bad = [[{**ok, "name": "emotion"}], [{**ok, "channels": 0}], [{**ok, "height": 2.5}], [{**ok, "layer": ""}],
           [ok, {**ok, "name": "act_y"}], [ok, ok]]
    path = str(tmp_path / "m.onnx")
    open(path, "wb").write(b"x")
    check_manifest(_manifest(path, [ok]))
    for entries in bad:
        with pytest.raises(ValueError, match="activation"):
            check_manifest(_manifest(path, entries))


def test_export_cli_with_activations_on_a_trained_run(pack_dir, tmp_path, capsys):
    run = _train(pack_dir, str(tmp_path / "runs"))
    out = tmp_path / "models"
    assert main(["--run", run, "--out", str(out), "--id", "acts", "--activations", "trunk.0,trunk.1"]) == 0
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [a["name"] for a in event["activations"]] == ["act_trunk_0", "act_trunk_1"]
    man = json.load(open(out / "acts.json"))
    validate_manifests(str(out / "acts.json"))
    assert [(a["layer"], a["channels"], a["height"], a["width"]) for a in man["activations"]] == [
        ("trunk.0", 8, 24, 24), ("trunk.1", 16, 12, 12)]
    got = run_ort(str(out / "acts.onnx"), np.random.default_rng(0).random((2, 1, 48, 48), dtype=np.float32), str(tmp_path))
    assert {k: v.shape for k, v in got.items()} == {"emotion": (2, 7), "embedding": (2, 16),
                                                     "act_trunk_0": (2, 8, 24, 24), "act_trunk_1": (2, 16, 12, 12)}
    assert main(["--run", run, "--out", str(out), "--id", "bad", "--activations", "nope"]) == 2
    assert "no such layer" in capsys.readouterr().err
