"""Which runs to ensemble: every subset of the given runs measured on one split of a pack.

    /usr/bin/python3 -m training.ensemble --pack packs/utkface --split val --run runs/a --run runs/b --run runs/c
    /usr/bin/python3 -m training.ensemble ... --tasks age,gender,ethnicity   # runs whose other heads differ

Each run's best checkpoint is run once over the split (with horizontal-flip averaging unless
``--no-tta-flip``); every subset's averaged logits (what `training.export` bakes into an ensemble
graph) are then scored per task with the metrics the trainer reports. Choose members on the
validation split; the shipped file's figures come from `facesense eval`, not from here.
Prints one JSON line per subset: {"runs": [...], "tasks": {task: {acc | mae}}}.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .data import Pack, normalise, to_model_input
from .export import load_checkpoint, select_tasks
from .metrics import task_metrics


@torch.no_grad()
def run_logits(run_dir: str, pack: Pack, split: str, tta_flip: bool = True, batch: int = 256) -> Dict[str, Any]:
    """The run's logits per task over the whole split, plus what scoring needs (task metadata)."""
    ck, model = load_checkpoint(os.path.join(run_dir, "best.pt"))
    model.eval()
    images = pack.images(split)
    out: Dict[str, List[torch.Tensor]] = {t["name"]: [] for t in ck["tasks"]}
    for i in range(0, len(images), batch):
        x = normalise(to_model_input(images[i:i + batch], ck["in_channels"], ck["input_size"]), ck["normalisation"])
        o = model(x)
        if tta_flip:
            of = model(x.flip(-1))
            o = {k: (v + of[k]) / 2 for k, v in o.items()}
        for k in out:
            out[k].append(o[k].float())
    return {"tasks": ck["tasks"], "logits": {k: torch.cat(v).numpy() for k, v in out.items()}}


def headline(kind: str, rep: Mapping[str, Any]) -> Dict[str, float]:
    keys = ("mae",) if kind == "regression" or "mae" in rep else ("acc", "balanced_acc")
    return {k: round(float(rep[k]), 4) for k in keys if k in rep}


def screen(pack_dir: str, split: str, runs: Sequence[str], tta_flip: bool = True,
           only: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """One row per subset of ``runs``; ``only`` restricts scoring to those heads (as export --tasks)."""
    pack = Pack(pack_dir)
    logits: Dict[str, Mapping[str, np.ndarray]] = {}
    tasks: List[Mapping[str, Any]] = []
    for r in runs:  # as training.export does, only runs with the same heads make an ensemble
        m = run_logits(r, pack, split, tta_flip)
        mine = select_tasks(m["tasks"], only, r)
        tasks = tasks or mine
        if [t["name"] for t in mine] != [t["name"] for t in tasks]:
            raise ValueError(f"{r}: heads {[t['name'] for t in mine]} differ from {runs[0]}'s {[t['name'] for t in tasks]} "
                             f"(--tasks picks the ones they share)")
        logits[r] = m["logits"]
    # Heads the pack has labels for, read once for every subset.
    present = {t.name for t in pack.targets}
    scored = [t for t in tasks if t["name"] in present]
    labels = {t["name"]: np.asarray(pack.labels(split, t["name"])) for t in scored}
    rows = []
    for k in range(1, len(runs) + 1):
        for subset in itertools.combinations(runs, k):
            row = {}
            for t in scored:
                avg = sum(logits[r][t["name"]] for r in subset) / len(subset)
                rep = task_metrics(t["kind"], avg, labels[t["name"]], t["labels"], t.get("binValues"), None)
                row[t["name"]] = headline(t["kind"], rep)
            rows.append({"runs": list(subset), "tasks": row})
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.ensemble", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", required=True, help="pack directory (facesense prepare)")
    ap.add_argument("--split", default="val", help="split to score (default val: choose members there)")
    ap.add_argument("--run", required=True, action="append", help="run directory holding best.pt; repeat")
    ap.add_argument("--tasks", metavar="TASK[,TASK...]", default="", help="score only these heads (default all)")
    ap.add_argument("--no-tta-flip", action="store_true", help="score without horizontal-flip averaging")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        rows = screen(args.pack, args.split, args.run, tta_flip=not args.no_tta_flip,
                      only=[t for t in args.tasks.split(",") if t.strip()])
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
