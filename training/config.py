"""Run configuration: one JSON file per run, merged over :data:`DEFAULTS` (the single source of
truth for every default; training/README.md documents the same keys).

A config may name another with ``"base": "other.json"`` (relative to itself) and override parts
of it; ``--set a.b=value`` on the command line overrides one key (value parsed as JSON when it
parses, else taken as a string).
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, Iterable, Mapping, Optional

DEFAULTS: Dict[str, Any] = {
    "name": None,                 # run directory name under out_dir (default: the config file's stem)
    "out_dir": "runs",
    "pack": None,                 # pack directory (docs/pack-format.md); relative to the working directory
    "prepare": None,              # read by `facesense train` (TypeScript) to build a missing pack; ignored here
    "splits": {"train": "train", "val": "val", "test": "test"},
    "targets": None,              # pack targets to train (default: all); one head each
    "primary": None,              # task whose accuracy is val_acc (default: first non-regression target)
    "model": {
        "arch": "compact_resnet",
        "input_size": None,       # default: the architecture's own
        "in_channels": None,      # default: the pack's
        "kwargs": {},             # builder options (depth, width, dropout...), see training/models/
    },
    "normalisation": None,        # default: the architecture's ({"kind": "scale"|"meanstd"|"gcn", ...})
    "augment": {},                # see training/augment.py DEFAULTS: all off unless set
    "init": None,                 # run directory or best.pt whose trunk initialises the model (transfer)
    "freeze_trunk": False,        # with init: train only the heads (trunk weights and BatchNorm statistics fixed)
    "synthesise": {},             # {"sunglasses": {"p": 0.1, "target": "glasses", "from": 0, "label": 2}} (training/synth.py)
    "losses": {},                 # task → {"loss": ce|weighted_ce|soft_ce|majority_ce|bce|l1|smooth_l1|mse,
                                  #         "weight": 1, "label_smoothing": 0, "class_weight": null|balanced|sqrt|effective}
    "outputs": {},                # task → {"decode": ..., "binValues": [...]} overrides for the manifest
    "balance": None,              # target name: class-balanced oversampling of the training split
    "labelled_only": False,       # read only rows labelled for at least one trained target (e.g. appearance
                                  # heads on a UTKFace pack where 3,200 of 9,778 faces have those labels)
    "optimizer": {"kind": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0,
                  "betas": [0.9, 0.999], "groups": []},
    "schedule": {"kind": "constant", "warmup_epochs": 0, "end_lr": None, "min_lr": 0.0,
                 "milestones": [], "gamma": 0.1},
    "epochs": 30,
    "batch_size": 64,
    "eval_batch_size": 256,
    "grad_clip": None,            # max global gradient norm
    "early_stopping": {"metric": "val_acc", "patience": None, "min_delta": 0.0},
    "eval_tta_flip": True,        # also report val/test with horizontal-flip test-time averaging
    "checkpoint_minutes": 10.0,   # mid-epoch checkpoints this often (0 = only at epoch ends)
    "time_budget_s": None,        # stop after the epoch that crosses this (sweeps)
    "max_train_batches": None,    # cap batches per epoch (smoke tests)
    "seed": 0,
    "threads": 2,
    "channels_last": True,        # ~2-7x faster convolutions on CPU (oneDNN), see bench.py
    "precision": "auto",          # fp32 | bf16 (autocast forward, fp32 weights/loss/eval) | auto: bf16 where the
                                  # CPU has native bf16 (avx512_bf16/AMX): ~2x faster convs, and linear layers
                                  # run in oneDNN instead of Debian torch's reference BLAS (10-20x)
    "model_card": {"id": None, "description": None, "licence": None, "terms": None, "data": None},
}


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        # Builder kwargs belong to one architecture: a config that sets them replaces them whole
        # (a child config switching vgg13 for compact_resnet must not inherit its options).
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k != "kwargs":
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def read_config_file(path: str, _seen: Optional[set] = None) -> Dict[str, Any]:
    """Reads a config file, resolving its ``base`` chain (without the defaults)."""
    path = os.path.abspath(path)
    seen = _seen or set()
    if path in seen:
        raise ValueError(f"{path}: 'base' chain loops")
    seen.add(path)
    with open(path, encoding="utf-8") as f:
        try:
            cfg = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    base = cfg.pop("base", None)
    if base:
        parent = read_config_file(os.path.join(os.path.dirname(path), base), seen)
        cfg = deep_merge(parent, cfg)
    return cfg


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def set_key(cfg: Dict[str, Any], dotted: str, value: Any) -> None:
    node = cfg
    parts = dotted.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def apply_overrides(cfg: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        set_key(cfg, k.strip(), parse_value(v))
    return cfg


def check_keys(cfg: Mapping[str, Any]) -> None:
    # Keys starting with "_" are comments (JSON has none).
    unknown = {k for k in cfg if not k.startswith("_")} - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")


def load_config(path: Optional[str] = None, overrides: Iterable[str] = (), raw: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Defaults ← file (with its ``base`` chain) ← ``raw`` ← ``--set`` overrides."""
    cfg: Dict[str, Any] = read_config_file(path) if path else {}
    if raw:
        cfg = deep_merge(cfg, raw)
    cfg = apply_overrides(cfg, overrides)
    check_keys(cfg)
    merged = deep_merge(DEFAULTS, cfg)
    if not merged.get("name"):
        merged["name"] = os.path.splitext(os.path.basename(path))[0] if path else "run"
    if not merged.get("pack"):
        raise ValueError("config needs 'pack': the pack directory written by `facesense prepare`")
    return merged
