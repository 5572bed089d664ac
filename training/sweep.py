"""Grid sweeps (paper 000 §4.1: depth × width, LCN/pooling placement, dropout, input size).

    /usr/bin/python3 -m training.sweep --config training/configs/sweep-paper000-depth-width.json

A sweep config names a base run config, settings for every cell (e.g. a fixed epoch count or
time budget, so that cells compare at equal cost) and a grid of dotted config keys::

    {"name": "paper000-depth-width", "base": "paper000.json",
     "set": {"epochs": 10, "time_budget_s": 1200},
     "grid": {"model.kwargs.depth": [1, 2, 3, 4], "model.kwargs.width": [0.5, 1, 2]},
     "metric": "val_acc", "out_dir": "runs/sweeps"}

Each cell trains as ``<out_dir>/<name>/<cell>/`` (a normal run directory). A sweep that is killed
and started again skips finished cells and resumes the interrupted one. Writes
``<out_dir>/<name>/results.csv`` and ``results.md`` (a table per cell and, for two-key grids, the
metric as a grid: rows = first key, columns = second).
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import re
import sys
import time
import traceback
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .config import load_config
from .train import atomic_write_bytes, emit, say, train

SWEEP_KEYS = {"name", "base", "set", "grid", "metric", "out_dir"}


def cell_id(assign: Mapping[str, Any]) -> str:
    parts = []
    for k, v in assign.items():
        short = k.split(".")[-1]
        val = json.dumps(v, separators=(",", ":"))
        parts.append(f"{short}={val}")
    return re.sub(r"[^A-Za-z0-9=._,+-]", "", "_".join(parts)) or "cell"


def cells(grid: Mapping[str, Sequence[Any]]) -> List[Dict[str, Any]]:
    keys = list(grid)
    for k in keys:
        if not isinstance(grid[k], list) or not grid[k]:
            raise ValueError(f"grid.{k} must be a non-empty list of values")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _metric(results: Mapping[str, Any], split: str, tta: bool = False) -> Optional[float]:
    block = results.get(f"{split}_tta_flip" if tta else split)
    return None if not block else block.get("acc")


def run_sweep(sweep_path: str, extra_set: Sequence[str] = ()) -> List[Dict[str, Any]]:
    with open(sweep_path, encoding="utf-8") as f:
        sw = json.load(f)
    unknown = {k for k in sw if not k.startswith("_")} - SWEEP_KEYS
    if unknown:
        raise ValueError(f"{sweep_path}: unknown sweep key(s) {sorted(unknown)}; known: {sorted(SWEEP_KEYS)}")
    if not sw.get("base") or not sw.get("grid"):
        raise ValueError(f"{sweep_path}: a sweep needs 'base' (a run config) and 'grid'")
    name = sw.get("name") or os.path.splitext(os.path.basename(sweep_path))[0]
    base = os.path.join(os.path.dirname(os.path.abspath(sweep_path)), sw["base"])
    sweep_dir = os.path.join(sw.get("out_dir") or "runs/sweeps", name)
    os.makedirs(sweep_dir, exist_ok=True)
    common = [f"{k}={json.dumps(v)}" for k, v in (sw.get("set") or {}).items()] + list(extra_set)
    grid = sw["grid"]
    rows: List[Dict[str, Any]] = []
    all_cells = cells(grid)
    for i, assign in enumerate(all_cells):
        cid = cell_id(assign)
        over = common + [f"{k}={json.dumps(v)}" for k, v in assign.items()] + [
            f"name={json.dumps(cid)}", f"out_dir={json.dumps(sweep_dir)}"]
        row: Dict[str, Any] = {"cell": cid, **{k: json.dumps(v) for k, v in assign.items()}}
        results_path = os.path.join(sweep_dir, cid, "results.json")
        t0 = time.time()
        try:
            if os.path.isfile(results_path):
                say(f"[{i + 1}/{len(all_cells)}] {cid}: done before, reading {results_path}")
                with open(results_path, encoding="utf-8") as f:
                    res = json.load(f)
            else:
                say(f"[{i + 1}/{len(all_cells)}] {cid}")
                cfg = load_config(base, over)
                res = train(cfg, resume=True, command=f"/usr/bin/python3 -m training.sweep --config {sweep_path}")
                if res.get("stopped") == "signal":
                    raise KeyboardInterrupt
            row.update({
                "val_acc": _metric(res, "val"), "val_acc_tta_flip": _metric(res, "val", True),
                "test_acc": _metric(res, "test"), "test_acc_tta_flip": _metric(res, "test", True),
                "best_epoch": res.get("best_epoch"), "epochs_run": res.get("epochs_run"),
                "train_seconds": res.get("train_seconds"), "params": res.get("params"),
                "gmac": round(res["macs"] / 1e9, 4) if res.get("macs") else None,
                "images_per_s": res.get("images_per_s"), "error": ""})
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one broken cell (e.g. a depth the input size cannot take) must not end the sweep
            say(f"{cid}: failed: {e}\n{traceback.format_exc()}")
            row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
        emit({"event": "cell", "sweep": name, "cell": cid, "index": i + 1, "cells": len(all_cells),
              "val_acc": row.get("val_acc"), "test_acc": row.get("test_acc"), "error": row.get("error") or None,
              "seconds": round(time.time() - t0, 1)})
        write_tables(sweep_dir, list(grid), rows, sw.get("metric") or "val_acc")
    emit({"event": "done", "sweep": name, "results_csv": os.path.join(sweep_dir, "results.csv"),
          "results_md": os.path.join(sweep_dir, "results.md")})
    return rows


COLUMNS = ["val_acc", "val_acc_tta_flip", "test_acc", "test_acc_tta_flip", "best_epoch", "epochs_run",
           "train_seconds", "params", "gmac", "images_per_s", "error"]


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if v < 10 else f"{v:.1f}"
    return str(v)


def write_tables(sweep_dir: str, keys: List[str], rows: List[Dict[str, Any]], metric: str) -> None:
    cols = ["cell"] + keys + COLUMNS
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in cols})
    atomic_write_bytes(os.path.join(sweep_dir, "results.csv"), out.getvalue().encode("utf-8"))
    md = [f"# Sweep {os.path.basename(sweep_dir)}", "", "| " + " | ".join(keys + COLUMNS[:-1]) + " |",
          "|" + "---|" * (len(keys) + len(COLUMNS) - 1)]
    for r in rows:
        md.append("| " + " | ".join([str(r.get(k, "")) for k in keys] + [_fmt(r.get(c)) for c in COLUMNS[:-1]]) + " |")
    failed = [r for r in rows if r.get("error")]
    if failed:
        md += ["", "Failed cells:", ""] + [f"- {r['cell']}: {r['error']}" for r in failed]
    if len(keys) == 2:
        k1, k2 = keys
        v1 = list(dict.fromkeys(r[k1] for r in rows))
        v2 = list(dict.fromkeys(r[k2] for r in rows))
        table = {(r[k1], r[k2]): r.get(metric) for r in rows}
        md += ["", f"{metric}: rows {k1}, columns {k2}", "", "| " + k1 + " \\ " + k2 + " | " + " | ".join(v2) + " |",
               "|" + "---|" * (len(v2) + 1)]
        for a in v1:
            md.append(f"| {a} | " + " | ".join(_fmt(table.get((a, b))) for b in v2) + " |")
    atomic_write_bytes(os.path.join(sweep_dir, "results.md"), ("\n".join(md) + "\n").encode("utf-8"))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="sweep config (see training/configs/sweep-*.json)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a run-config key in every cell (e.g. --set pack=packs/fer2013)")
    args = ap.parse_args(argv)
    try:
        run_sweep(args.config, args.overrides)
    except (ValueError, FileNotFoundError) as e:
        emit({"event": "error", "message": str(e)})
        say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
