"""The training loop: one epoch on a tiny pack, outputs, exact resume (epoch and mid-epoch),
early stopping, multi-task packs, the CLI's JSON-lines protocol."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import training.train as T
from training.config import load_config
from training.losses import soft_cross_entropy
from training.train import LOG_COLUMNS, lr_at, train

from .conftest import REPO
from .packutil import make_pack


def config(pack, out, **over):
    raw = {"pack": pack, "out_dir": out, "name": "run", "model": {"arch": "tiny", "kwargs": {"width": 8}},
           "epochs": 2, "batch_size": 16, "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9},
           "augment": {"hflip": 0.5, "affine": {"p": 0.5, "rotate_deg": 10}, "erase": {"p": 0.3}},
           "checkpoint_minutes": 0, "threads": 1}
    raw.update(over)
    return load_config(raw=raw)


def read_events(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_one_epoch_of_the_efficient_model_and_the_run_directory(pack_dir, tmp_path, capsys):
    cfg = config(pack_dir, str(tmp_path / "runs"), epochs=1, model={"arch": "compact_resnet"})
    t0 = time.time()
    res = train(cfg)
    assert time.time() - t0 < 60
    run = tmp_path / "runs" / "run"
    for f in ("config.json", "log.csv", "checkpoint.pt", "best.pt", "results.json"):
        assert (run / f).is_file(), f
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert list(rows[0]) == LOG_COLUMNS and len(rows) == 1 and float(rows[0]["images_per_s"]) > 0
    saved = json.load(open(run / "results.json"))
    assert saved["val"]["count"] == 32 and "test" in saved and "test_tta_flip" in saved
    assert saved["val"]["tasks"]["emotion"]["confusion"] and res["best_epoch"] == 1
    events = read_events(capsys.readouterr().out)
    assert [e["event"] for e in events] == ["start", "epoch", "done"]
    ep = events[1]
    assert {"epoch", "epochs", "train_loss", "val_acc", "eta_s"} <= set(ep) and ep["epoch"] == 1 and ep["epochs"] == 1
    assert events[2]["paths"]["results"].endswith("results.json")


def test_training_learns_with_paper000_and_gcn(tmp_path):
    # A slim paper-000 net (its FC layer sees where the class's bar is) with GCN inputs and the
    # paper's optimiser family; chance is 1/7.
    pack = make_pack(str(tmp_path / "p"), n={"train": 256, "val": 64})
    cfg = config(pack, str(tmp_path / "runs"), epochs=4, augment={}, splits={"train": "train", "val": "val"},
                 normalisation={"kind": "gcn", "norm": 100}, eval_tta_flip=False,
                 optimizer={"kind": "sgd", "lr": 0.01, "momentum": 0.9}, schedule={"kind": "linear", "end_lr": 0.004},
                 model={"arch": "paper000", "kwargs": {"width": 0.25, "fc": 64}})
    res = train(cfg)
    log = list(csv.DictReader(open(tmp_path / "runs" / "run" / "log.csv")))
    assert float(log[-1]["train_loss"]) < float(log[0]["train_loss"])
    assert res["val"]["acc"] > 0.6
    assert "test" not in res  # no test split in this config


def _weights(path):
    return torch.load(path, map_location="cpu")["model"]


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_at_an_epoch_boundary_is_exact(pack_dir, tmp_path):
    train(config(pack_dir, str(tmp_path / "a"), epochs=2))
    train(config(pack_dir, str(tmp_path / "b"), epochs=1))
    with pytest.raises(FileExistsError, match="--resume"):
        train(config(pack_dir, str(tmp_path / "b"), epochs=2))
    train(config(pack_dir, str(tmp_path / "b"), epochs=2), resume=True)
    assert _same(_weights(tmp_path / "a/run/checkpoint.pt"), _weights(tmp_path / "b/run/checkpoint.pt"))
    log = list(csv.DictReader(open(tmp_path / "b/run/log.csv")))
    assert [r["epoch"] for r in log] == ["1", "2"]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_after_a_kill_in_the_middle_of_an_epoch_is_exact(pack_dir, tmp_path, monkeypatch, precision):
    if precision == "bf16" and not T.cpu_has_bf16():
        pytest.skip("no native bf16 on this CPU")
    train(config(pack_dir, str(tmp_path / "a"), epochs=2, precision=precision))
    saves = {"n": 0}
    real_save = T.atomic_torch_save

    def dying_save(path, obj):
        real_save(path, obj)
        saves["n"] += 1
        if saves["n"] == 6:  # epoch 1 saves 3 mid-epoch + best + end; the 6th is epoch 2, batch 1
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(T, "atomic_torch_save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train(config(pack_dir, str(tmp_path / "b"), epochs=2, checkpoint_minutes=1e-9, precision=precision))
    ck = torch.load(tmp_path / "b/run/checkpoint.pt", map_location="cpu")
    assert (ck["epoch"], ck["batch"]) == (1, 1)
    monkeypatch.setattr(T, "atomic_torch_save", real_save)
    train(config(pack_dir, str(tmp_path / "b"), epochs=2, checkpoint_minutes=1e-9, precision=precision), resume=True)
    assert _same(_weights(tmp_path / "a/run/checkpoint.pt"), _weights(tmp_path / "b/run/checkpoint.pt"))


def test_early_stopping(pack_dir, tmp_path):
    cfg = config(pack_dir, str(tmp_path / "r"), epochs=10, optimizer={"kind": "sgd", "lr": 0.0},
                 early_stopping={"metric": "val_loss", "patience": 2}, precision="fp32")
    res = train(cfg)
    assert res["stopped"] == "early_stopping" and res["epochs_run"] == 3 and res["best_epoch"] == 1


def test_schedules():
    base = {"optimizer": {"lr": 0.0025}, "epochs": 50}
    lin = {**base, "schedule": {"kind": "linear", "end_lr": 0.001}}
    assert lr_at(lin, 0) == pytest.approx(0.0025) and lr_at(lin, 50) == pytest.approx(0.001)
    assert lr_at(lin, 25) == pytest.approx(0.00175)  # paper 000: linear 0.0025 → 0.001 over 50 epochs
    cos = {**base, "schedule": {"kind": "cosine", "min_lr": 0.0, "warmup_epochs": 5}}
    assert lr_at(cos, 2.5) == pytest.approx(0.0025 * 2.501 / 5, rel=1e-3) and lr_at(cos, 50) == pytest.approx(0)
    step = {**base, "schedule": {"kind": "step", "milestones": [10, 20], "gamma": 0.1}}
    assert lr_at(step, 15) == pytest.approx(0.00025) and lr_at(step, 25) == pytest.approx(0.000025)


def test_joint_multitask_pack_trains_every_head(joint_pack_dir, tmp_path):
    cfg = config(joint_pack_dir, str(tmp_path / "r"), epochs=1, primary="emotion",
                 losses={"ferplus": {"loss": "soft_ce"}, "age": {"loss": "l1", "weight": 0.01},
                         "attrs": {"loss": "bce"}, "emotion": {"loss": "weighted_ce"}})
    res = train(cfg)
    tasks = res["val"]["tasks"]
    assert set(tasks) == {"emotion", "ferplus", "attrs", "age"}
    assert tasks["ferplus"]["count"] == 24 and tasks["age"]["count"] < 32 and "mae" in tasks["age"]


def test_init_copies_the_trunk_of_another_run_and_starts_fresh_heads(pack_dir, joint_pack_dir, tmp_path):
    train(config(pack_dir, str(tmp_path / "r"), epochs=1, name="source", precision="fp32"))
    source = torch.load(tmp_path / "r" / "source" / "best.pt", map_location="cpu")["model"]
    cfg = config(joint_pack_dir, str(tmp_path / "r"), epochs=1, name="transfer", primary="emotion",
                 init=str(tmp_path / "r" / "source"), optimizer={"kind": "sgd", "lr": 0.0}, augment={},
                 losses={"ferplus": {"loss": "soft_ce"}, "age": {"loss": "l1"}, "attrs": {"loss": "bce"}},
                 precision="fp32")
    train(cfg)
    after = torch.load(tmp_path / "r" / "transfer" / "best.pt", map_location="cpu")["model"]
    trunk = [k for k in source if not k.startswith("heads.") and "running" not in k and "num_batches" not in k]
    assert trunk and all(torch.equal(source[k], after[k]) for k in trunk)  # lr 0: the copied trunk is kept
    assert "heads.age.weight" in after and "heads.age.weight" not in source
    # a gray trunk initialises an RGB model: first-layer filters copied to each channel / 3
    rgb = T.Run(config(pack_dir, str(tmp_path / "r"), name="rgb", model={"arch": "tiny", "in_channels": 3}))
    model = rgb.build_model()
    T.load_trunk(model, str(tmp_path / "r" / "source"))
    first = next(k for k in source if source[k].dim() == 4)
    assert torch.allclose(model.state_dict()[first], source[first].repeat(1, 3, 1, 1) / 3)
    bad = config(pack_dir, str(tmp_path / "r"), epochs=1, name="bad", init=str(tmp_path / "r" / "source"),
                 model={"arch": "tiny", "kwargs": {"width": 16}})
    with pytest.raises(ValueError, match="does not fit"):
        train(bad)


def test_freeze_trunk_trains_only_the_heads(pack_dir, tmp_path):
    train(config(pack_dir, str(tmp_path / "r"), epochs=1, name="source", precision="fp32"))
    source = torch.load(tmp_path / "r" / "source" / "best.pt", map_location="cpu")["model"]
    train(config(pack_dir, str(tmp_path / "r"), epochs=2, name="frozen", precision="fp32", augment={},
                 init=str(tmp_path / "r" / "source"), freeze_trunk=True, optimizer={"kind": "sgd", "lr": 0.1}))
    after = torch.load(tmp_path / "r" / "frozen" / "best.pt", map_location="cpu")["model"]
    trunk = [k for k in source if not k.startswith("heads.")]
    assert trunk and all(torch.equal(source[k], after[k]) for k in trunk)  # weights and BN statistics
    assert any(not torch.equal(source[k], after[k]) for k in source if k.startswith("heads."))
    with pytest.raises(ValueError, match="freeze_trunk needs init"):
        train(config(pack_dir, str(tmp_path / "r"), epochs=1, name="nofreeze", freeze_trunk=True))


def test_cli_prints_only_json_lines_on_stdout(pack_dir, tmp_path):
    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps({"pack": pack_dir, "out_dir": str(tmp_path / "runs"),
                                    "model": {"arch": "tiny"}, "epochs": 1, "batch_size": 32,
                                    "threads": 1}))
    proc = subprocess.run([sys.executable, "-m", "training.train", "--config", str(cfg_path), "--set", "seed=3"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = read_events(proc.stdout)
    assert [e["event"] for e in events] == ["start", "epoch", "done"]
    assert json.load(open(tmp_path / "runs" / "c" / "config.json"))["seed"] == 3
    again = subprocess.run([sys.executable, "-m", "training.train", "--config", str(cfg_path)],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and read_events(again.stdout)[0]["event"] == "error"


def add_teacher(pack, name="teacher_emotion", classes=None, seed=1):
    """Adds a teacher's distribution target, as `facesense teach` writes it, to every split."""
    meta = json.load(open(os.path.join(pack, "meta.json")))
    classes = classes or meta["targets"][0]["classes"]
    rng = np.random.default_rng(seed)
    for split, s in meta["splits"].items():
        y = np.load(os.path.join(pack, f"{split}_emotion.npy"))
        p = rng.random((s["count"], len(classes))).astype(np.float32)
        p[np.arange(len(y)), y % len(classes)] += 4
        np.save(os.path.join(pack, f"{split}_{name}.npy"), (p / p.sum(1, keepdims=True)).astype(np.float32))
    meta["targets"].append({"name": name, "kind": "distribution", "classes": list(classes)})
    json.dump(meta, open(os.path.join(pack, "meta.json"), "w"))


