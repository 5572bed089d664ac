"""Age as a distribution over fine bins read by expectation (DLDL-v2, mean-variance), its bands
(paper 000's 5-year classes, FairFace's 9 groups), metrics, training, export; and ``labelled_only``
(appearance heads trained on the labelled rows of a larger pack)."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from training.config import load_config
from training.data import BatchLoader, Pack, labelled_rows
from training.export import export_run
from training.losses import TaskLoss, dldl_loss, mean_variance_loss
from training.metrics import regression_report, task_metrics
from training.outputs import BANDS, band_index, bin_labels, bin_values, expand_output, resolve_bands
from training.train import Run, train

from .conftest import validate_manifests
from .packutil import make_pack

BINS = torch.arange(0, 101, dtype=torch.float32)


def test_band_tables_follow_the_papers():
    p = BANDS["paper000"]
    # Paper 000 §4.2.2: 17 classes, 5-year intervals around multiples of 5, plus 0-2.
    assert len(p["labels"]) == len(p["starts"]) == 17
    assert p["labels"][:4] == ["0-2", "3-7", "8-12", "13-17"] and p["labels"][-2:] == ["73-77", "78+"]
    assert p["starts"][:4] == [0, 3, 8, 13] and p["starts"][-1] == 78
    f = BANDS["fairface"]
    assert f["labels"] == ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
    assert f["starts"] == [0, 3, 10, 20, 30, 40, 50, 60, 70]
    # A band holds round(value): 2.4 years is 0-2, 2.6 is 3-7 / 3-9; 116 is the last band.
    fs = f["starts"]
    assert [band_index(v, fs) for v in (0, 2.4, 2.6, 9.4, 9.6, 45, 116)] == [0, 0, 1, 1, 2, 5, 8]
    assert band_index(-3, fs) == 0


def test_bin_range_and_output_expansion():
    assert bin_values({"binRange": [0, 100]}) == [float(v) for v in range(101)]
    assert bin_values({"binRange": [0, 10, 2.5]}) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert bin_values({"binValues": [1, 6]}) == [1.0, 6.0] and bin_values({}) is None
    assert bin_labels([0.0, 2.5, 100.0]) == ["0", "2.5", "100"]
    o = expand_output({"decode": "expectation", "binRange": [0, 3], "bands": ["fairface"]})
    assert o["binValues"] == [0.0, 1.0, 2.0, 3.0] and o["bands"][0]["name"] == "fairface" and "binRange" not in o
    with pytest.raises(ValueError, match="unknown band"):
        resolve_bands(["decades"])
    with pytest.raises(ValueError, match="increasing"):
        resolve_bands([{"name": "x", "labels": ["a", "b"], "starts": [5, 5]}])
    with pytest.raises(ValueError, match="binRange"):
        bin_values({"binRange": [10, 0]})


def _expectation(logits):
    return (torch.softmax(logits, 1) * BINS).sum(1)


@pytest.mark.parametrize("loss_fn", [dldl_loss, mean_variance_loss])
def test_binned_age_losses_pull_the_expectation_to_the_target(loss_fn):
    torch.manual_seed(0)
    target = torch.tensor([3.0, 25.0, 61.0, float("nan")])
    logits = torch.zeros(4, 101, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    first = None
    for _ in range(300):
        loss, n = loss_fn(logits, target, BINS)
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert n == 3 and float(loss) < first
    mean = _expectation(logits.detach())
    assert torch.allclose(mean[:3], target[:3], atol=0.5), mean
    # The missing row got no gradient: its logits never moved.
    assert torch.equal(logits.detach()[3], torch.zeros(101))


def test_dldl_is_smallest_at_the_target_and_clamps_out_of_range_ages():
    def at(y, peak):
        logits = -((BINS - peak) ** 2 / 8.0)[None, :]  # log of a Gaussian of sigma 2 around `peak`
        return float(dldl_loss(logits, torch.tensor([y]), BINS)[0])
    assert at(30.0, 30.0) < at(30.0, 33.0) < at(30.0, 40.0)
    # Ages above the last bin train towards the last bin, not to a NaN or an unreachable value.
    assert math.isfinite(at(116.0, 100.0)) and at(116.0, 100.0) < at(116.0, 90.0)
    loss, n = dldl_loss(torch.zeros(2, 101, requires_grad=True), torch.tensor([float("nan")] * 2), BINS)
    assert n == 0 and float(loss) == 0.0 and loss.requires_grad


def test_task_loss_on_a_binned_head():
    t = TaskLoss("age", "regression", "l1", bins=BINS)  # L1 on the expectation
    logits = torch.zeros(2, 101)
    loss, n = t(logits, torch.tensor([50.0, 40.0]))
    assert n == 2 and abs(float(loss) - 5.0) < 1e-4  # uniform over 0..100: expectation 50
    assert float(TaskLoss("age", "regression", "dldl", bins=BINS, params={"sigma": 1.0})(logits, torch.tensor([50.0, 3.0]))[0]) > 0
    with pytest.raises(ValueError, match="binned head"):
        TaskLoss("age", "regression", "dldl")
    with pytest.raises(ValueError, match="takes options"):
        TaskLoss("age", "regression", "dldl", bins=BINS, params={"sigmaa": 1.0})


def test_regression_metrics_with_expectation_and_bands():
    bands = resolve_bands(["paper000", "fairface"])
    rep = regression_report(np.array([24.6, 31.0, 70.0]), np.array([22.0, 36.0, 69.0]), bands)
    assert rep["count"] == 3 and abs(rep["mae"] - (2.6 + 5 + 1) / 3) < 1e-9 and abs(rep["cs5"] - 1.0) < 1e-9
    # paper000: 25 → 23-27, 22 → 18-22 (off by one); 31 → 28-32, 36 → 33-37 (one off); 70, 69 → 68-72.
    assert rep["paper000_acc"] == pytest.approx(1 / 3) and rep["paper000_acc1"] == 1.0
    # fairface: 20-29 = 20-29, 30-39 = 30-39, 70+ vs 60-69.
    assert rep["fairface_acc"] == pytest.approx(2 / 3) and rep["fairface_acc1"] == 1.0
    logits = np.full((2, 101), -30.0)
    logits[0, 40] = logits[1, 10] = 30.0  # confident 40 and 10
    m = task_metrics("regression", logits, np.array([42.0, np.nan], dtype=np.float32), ["age"],
                     [float(v) for v in range(101)], bands)
    assert m["count"] == 1 and abs(m["mae"] - 2.0) < 1e-6


def _age_config(pack, out, **over):
    raw = {"pack": pack, "out_dir": out, "name": "age", "model": {"arch": "tiny", "kwargs": {"width": 8}},
           "targets": ["emotion", "age"], "epochs": 1, "batch_size": 16, "checkpoint_minutes": 0, "threads": 1,
           "outputs": {"age": {"decode": "expectation", "binRange": [0, 100], "bands": ["paper000", "fairface"]}},
           "losses": {"age": {"loss": "dldl", "sigma": 2.0, "weight": 0.25}},
           "model_card": {"id": "age-test"}}
    raw.update(over)
    return load_config(raw=raw)


def test_training_and_export_of_a_binned_age_head(joint_pack_dir, tmp_path):
    cfg = _age_config(joint_pack_dir, str(tmp_path / "runs"))
    run = Run(cfg)
    assert run.head_sizes == {"emotion": 7, "age": 101}
    age = next(t for t in run.tasks if t["name"] == "age")
    assert age["labels"][:3] == ["0", "1", "2"] and len(age["binValues"]) == 101
    res = train(cfg)
    for key in ("mae", "rmse", "cs5", "paper000_acc", "fairface_acc1"):
        assert key in res["test"]["tasks"]["age"], key
    man = export_run(str(tmp_path / "runs" / "age"), str(tmp_path / "models"))
    validate_manifests(str(tmp_path / "models" / "age-test.json"))
    out = {o["task"]: o for o in man["outputs"]}
    assert out["age"]["decode"] == "expectation" and out["age"]["binValues"][-1] == 100.0
    assert [b["name"] for b in out["age"]["bands"]] == ["paper000", "fairface"]
    assert out["age"]["bands"][1]["labels"][-1] == "70+" and out["age"]["bands"][1]["starts"][-1] == 70.0
    assert "age.test_mae" in man["metrics"] and "age.test_paper000_acc" in man["metrics"]


def test_binned_head_config_errors(joint_pack_dir, tmp_path):
    with pytest.raises(ValueError, match="decode 'expectation'"):
        Run(_age_config(joint_pack_dir, str(tmp_path), outputs={"age": {"binRange": [0, 100]}}))
    with pytest.raises(ValueError, match="needs binValues or binRange"):
        Run(_age_config(joint_pack_dir, str(tmp_path), outputs={"age": {"decode": "expectation"}}))
    with pytest.raises(ValueError, match="bands group a value"):
        Run(_age_config(joint_pack_dir, str(tmp_path), outputs={"emotion": {"bands": ["fairface"]}}))


def test_labelled_only_reads_only_rows_with_the_trained_targets(joint_pack_dir, tmp_path):
    pack = Pack(joint_pack_dir)
    y = np.asarray(pack.labels("train", "ferplus"))
    rows = labelled_rows(pack, "train", ["ferplus"])
    assert len(rows) == int((~np.isnan(y).any(1)).sum()) < pack.images("train").shape[0]
    loader = BatchLoader(pack, "train", targets=["ferplus"], in_channels=1, input_size=48,
                         normalisation={"kind": "scale", "scale": 1 / 255}, batch_size=8, train=True, rows=rows)
    assert loader.n == len(rows)
    seen = []
    for b in loader.epoch(0):
        assert not torch.isnan(b.targets["ferplus"]).any()
        seen += b.index.tolist()
    assert set(seen) <= set(rows.tolist())
    raw = {"pack": joint_pack_dir, "out_dir": str(tmp_path / "runs"), "name": "lab", "model": {"arch": "tiny"},
           "targets": ["ferplus"], "labelled_only": True, "epochs": 1, "batch_size": 8, "checkpoint_minutes": 0,
           "threads": 1, "eval_tta_flip": False}
    res = train(load_config(raw=raw))
    assert res["val"]["count"] == len(labelled_rows(pack, "val", ["ferplus"]))
    log = json.load(open(os.path.join(tmp_path, "runs", "lab", "results.json")))
    assert log["val"]["tasks"]["ferplus"]["count"] == res["val"]["count"]


def test_aligned_pack_crop_goes_to_the_manifest_without_provenance(tmp_path):
    crop = {"mode": "aligned", "eyeDistance": 0.4, "eyeY": 0.3, "detector": "yunet", "noFace": "fallback"}
    pack = Pack(make_pack(str(tmp_path / "p"), crop=crop))
    assert pack.crop == {"mode": "aligned", "eyeDistance": 0.4, "eyeY": 0.3}
