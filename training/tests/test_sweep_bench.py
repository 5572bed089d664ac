"""Sweeps (grid → results.csv / results.md, restart skips finished cells) and the benchmark."""
from __future__ import annotations

import csv
import json

from training.bench import bench_one, format_table
from training.sweep import cell_id, run_sweep


def test_sweep_grid_tables_and_restart(pack_dir, tmp_path, capsys):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"pack": pack_dir, "model": {"arch": "paper000", "kwargs": {"width": 0.25, "fc": 16}},
                                "normalisation": {"kind": "gcn"}, "epochs": 1, "batch_size": 32, "threads": 1,
                                "checkpoint_minutes": 0, "eval_tta_flip": False}))
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"name": "s", "base": "base.json", "out_dir": str(tmp_path / "sweeps"),
                                 "set": {"optimizer.lr": 0.01},
                                 "grid": {"model.kwargs.depth": [1, 2], "model.kwargs.lcn": [[], [1]]}}))
    rows = run_sweep(str(sweep))
    assert len(rows) == 4 and all(not r["error"] and r["val_acc"] is not None for r in rows)
    out = tmp_path / "sweeps" / "s"
    table = list(csv.DictReader(open(out / "results.csv")))
    assert [r["cell"] for r in table] == [cell_id({"model.kwargs.depth": d, "model.kwargs.lcn": l})
                                          for d in (1, 2) for l in ([], [1])]
    md = (out / "results.md").read_text()
    assert "val_acc: rows model.kwargs.depth, columns model.kwargs.lcn" in md
    cfg = json.load(open(out / table[3]["cell"] / "config.json"))
    assert cfg["model"]["kwargs"]["depth"] == 2 and cfg["model"]["kwargs"]["lcn"] == [1]
    assert cfg["optimizer"]["lr"] == 0.01 and cfg["model"]["kwargs"]["fc"] == 16
    capsys.readouterr()
    again = run_sweep(str(sweep))  # finished cells are read back, not retrained
    assert [r["val_acc"] for r in again] == [r["val_acc"] for r in rows]
    events = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["cell"] * 4 + ["done"]


def test_a_broken_cell_is_recorded_not_fatal(pack_dir, tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"pack": pack_dir, "model": {"arch": "tiny"}, "epochs": 1, "threads": 1}))
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"base": "base.json", "out_dir": str(tmp_path / "sw"),
                                 "grid": {"model.kwargs.width": [4, -1]}}))
    rows = run_sweep(str(sweep))
    assert not rows[0]["error"] and rows[1]["error"]


def test_bench_measures_images_per_second():
    r = bench_one("tiny", batch=8, iters=1, warmup=1)
    assert r["images_per_s"] > 0 and r["params"] == 1391 and r["macs"] > 0
    assert "| tiny | 48 |" in format_table([r])