def test_a_teacher_target_trains_the_head_it_names_and_adds_none(pack_dir, tmp_path):
    add_teacher(pack_dir)
    cfg = config(pack_dir, str(tmp_path / "r"), epochs=1,
                 losses={"teacher_emotion": {"loss": "soft_ce", "output": "emotion", "weight": 0.5}})
    run = T.Run(cfg)
    assert run.head_sizes == {"emotion": 7} and [m["name"] for m in run.tasks] == ["emotion"]
    assert run.target_names == ["emotion", "teacher_emotion"]
    logits = torch.randn(5, 7)
    y = torch.tensor([0, 1, 2, 3, 4])
    dist = torch.softmax(torch.randn(5, 7), 1)
    total, parts = run.loss({"emotion": logits}, {"emotion": y, "teacher_emotion": dist})
    want = torch.nn.functional.cross_entropy(logits, y) + 0.5 * soft_cross_entropy(logits, dist)[0]
    assert torch.allclose(total, want) and set(parts) == {"emotion", "teacher_emotion"}
    res = train(cfg)
    assert set(res["val"]["tasks"]) == {"emotion"} and res["val"]["loss"] > 0


def test_a_teacher_target_must_match_its_head(pack_dir, tmp_path):
    add_teacher(pack_dir, "teacher_bad", classes=["a", "b"])
    with pytest.raises(ValueError, match="same labels"):
        T.Run(config(pack_dir, str(tmp_path / "r"), losses={"teacher_bad": {"output": "emotion"}}))
    with pytest.raises(ValueError, match="no head 'age'"):
        T.Run(config(pack_dir, str(tmp_path / "r"), losses={"teacher_bad": {"output": "age"}}))
    add_teacher(pack_dir)
    with pytest.raises(ValueError, match="takes loss soft_ce"):
        T.Run(config(pack_dir, str(tmp_path / "r"), losses={"teacher_emotion": {"output": "emotion", "loss": "bce"}}))
