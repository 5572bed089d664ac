"""Sequence models (training/sequence.py): shapes, gradients, variable lengths, ONNX parity with
onnxruntime-node, a tiny cross-validation run and the CLI on a synthetic sequence pack."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from training import sequence as sq

from .conftest import run_ort

D, CLASSES = 16, ["anger", "happy", "surprise"]


def make_sequence_pack(path: str, subjects: int = 8, per_subject: int = 3, folds: int = 2, seed: int = 0) -> str:
    """A sequence pack whose classes differ in the drift of their embeddings over time."""
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    emb, scores, seqs = [], [], []
    start = 0
    for s in range(subjects):
        for j in range(per_subject):
            label = (s + j) % len(CLASSES)
            length = int(rng.integers(2, 6))
            direction = np.eye(D, dtype=np.float32)[label]
            frames = rng.normal(0, 0.3, (length, D)).astype(np.float32) + np.arange(1, length + 1, dtype=np.float32)[:, None] * direction
            emb.append(frames)
            # Frame-model scores over [neutral, happiness, surprise, anger]: mostly the right class.
            p = np.full((length, 4), 0.1, np.float32)
            p[:, [3, 1, 2][label]] = 0.7
            scores.append(p)
            seqs.append({"id": f"S{s:03d}_{j:03d}", "subject": f"S{s:03d}", "split": f"fold{s % folds}", "fold": s % folds,
                         "label": label, "start": start, "length": length})
            start += length
    np.save(os.path.join(path, "embeddings.npy"), np.concatenate(emb))
    np.save(os.path.join(path, "scores.npy"), np.concatenate(scores))
    meta = {"format": "facesense-sequence-pack", "version": 1, "source": {"layout": "ckplus", "root": "synthetic"},
            "frameModel": {"id": "emotion-ferplus", "sha256": "0" * 64, "detector": "none"}, "embedding": {"size": D},
            "scores": {"task": "emotion", "labels": ["neutral", "happiness", "surprise", "anger"]}, "classes": CLASSES,
            "scoreSources": [[3], [1], [2]], "frames": start, "folds": folds, "sequences": seqs,
            "skipped": {"count": 0, "items": []}, "createdBy": "test"}
    with open(os.path.join(path, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f)
    return path


@pytest.mark.parametrize("variant", list(sq.VARIANTS))
def test_forward_backward_variable_lengths(variant):
    torch.manual_seed(0)
    model = sq.create(variant, D, 3, hidden=8)
    x, lengths = sq.pad([np.random.default_rng(1).normal(size=(t, D)).astype(np.float32) for t in (5, 2, 3)])
    logits = model(x, lengths)
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("variant", list(sq.VARIANTS))
def test_padding_does_not_change_a_sequence(variant):
    """A short sequence padded in a batch gives what it gives alone (both directions see only real frames)."""
    torch.manual_seed(0)
    model = sq.create(variant, D, 3, hidden=8).eval()
    rng = np.random.default_rng(2)
    short, long = rng.normal(size=(2, D)).astype(np.float32), rng.normal(size=(6, D)).astype(np.float32)
    x, lengths = sq.pad([long, short])
    with torch.no_grad():
        batched = model(x, lengths)[1]
        alone = model(torch.from_numpy(short)[None])[0]
    assert torch.allclose(batched, alone, atol=1e-5)


@pytest.mark.parametrize("variant", list(sq.VARIANTS))
def test_onnx_parity_with_onnxruntime_node(variant, tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    model = sq.create(variant, D, 3, hidden=8, mean=rng.normal(size=D), std=1 + rng.random(D)).eval()
    path = sq.export_onnx(model, str(tmp_path / f"{variant}.onnx"))
    assert not model.training, "export must leave the model in eval mode"
    for n, t in ((2, 5), (1, 1)):  # dynamic batch and time
        x = sq.synthetic_sequence(n, t, D)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        got = run_ort(path, x, str(tmp_path))["emotion"]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_tiny_cross_validation_and_baselines(tmp_path):
    pack = sq.load_pack(make_sequence_pack(str(tmp_path / "pack")))
    hp = {**sq.DEFAULTS, "epochs": 15, "batch_size": 8, "lr": 3e-3, "repeats": 1}
    res = sq.cross_validate(pack, ["gru", "bilstm"], hp)
    assert res["folds"] == [0, 1]
    for v in ("gru", "bilstm"):
        r = res["variants"][v]
        assert len(r["fold_acc"]) == 2 and 0 <= r["mean"] <= 1
    # Separable drift: the trained models and the (mostly right) frame-model scores beat chance.
    assert res["variants"]["gru"]["mean"] > 0.6
    assert res["baselines"]["frame_model_sum"]["mean"] == 1.0
    assert set(res["baselines"]) == {"frame_linear_sum", "frame_linear_per_frame", "frame_model_sum", "frame_model_per_frame"}
    md = sq.results_markdown(res, pack.meta, "test")
    assert "| gru |" in md and "fold 1" in md


def test_frame_model_probs_drop_unmapped_labels_and_renormalise(tmp_path):
    pack = sq.load_pack(make_sequence_pack(str(tmp_path / "pack")))
    p = sq.frame_model_probs(pack, 0)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    assert p.shape[1] == len(CLASSES)
    np.testing.assert_allclose(p[0], np.array([0.7, 0.1, 0.1]) / 0.9 if pack.labels[0] == 0 else p[0], atol=1e-6)


def test_cli_cv_and_export_write_results_and_manifest(tmp_path):
    pack_dir = make_sequence_pack(str(tmp_path / "pack"), subjects=4, per_subject=2)
    out = str(tmp_path / "cv")
    assert sq.main(["cv", "--pack", pack_dir, "--out", out, "--variants", "gru", "--epochs", "2", "--repeats", "1"]) == 0
    res = json.load(open(os.path.join(out, "results.json"), encoding="utf-8"))
    assert "gru" in res["variants"] and os.path.isfile(os.path.join(out, "results.md"))
    models = str(tmp_path / "models")
    assert sq.main(["export", "--pack", pack_dir, "--out", models, "--variant", "gru", "--id", "seq-test", "--epochs", "2",
                    "--cv", os.path.join(out, "results.json")]) == 0
    m = json.load(open(os.path.join(models, "seq-test.json"), encoding="utf-8"))
    assert m["kind"] == "sequence" and m["input"]["size"] == D and m["input"]["frameModel"]["id"] == "emotion-ferplus"
    pack = sq.load_pack(pack_dir)
    assert m["outputs"][0]["labels"] == CLASSES and m["window"] == int(np.median([s["length"] for s in pack.meta["sequences"]]))
    assert m["metrics"]["cv_folds"] == 2 and "cv_acc_mean" in m["metrics"]
    assert os.path.isfile(os.path.join(models, m["file"]))


def test_load_pack_names_the_file_when_inconsistent(tmp_path):
    pack_dir = make_sequence_pack(str(tmp_path / "pack"))
    np.save(os.path.join(pack_dir, "scores.npy"), np.zeros((3, 4), np.float32))
    with pytest.raises(sq.PackError, match="do not match meta.json"):
        sq.load_pack(pack_dir)
    with pytest.raises(sq.PackError, match="no meta.json"):
        sq.load_pack(str(tmp_path / "missing"))


def test_augmentations_keep_time_order_and_bounds():
    rng = np.random.default_rng(0)
    s = np.arange(3, dtype=np.float32)[:, None] * np.ones((1, D), np.float32)
    for _ in range(200):
        st = sq.time_stretch(s, rng, 4.0)
        assert 1 <= len(st) <= 12 and np.all(np.diff(st[:, 0]) >= 0)
        cr = sq.temporal_crop(s, rng)
        assert 2 <= len(cr) <= 3 and np.all(np.diff(cr[:, 0]) == 1)
