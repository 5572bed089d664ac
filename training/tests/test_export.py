"""Export of trained runs: ONNX + manifest accepted by src/core/models/manifest.ts, outputs equal to
torch in onnxruntime-node, GCN statistics and flip averaging carried into the graph/manifest."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import torch

from training.config import load_config
from training.data import Pack, normalise, to_model_input
from training.export import data_terms, export_run
from training.export_random import export_random
from training.models import create
from training.train import train

from .conftest import run_ort, validate_manifests


def _train(pack, out, **over):
    raw = {"pack": pack, "out_dir": out, "name": "m", "model": {"arch": "tiny"}, "epochs": 1, "batch_size": 32,
           "checkpoint_minutes": 0, "threads": 1, "eval_tta_flip": True}
    raw.update(over)
    train(load_config(raw=raw))
    return os.path.join(out, "m")


def _torch_outputs(run_dir, x):
    ck = torch.load(os.path.join(run_dir, "best.pt"), map_location="cpu")
    model = create(ck["arch"], ck["in_channels"], input_size=ck["input_size"], heads=ck["heads"], **ck["arch_kwargs"])
    model.load_state_dict(ck["model"])
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x))


def _inputs(pack_dir, norm, n=5):
    pack = Pack(pack_dir)
    return normalise(to_model_input(pack.images("test")[:n], 1, 48), norm).numpy()


def test_export_of_a_trained_run(pack_dir, tmp_path):
    run = _train(pack_dir, str(tmp_path / "runs"), model_card={"id": "emo-test", "licence": "test-only"})
    out = tmp_path / "models"
    man = export_run(run, str(out))
    onnx_path, man_path = out / "emo-test.onnx", out / "emo-test.json"
    assert onnx_path.is_file() and man_path.is_file()
    assert json.load(open(man_path)) == man
    validate_manifests(str(man_path))
    assert man["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert man["file"] == "emo-test.onnx" and man["licence"] == "test-only"
    inp = man["input"]
    assert (inp["name"], inp["width"], inp["height"], inp["channels"], inp["layout"]) == ("input", 48, 48, 1, "NCHW")
    assert inp["crop"] == {"mode": "aligned", "eyeDistance": 0.42, "eyeY": 0.38}  # copied from the pack's meta
    assert inp["normalisation"] == {"kind": "scale", "scale": 1 / 255}
    assert man["outputs"] == [{"task": "emotion", "name": "emotion", "decode": "softmax",
                               "labels": ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]}]
    assert set(man["training"]) == {"data", "command", "architecture"} and man["training"]["architecture"] == "tiny"
    assert "emotion.test_acc" in man["metrics"] and "emotion.val_acc" in man["metrics"]
    x = _inputs(pack_dir, inp["normalisation"])
    ort_out = run_ort(str(onnx_path), x, str(tmp_path))
    np.testing.assert_allclose(ort_out["emotion"], _torch_outputs(run, x)["emotion"].numpy(), atol=1e-5)
    # the trunk's features are a second output, named and sized in the manifest
    ck = torch.load(os.path.join(run, "best.pt"), map_location="cpu")
    model = create(ck["arch"], ck["in_channels"], input_size=ck["input_size"], heads=ck["heads"], **ck["arch_kwargs"])
    model.load_state_dict(ck["model"])
    with torch.no_grad():
        feats = model.eval().forward_features(torch.from_numpy(x)).numpy()
    assert man["embedding"] == {"name": "embedding", "size": feats.shape[1]}
    np.testing.assert_allclose(ort_out["embedding"], feats, atol=1e-5)


def test_export_with_gcn_and_flip_averaging(pack_dir, tmp_path):
    run = _train(pack_dir, str(tmp_path / "runs"), normalisation={"kind": "gcn"},
                 model={"arch": "paper000", "kwargs": {"width": 0.25, "fc": 32}})
    man = export_run(run, str(tmp_path / "models"), id="p0", tta_flip=True)
    validate_manifests(str(tmp_path / "models" / "p0.json"))
    norm = man["input"]["normalisation"]
    assert norm["kind"] == "gcn" and norm["norm"] == 100 and len(norm["pixelMean"]) == 48 * 48
    assert man["metrics"]["tta"] == "hflip" and "flip" in man["training"]["architecture"]
    x = _inputs(pack_dir, norm)
    got = run_ort(str(tmp_path / "models" / "p0.onnx"), x, str(tmp_path))["emotion"]
    ref = (_torch_outputs(run, x)["emotion"] + _torch_outputs(run, x[..., ::-1].copy())["emotion"]) / 2
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-4)


def test_ensemble_export_averages_its_members_logits(pack_dir, tmp_path):
    a = _train(pack_dir, str(tmp_path / "a"), seed=1)
    b = _train(pack_dir, str(tmp_path / "b"), seed=2)
    man = export_run(a, str(tmp_path / "models"), id="ens", ensemble_with=[b])
    validate_manifests(str(tmp_path / "models" / "ens.json"))
    assert "ensemble" in man["training"]["architecture"]
    assert "emotion.test_acc" not in man["metrics"]  # a member's figures are not the ensemble's
    x = _inputs(pack_dir, man["input"]["normalisation"])
    got = run_ort(str(tmp_path / "models" / "ens.onnx"), x, str(tmp_path))["emotion"]
    ref = (_torch_outputs(a, x)["emotion"] + _torch_outputs(b, x)["emotion"]) / 2
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-5)


def test_fp16_weights_halve_the_file_and_keep_the_outputs(pack_dir, tmp_path):
    import onnx
    a = _train(pack_dir, str(tmp_path / "a"), seed=1, model={"arch": "compact_resnet", "kwargs": {"stem": 8, "widths": [16, 32, 64]}})
    b = _train(pack_dir, str(tmp_path / "b"), seed=2, model={"arch": "compact_resnet", "kwargs": {"stem": 8, "widths": [16, 32, 64]}})
    full = export_run(a, str(tmp_path / "models"), id="ens32", ensemble_with=[b])
    half = export_run(a, str(tmp_path / "models"), id="ens16", ensemble_with=[b], fp16_weights=True)
    validate_manifests(str(tmp_path / "models" / "ens16.json"))
    assert "float16" in half["training"]["architecture"] and "float16" not in full["training"]["architecture"]
    p32, p16 = tmp_path / "models" / "ens32.onnx", tmp_path / "models" / "ens16.onnx"
    assert os.path.getsize(p16) < 0.56 * os.path.getsize(p32)
    types = {i.data_type for i in onnx.load(str(p16)).graph.initializer}
    assert onnx.TensorProto.FLOAT not in types and onnx.TensorProto.FLOAT16 in types
    x = _inputs(pack_dir, full["input"]["normalisation"], n=16)
    ref = run_ort(str(p32), x, str(tmp_path))["emotion"]
    got = run_ort(str(p16), x, str(tmp_path))["emotion"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=2e-2 * max(1.0, float(np.abs(ref).max())))
    assert not np.array_equal(got, ref)  # the weights really were rounded


def test_ensemble_export_refuses_mismatched_runs(pack_dir, tmp_path):
    import pytest
    a = _train(pack_dir, str(tmp_path / "a"))
    b = _train(pack_dir, str(tmp_path / "b"), model={"arch": "tiny", "input_size": 40})
    with pytest.raises(ValueError, match="input_size"):
        export_run(a, str(tmp_path / "models"), id="ens", ensemble_with=[b])


def test_multi_task_export_names_one_output_per_task(joint_pack_dir, tmp_path):
    bins = [float(v) for v in range(7)]
    run = _train(joint_pack_dir, str(tmp_path / "runs"), primary="emotion",
                 outputs={"emotion": {"decode": "expectation", "binValues": bins}})
    man = export_run(run, str(tmp_path / "models"), id="joint")
    validate_manifests(str(tmp_path / "models" / "joint.json"))
    by = {o["task"]: o for o in man["outputs"]}
    assert list(by) == ["emotion", "ferplus", "attrs", "age"]
    assert by["emotion"]["decode"] == "expectation" and by["emotion"]["binValues"] == bins
    assert by["ferplus"]["decode"] == "softmax" and by["attrs"]["decode"] == "sigmoid"
    assert by["age"]["decode"] == "identity" and by["age"]["labels"] == ["age"]
    x = np.random.default_rng(0).random((2, 1, 48, 48), dtype=np.float32)
    got = run_ort(str(tmp_path / "models" / "joint.onnx"), x, str(tmp_path))
    size = man["embedding"]["size"]
    assert {k: v.shape for k, v in got.items()} == {"emotion": (2, 7), "ferplus": (2, 7), "attrs": (2, 2), "age": (2, 1),
                                                    "embedding": (2, size)}


def test_export_random_fixture(tmp_path):
    path = str(tmp_path / "tiny-emotion.onnx")
    man = export_random(path)
    validate_manifests(str(tmp_path / "tiny-emotion.json"))
    assert os.path.getsize(path) < 200_000
    assert man["input"]["crop"] == {"mode": "aligned", "eyeDistance": 0.42, "eyeY": 0.38}
    assert man["input"]["normalisation"] == {"kind": "scale", "scale": 1 / 255}
    assert man["outputs"][0]["decode"] == "softmax" and len(man["outputs"][0]["labels"]) == 7
    x = np.random.default_rng(1).random((3, 1, 48, 48), dtype=np.float32)
    scores = run_ort(path, x, str(tmp_path))["emotion"]
    assert scores.shape == (3, 7) and np.isfinite(scores).all()
    assert np.abs(scores[0] - scores[1]).max() > 1e-4  # outputs depend on the input
    again = str(tmp_path / "again" / "tiny-emotion.onnx")
    os.makedirs(os.path.dirname(again))
    assert export_random(again)["sha256"] == man["sha256"]  # deterministic for a seed


def test_data_terms_follow_the_pack_source():
    assert "FER2013" in data_terms({"layout": "fer2013-folders"})[0]
    assert "FER+" in data_terms({"layout": "ferplus-folders"})[0]
    assert "UTKFace" in data_terms({"layout": "utkface"})[0]
    assert data_terms({"layout": "synthetic-test", "root": "/tmp/pack"}) == ("", "")


def test_ensemble_screening_scores_every_subset(pack_dir, tmp_path):
    from training.ensemble import screen
    a = _train(pack_dir, str(tmp_path / "a"), seed=1)
    b = _train(pack_dir, str(tmp_path / "b"), seed=2)
    rows = screen(pack_dir, "test", [a, b], tta_flip=False)
    assert [r["runs"] for r in rows] == [[a], [b], [a, b]]
    # a single run's row is the trainer's own test figure (no flip averaging there either)
    res = json.load(open(os.path.join(a, "results.json")))
    assert rows[0]["tasks"]["emotion"]["acc"] == round(res["test"]["tasks"]["emotion"]["acc"], 4)
    # the pair's row is the accuracy of the averaged logits
    x = _inputs(pack_dir, {"kind": "scale", "scale": 1 / 255}, n=len(Pack(pack_dir).images("test")))
    avg = (_torch_outputs(a, x)["emotion"] + _torch_outputs(b, x)["emotion"]) / 2
    y = np.asarray(Pack(pack_dir).labels("test", "emotion"))
    assert rows[2]["tasks"]["emotion"]["acc"] == round(float((avg.argmax(1).numpy() == y).mean()), 4)


def test_ensemble_of_runs_with_other_heads_exports_the_shared_ones(joint_pack_dir, tmp_path):
    import pytest
    a = _train(joint_pack_dir, str(tmp_path / "a"), seed=1, primary="emotion")
    b = _train(joint_pack_dir, str(tmp_path / "b"), seed=2, primary="emotion", targets=["emotion", "age"])
    with pytest.raises(ValueError, match="heads differ"):
        export_run(a, str(tmp_path / "models"), id="ens", ensemble_with=[b])
    with pytest.raises(ValueError, match="no head attrs"):
        export_run(b, str(tmp_path / "models"), id="ens", only=["emotion", "attrs"])
    man = export_run(a, str(tmp_path / "models"), id="ens", ensemble_with=[b], only=["age", "emotion"])
    validate_manifests(str(tmp_path / "models" / "ens.json"))
    assert [o["task"] for o in man["outputs"]] == ["emotion", "age"]  # the checkpoint's order
    x = np.random.default_rng(0).random((3, 1, 48, 48), dtype=np.float32)
    got = run_ort(str(tmp_path / "models" / "ens.onnx"), x, str(tmp_path))
    assert set(got) == {"emotion", "age"}
    for task in ("emotion", "age"):
        ref = (_torch_outputs(a, x)[task] + _torch_outputs(b, x)[task]) / 2
        np.testing.assert_allclose(got[task], ref.numpy(), atol=1e-5)


def test_graft_joins_heads_trained_on_the_frozen_trunk(joint_pack_dir, tmp_path):
    import pytest
    a = _train(joint_pack_dir, str(tmp_path / "a"), seed=1, primary="emotion", targets=["emotion"], precision="fp32")
    b = _train(joint_pack_dir, str(tmp_path / "b"), seed=2, primary="age", targets=["age"], precision="fp32",
               init=a, freeze_trunk=True, optimizer={"kind": "sgd", "lr": 0.1})
    man = export_run(a, str(tmp_path / "models"), id="one", graft=[b])
    validate_manifests(str(tmp_path / "models" / "one.json"))
    assert [o["task"] for o in man["outputs"]] == ["emotion", "age"]
    assert "emotion.test_acc" in man["metrics"] and "age.test_mae" in man["metrics"]
    assert "frozen trunk" in man["training"]["architecture"] and " && " in man["training"]["command"]
    x = np.random.default_rng(0).random((3, 1, 48, 48), dtype=np.float32)
    got = run_ort(str(tmp_path / "models" / "one.onnx"), x, str(tmp_path))
    np.testing.assert_allclose(got["emotion"], _torch_outputs(a, x)["emotion"].numpy(), atol=1e-5)
    np.testing.assert_allclose(got["age"], _torch_outputs(b, x)["age"].numpy(), atol=1e-5)
    ck = torch.load(os.path.join(b, "best.pt"), map_location="cpu")
    frozen = create(ck["arch"], ck["in_channels"], input_size=ck["input_size"], heads=ck["heads"], **ck["arch_kwargs"])
    frozen.load_state_dict(ck["model"])
    with torch.no_grad():  # one trunk: the grafted run's features are the embedding
        np.testing.assert_allclose(got["embedding"], frozen.eval().forward_features(torch.from_numpy(x)).numpy(), atol=1e-5)
    # refused: a trunk trained on (not frozen), heads both runs have, an ensemble
    c = _train(joint_pack_dir, str(tmp_path / "c"), seed=3, primary="age", targets=["age"], init=a)
    with pytest.raises(ValueError, match="trunk is not"):
        export_run(a, str(tmp_path / "models"), id="bad", graft=[c])
    with pytest.raises(ValueError, match="exist in both"):
        export_run(a, str(tmp_path / "models"), id="bad", graft=[a])
    with pytest.raises(ValueError, match="ensemble"):
        export_run(a, str(tmp_path / "models"), id="bad", graft=[b], ensemble_with=[a])
