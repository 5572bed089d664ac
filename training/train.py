"""Config-driven training with exact resume.

    /usr/bin/python3 -m training.train --config training/configs/fer2013.json [--resume] [--set epochs=80]

Writes ``<out_dir>/<name>/``: ``config.json`` (resolved), ``log.csv`` (one row per epoch),
``checkpoint.pt`` (latest, also mid-epoch), ``best.pt`` (best validation epoch, for export) and
``results.json`` (final val/test figures). stdout carries only JSON lines for ``facesense train``:
``{"event":"start",...}``, one ``{"event":"epoch",...}`` per epoch and ``{"event":"done",...}``;
human-readable progress goes to stderr.

Long CPU runs span sessions that can be killed at any moment, so every file is written atomically
(temporary file + fsync + rename) and a run is a pure function of its config: batch order, data
augmentation and dropout draw from RNGs re-seeded from (seed, epoch, batch). A run resumed from
a checkpoint — even one taken in the middle of an epoch — produces the same weights as an
uninterrupted one.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import re
import shlex
import signal
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from .augment import Augmenter
from .synth import SunglassesSynth
from .config import load_config
from .data import BatchLoader, Pack, TargetSpec, balanced_weights, labelled_rows, resolve_normalisation
from .flops import count_macs, count_params
from .losses import DEFAULT_BINNED_LOSS, DEFAULT_LOSS, MultiTaskLoss, TaskLoss, class_weights
from .metrics import task_metrics
from .models import FaceModel, create, get_spec
from .outputs import bin_labels, expand_output

LOG_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]
CHECKPOINT_FORMAT = "facesense-checkpoint"
#: Keys a resumed run may change (they do not alter what has been computed so far).
RESUMABLE_KEYS = ("epochs", "early_stopping", "time_budget_s", "checkpoint_minutes", "threads", "max_train_batches",
                  "eval_tta_flip", "model_card", "outputs")


# --- small utilities -------------------------------------------------------------------------

def emit(event: Dict[str, Any]) -> None:
    """One machine-readable JSON line on stdout (streamed by the TypeScript `facesense train`)."""
    sys.stdout.write(json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n")
    sys.stdout.flush()


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write-then-rename: a reader (or a resumed run) sees the old file or the new, never half."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def atomic_write_json(path: str, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode("utf-8"))


def atomic_torch_save(path: str, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def write_log(path: str, rows: List[Dict[str, Any]]) -> None:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=LOG_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in LOG_COLUMNS})
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))


def finite(v: Optional[float]) -> Optional[float]:
    return None if v is None or not math.isfinite(v) else float(v)


def cpu_has_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX); elsewhere bf16 would be emulated, slower."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(cfg: Mapping[str, Any]) -> str:
    # A config saved before the option existed has no key: it trained in fp32 and resumes so.
    p = cfg.get("precision", "fp32")
    if p == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    if p not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32, bf16 or auto, got {p!r}")
    return p


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# --- learning-rate schedules ------------------------------------------------------------------

def lr_at(cfg: Mapping[str, Any], t: float) -> float:
    """Learning rate at training time ``t`` in epochs (fractional: updated every batch).

    ``constant``; ``linear`` from lr to ``end_lr`` over the run (paper 000: 0.0025 → 0.001 over 50
    epochs); ``cosine`` to ``min_lr`` (Loshchilov & Hutter 2017); ``step``: × ``gamma`` at each of
    ``milestones`` (epochs). ``warmup_epochs`` ramps linearly from 0 first (Goyal et al. 2017).
    """
    opt, sch, total = cfg["optimizer"], cfg["schedule"], float(cfg["epochs"])
    base = float(opt["lr"])
    warm = float(sch.get("warmup_epochs") or 0)
    if warm > 0 and t < warm:
        return base * (t + 1e-3) / warm
    kind = sch.get("kind", "constant")
    if kind == "constant":
        return base
    if kind == "linear":
        end = float(sch["end_lr"] if sch.get("end_lr") is not None else 0.0)
        frac = min(1.0, max(0.0, (t - warm) / max(1e-9, total - warm)))
        return base + (end - base) * frac
    if kind == "cosine":
        lo = float(sch.get("min_lr") or 0.0)
        frac = min(1.0, max(0.0, (t - warm) / max(1e-9, total - warm)))
        return lo + 0.5 * (base - lo) * (1 + math.cos(math.pi * frac))
    if kind == "step":
        drops = sum(1 for m in sch.get("milestones") or [] if t >= float(m))
        return base * float(sch.get("gamma", 0.1)) ** drops
    raise ValueError(f"unknown schedule {kind!r}; expected constant, linear, cosine or step")


def make_optimizer(cfg: Mapping[str, Any], model: torch.nn.Module) -> torch.optim.Optimizer:
    o = cfg["optimizer"]
    wd = float(o.get("weight_decay") or 0.0)
    # Layer-wise learning rates (fine-tuning a pretrained trunk): optimizer.groups is a list of
    # {match: regex on the parameter name, lr_mult, frozen_epochs}; the first match wins, the rest
    # train at lr_mult 1. A group is frozen (lr 0) for its first frozen_epochs epochs: heads first,
    # then the whole network (partial, then full fine-tuning).
    rules = [dict(r) for r in o.get("groups") or []]
    for r in rules:
        if "match" not in r or set(r) - {"match", "lr_mult", "frozen_epochs"}:
            raise ValueError(f"optimizer.groups: each entry is {{match, lr_mult, frozen_epochs}}, got {r}")
    buckets: Dict[Tuple[int, bool], List[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        rule = next((i for i, r in enumerate(rules) if re.search(r["match"], name)), len(rules))
        # No weight decay on BatchNorm parameters and biases: decaying them only fights normalisation.
        buckets.setdefault((rule, p.ndim > 1), []).append(p)
    groups = []
    for (rule, decays), params in sorted(buckets.items()):
        r = rules[rule] if rule < len(rules) else {}
        groups.append({"params": params, "weight_decay": wd if decays else 0.0,
                       "lr_mult": float(r.get("lr_mult", 1.0)), "frozen_epochs": float(r.get("frozen_epochs", 0))})
    kind, lr = o.get("kind", "sgd"), float(o["lr"])
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(o.get("momentum", 0.9)), nesterov=bool(o.get("nesterov")))
    betas = tuple(o.get("betas") or (0.9, 0.999))
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    raise ValueError(f"unknown optimizer {kind!r}; expected sgd, adam or adamw")


# --- the run ----------------------------------------------------------------------------------

def default_decode(kind: str) -> str:
    return {"class": "softmax", "distribution": "softmax", "multilabel": "sigmoid", "regression": "identity"}[kind]


class Run:
    """Everything built from a resolved config: pack, model, losses, loaders."""

    def __init__(self, cfg: Dict[str, Any], normalisation: Optional[Dict[str, Any]] = None) -> None:
        self.cfg = cfg
        self.dir = os.path.join(cfg["out_dir"], cfg["name"])
        self.pack = Pack(cfg["pack"])
        splits = cfg["splits"]
        self.train_split, self.val_split, self.test_split = splits["train"], splits.get("val"), splits.get("test")
        for s in (self.train_split, self.val_split):
            if s and not self.pack.has_split(s):
                raise ValueError(f"{self.pack.root}: split {s!r} has no {s}_x.npy (pack splits: {self.pack.splits})")
        if self.val_split is None:
            raise ValueError("config needs splits.val: early stopping and the best checkpoint select on it")
        names = cfg["targets"] or [t.name for t in self.pack.targets]
        # Targets whose loss names an ``output`` train another target's head (distillation from a
        # teacher's distribution, ``facesense teach``); the rest have a head each.
        self.guides: Dict[str, str] = {n: cfg["losses"][n]["output"] for n in names if cfg["losses"].get(n, {}).get("output")}
        self.targets: List[TargetSpec] = [self.pack.target(n) for n in names if n not in self.guides]
        m = cfg["model"]
        self.spec = get_spec(m["arch"])
        self.in_channels = int(m.get("in_channels") or self.pack.channels)
        self.input_size = int(m.get("input_size") or self.spec.input_size)
        self.norm = normalisation or resolve_normalisation(cfg["normalisation"] or self.spec.normalisation, self.pack,
                                                           self.train_split, self.in_channels, self.input_size)
        self.primary = cfg["primary"] or next((t.name for t in self.targets if t.kind != "regression"), self.targets[0].name)
        self.tasks = self._task_meta()
        # A regression target read by expectation has one output per bin (training/outputs.py).
        self.head_sizes = {t.name: len(m["binValues"]) if self._binned(t, m) else t.size
                           for t, m in zip(self.targets, self.tasks)}
        self.loss = MultiTaskLoss([self._task_loss(t, m) for t, m in zip(self.targets, self.tasks)]
                                  + [self._guide_loss(n, o) for n, o in self.guides.items()])

    def _guide_loss(self, name: str, output: str) -> TaskLoss:
        """The loss of a target that trains the head ``output`` (a teacher's distribution over its classes or bins)."""
        t = self.pack.target(name)
        head = next((m for m in self.tasks if m["name"] == output), None)
        if head is None:
            raise ValueError(f"losses.{name}.output: no head {output!r} (heads: {[m['name'] for m in self.tasks]})")
        if t.kind != "distribution" or list(t.classes or []) != list(head["labels"]):
            raise ValueError(f"losses.{name}: target {name!r} ({t.kind}, {len(t.classes or [])} classes) cannot train head "
                             f"{output!r} ({len(head['labels'])} outputs: {head['labels'][:3]}...); it needs a distribution over the same labels")
        lc = {k: v for k, v in self.cfg["losses"][name].items() if k != "output"}
        loss = lc.get("loss", "soft_ce")
        if loss != "soft_ce":
            raise ValueError(f"losses.{name}: a target training another head takes loss soft_ce, got {loss!r}")
        return TaskLoss(name, t.kind, loss, float(lc.get("weight", 1.0)), float(lc.get("label_smoothing", 0.0)), output=output)

    @property
    def target_names(self) -> List[str]:
        """Every target a batch carries: the heads', then the guiding ones."""
        return [t.name for t in self.targets] + list(self.guides)

    @staticmethod
    def _binned(t: TargetSpec, meta: Mapping[str, Any]) -> bool:
        return t.kind == "regression" and "binValues" in meta

    def _task_meta(self) -> List[Dict[str, Any]]:
        out = []
        for t in self.targets:
            o = expand_output(self.cfg["outputs"].get(t.name, {}))
            meta = {"name": t.name, "kind": t.kind, "labels": t.classes if t.classes else [t.name],
                    "decode": o.get("decode") or default_decode(t.kind)}
            if o.get("binValues") is not None:
                meta["binValues"] = o["binValues"]
                if t.kind == "regression":
                    if meta["decode"] != "expectation":
                        raise ValueError(f"outputs.{t.name}: a regression head over bins is read by decode 'expectation'")
                    meta["labels"] = bin_labels(meta["binValues"])
                elif len(meta["binValues"]) != len(meta["labels"]):
                    raise ValueError(f"outputs.{t.name}.binValues needs {len(meta['labels'])} values")
            elif meta["decode"] == "expectation":
                raise ValueError(f"outputs.{t.name}: decode 'expectation' needs binValues or binRange")
            if o.get("bands"):
                if meta["decode"] not in ("expectation", "identity"):
                    raise ValueError(f"outputs.{t.name}.bands: bands group a value; decode {meta['decode']!r} gives classes")
                meta["bands"] = o["bands"]
            out.append(meta)
        return out

    def _task_loss(self, t: TargetSpec, meta: Mapping[str, Any]) -> TaskLoss:
        lc = dict(self.cfg["losses"].get(t.name, {}))
        binned = self._binned(t, meta)
        loss = lc.get("loss") or (DEFAULT_BINNED_LOSS if binned else DEFAULT_LOSS[t.kind])
        cw_mode = lc.get("class_weight") or ("balanced" if loss == "weighted_ce" else None)
        cw = class_weights(self.pack.class_counts(self.train_split, t.name), cw_mode) if cw_mode else None
        bins = torch.tensor(meta["binValues"], dtype=torch.float32) if binned else None
        params = {k: float(v) for k, v in lc.items() if k not in ("loss", "weight", "label_smoothing", "class_weight")}
        return TaskLoss(t.name, t.kind, loss, float(lc.get("weight", 1.0)), float(lc.get("label_smoothing", 0.0)), cw,
                        bins, params)

    def build_model(self) -> FaceModel:
        heads = dict(self.head_sizes)
        return create(self.cfg["model"]["arch"], self.in_channels, input_size=self.input_size, heads=heads,
                      **self.cfg["model"].get("kwargs", {}))

    def loader(self, split: str, train: bool) -> BatchLoader:
        cfg = self.cfg
        names = self.target_names
        rows = labelled_rows(self.pack, split, [t.name for t in self.targets]) if cfg.get("labelled_only") else None
        weights = balanced_weights(self.pack, split, cfg["balance"]) if (train and cfg.get("balance")) else None
        if weights is not None and rows is not None:
            weights = weights[rows] / weights[rows].sum()
        return BatchLoader(self.pack, split, targets=names, in_channels=self.in_channels,
                           input_size=self.input_size, normalisation=self.norm,
                           batch_size=cfg["batch_size"] if train else cfg["eval_batch_size"], train=train,
                           augment=Augmenter(cfg["augment"]) if train else None, sample_weights=weights,
                           seed=int(cfg["seed"]), channels_last=bool(cfg["channels_last"]), rows=rows,
                           synth=SunglassesSynth.from_config(cfg["synthesise"].get("sunglasses"), self.pack.crop)
                           if train else None)

    def metadata(self, model: FaceModel) -> Dict[str, Any]:
        """What export needs besides the weights."""
        return {"arch": model.arch, "arch_kwargs": model.arch_kwargs, "in_channels": self.in_channels,
                "input_size": self.input_size, "heads": dict(model.head_sizes), "tasks": self.tasks,
                "primary": self.primary, "normalisation": self.norm, "crop": self.pack.crop,
                "pack": {"path": self.pack.root, "source": self.pack.meta.get("source"),
                         "createdBy": self.pack.meta.get("createdBy")}}


def primary_correct(run: Run, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> Tuple[int, int]:
    """(correct, counted) for the primary task on one batch; (0, 0) for regression."""
    t = next(x for x in run.targets if x.name == run.primary)
    logits, y = outputs[t.name].detach(), targets[t.name]
    if t.kind == "class":
        keep = y >= 0
        return int((logits[keep].argmax(1) == y[keep]).sum()), int(keep.sum())
    if t.kind == "distribution":
        keep = ~torch.isnan(y).any(1)
        return int((logits[keep].argmax(1) == y[keep].argmax(1)).sum()), int(keep.sum())
    if t.kind == "multilabel":
        present = ~torch.isnan(y)
        return int((((logits > 0) == (y > 0.5)) & present).sum()), int(present.sum())
    return 0, 0


@torch.no_grad()
def evaluate(run: Run, model: FaceModel, split: str, tta_flip: bool = False, bf16: bool = False) -> Dict[str, Any]:
    """Loss and per-task metrics on a whole split (no augmentation; optional flip averaging).

    ``bf16`` is for the per-epoch validation of bf16 runs (speed); final figures are fp32, as the
    exported model runs."""
    model.eval()
    loader = run.loader(split, train=False)
    outs: Dict[str, List[torch.Tensor]] = {t.name: [] for t in run.targets}
    tgts: Dict[str, List[torch.Tensor]] = {n: [] for n in run.target_names}
    for batch in loader.epoch():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            o = model(batch.x)
            if tta_flip:
                of = model(batch.x.flip(-1))
                o = {k: (v + of[k]) / 2 for k, v in o.items()}
        o = {k: v.float() for k, v in o.items()}
        for k in outs:
            outs[k].append(o[k])
        for k in tgts:
            tgts[k].append(batch.targets[k])
    logits = {k: torch.cat(v) for k, v in outs.items()}
    targets = {k: torch.cat(v) for k, v in tgts.items()}
    loss, _ = run.loss(logits, targets)
    res: Dict[str, Any] = {"loss": float(loss), "count": loader.n, "tasks": {}}
    for t, meta in zip(run.targets, run.tasks):
        res["tasks"][t.name] = task_metrics(t.kind, logits[t.name].numpy(), targets[t.name].numpy(), meta["labels"],
                                            meta.get("binValues"), meta.get("bands"))
    res["acc"] = res["tasks"][run.primary].get("acc")
    return res


class _Stop:
    """SIGTERM/SIGINT ask the loop to checkpoint at the next batch and exit (SIGKILL cannot be
    caught; atomic checkpoints cover it)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> "_Stop":
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread (e.g. called from a test runner thread)
                pass
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.requested = True
        say(f"signal {signum}: checkpointing at the next batch, then stopping")

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _checkpoint_state(run: Run, model: FaceModel, opt: torch.optim.Optimizer, st: Dict[str, Any]) -> Dict[str, Any]:
    return {"format": CHECKPOINT_FORMAT, "version": 1, **run.metadata(model), "config": run.cfg,
            "model": model.state_dict(), "optimizer": opt.state_dict(), **st}


def _command() -> str:
    return " ".join(["/usr/bin/python3", "-m", "training.train"] + [shlex.quote(a) for a in sys.argv[1:]])


def _adapt_channels(theirs: torch.Tensor, mine: Optional[torch.Tensor]) -> torch.Tensor:
    if mine is None or mine.shape == theirs.shape or theirs.dim() != 4 or theirs.shape[0] != mine.shape[0] \
            or theirs.shape[2:] != mine.shape[2:]:
        return theirs
    if theirs.shape[1] == 1 and mine.shape[1] == 3:
        return theirs.repeat(1, 3, 1, 1) / 3
    if theirs.shape[1] == 3 and mine.shape[1] == 1:
        return theirs.sum(dim=1, keepdim=True)
    return theirs


def load_trunk(model: FaceModel, source: str) -> str:
    """Transfer learning: copies every trunk weight (all but the task heads) from another run's
    ``best.pt`` (or a run directory holding one). Architectures must match; heads start fresh.
    A gray trunk feeds an RGB model (and back) through its first convolution: the gray filter is
    copied to each colour channel divided by 3 (luma ≈ mean of R, G, B), or the colour filters are
    summed. The input size may differ: these trunks end in global average pooling."""
    path = os.path.join(source, "best.pt") if os.path.isdir(source) else source
    theirs = torch.load(path, map_location="cpu")["model"]
    mine = model.state_dict()
    trunk = {k: _adapt_channels(v, mine.get(k)) for k, v in theirs.items() if not k.startswith("heads.")}
    bad = [k for k, v in trunk.items() if k not in mine or mine[k].shape != v.shape]
    missing = [k for k in mine if not k.startswith("heads.") and k not in trunk]
    if bad or missing:
        raise ValueError(f"init: {path} does not fit this model's trunk (mismatched {bad[:3]}, missing {missing[:3]})")
    model.load_state_dict(trunk, strict=False)
    return f"{path} ({len(trunk)} tensors)"


def set_mode(model: FaceModel, cfg: Mapping[str, Any]) -> None:
    """Training mode; with ``freeze_trunk`` only the heads train: the trunk takes no gradient and its
    BatchNorm layers keep their running statistics (the frozen-feature transfer of paper 001)."""
    model.train()
    if cfg.get("freeze_trunk"):
        for name, module in model.named_children():
            if name != "heads":
                module.eval()
                for p in module.parameters():
                    p.requires_grad_(False)


def train(cfg: Dict[str, Any], *, resume: bool = False, force: bool = False,
          command: Optional[str] = None) -> Dict[str, Any]:
    """Runs (or resumes) one training run; returns the results dict also written to results.json."""
    run_dir = os.path.join(cfg["out_dir"], cfg["name"])
    ckpt_path, best_path = os.path.join(run_dir, "checkpoint.pt"), os.path.join(run_dir, "best.pt")
    state: Optional[Dict[str, Any]] = None
    if os.path.exists(ckpt_path):
        if resume:
            state = torch.load(ckpt_path, map_location="cpu")
            saved = state["config"]
            for k in RESUMABLE_KEYS:  # new values for the keys that may change between sessions
                saved[k] = cfg[k]
            if any(saved.get(k) != cfg.get(k) for k in cfg if k not in RESUMABLE_KEYS + ("name", "out_dir")):
                say("note: the config differs from the checkpoint's; resuming with the checkpoint's "
                    f"(only {', '.join(RESUMABLE_KEYS)} may change on resume)")
            saved["out_dir"], saved["name"] = cfg["out_dir"], cfg["name"]
            cfg = saved
        elif not force:
            raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or --force to restart")
    os.makedirs(run_dir, exist_ok=True)
    torch.set_num_threads(int(cfg["threads"]))
    seed_everything(int(cfg["seed"]))

    t_setup = time.time()
    run = Run(cfg, normalisation=state["normalisation"] if state else None)
    model = run.build_model()
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = make_optimizer(cfg, model)
    command = command or (state or {}).get("command") or "training.train.train(config)"
    st: Dict[str, Any] = {"epoch": 0, "batch": 0, "partial": None, "best_metric": None, "best_epoch": None,
                          "bad_epochs": 0, "log": [], "stopped": None, "finished": False, "command": command,
                          "train_seconds": 0.0}
    if cfg.get("freeze_trunk") and not cfg.get("init"):
        raise ValueError("freeze_trunk needs init: a frozen random trunk learns nothing")
    if state is None and cfg.get("init"):
        say(f"trunk initialised from {load_trunk(model, cfg['init'])}" + (" (frozen)" if cfg.get("freeze_trunk") else ""))
    if state:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        st.update({k: state[k] for k in st if k in state})
        # A finished run resumed with more epochs (or a larger time budget) continues.
        budget = cfg.get("time_budget_s")
        if st["stopped"] == "time_budget" and (budget is None or st["train_seconds"] < float(budget)):
            st["stopped"] = None
        if st["stopped"] is None and st["epoch"] < int(cfg["epochs"]):
            st["finished"] = False
    atomic_write_json(os.path.join(run_dir, "config.json"), cfg)

    train_loader = run.loader(run.train_split, train=True)
    n_batches = len(train_loader)
    if cfg.get("max_train_batches"):
        n_batches = min(n_batches, int(cfg["max_train_batches"]))
    params, macs = count_params(model), count_macs(model, run.in_channels, run.input_size)
    epochs = int(cfg["epochs"])
    metric_name = cfg["early_stopping"].get("metric") or "val_acc"
    patience = cfg["early_stopping"].get("patience")
    min_delta = float(cfg["early_stopping"].get("min_delta") or 0.0)
    emit({"event": "start", "run": run_dir, "name": cfg["name"], "arch": model.arch, "params": params, "macs": macs,
          "epochs": epochs, "start_epoch": st["epoch"], "start_batch": st["batch"], "train_images": train_loader.n,
          "batches_per_epoch": n_batches, "precision": resolve_precision(cfg),
          "setup_s": round(time.time() - t_setup, 3)})
    say(f"{cfg['name']}: {model.arch} {params / 1e6:.2f}M params {macs / 1e9:.3f} GMAC/img, {resolve_precision(cfg)}, "
        f"{train_loader.n} train images, {n_batches} batches/epoch, from epoch {st['epoch']} batch {st['batch']}")

    bf16 = resolve_precision(cfg) == "bf16"
    ckpt_every = float(cfg.get("checkpoint_minutes") or 0) * 60
    budget = cfg.get("time_budget_s")
    epoch_times: List[float] = []
    with _Stop() as stop:
        while not st["finished"] and st["epoch"] < epochs and st["stopped"] is None:
            epoch = st["epoch"]
            set_mode(model, cfg)
            p = st["partial"] or {"loss_sum": 0.0, "batches": 0, "correct": 0, "counted": 0, "images": 0, "seconds": 0.0}
            t0, last_ckpt = time.time(), time.time()
            lr = lr_at(cfg, epoch)
            for b, batch in enumerate(train_loader.epoch(epoch, st["batch"]), start=st["batch"]):
                if b >= n_batches:
                    break
                lr = lr_at(cfg, epoch + b / n_batches)
                for group in opt.param_groups:
                    frozen = epoch + b / n_batches < group.get("frozen_epochs", 0.0)
                    group["lr"] = 0.0 if frozen else lr * group.get("lr_mult", 1.0)
                    if "frozen_epochs" in group and not cfg.get("freeze_trunk"):
                        # No gradient at all while frozen: backward stops at the first trained layer.
                        for prm in group["params"]:
                            prm.requires_grad_(not frozen)
                # Dropout draws from the global RNG: re-seed per batch so resume replays it exactly.
                torch.manual_seed((int(cfg["seed"]) * 7_919 + epoch * 100_003 + b) % (2 ** 63))
                # bf16 autocast: convolutions/linear layers in bf16 with fp32 accumulation (oneDNN);
                # weights, optimiser state, loss and evaluation stay fp32.
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    outputs = model(batch.x)
                outputs = {k: v.float() for k, v in outputs.items()}
                loss, _ = run.loss(outputs, batch.targets)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch + 1} batch {b}; "
                                             "lower optimizer.lr or set grad_clip")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.get("grad_clip"):
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
                opt.step()
                c, k = primary_correct(run, outputs, batch.targets)
                p["loss_sum"] += float(loss.detach())
                p["batches"] += 1
                p["correct"] += c
                p["counted"] += k
                p["images"] += int(batch.x.shape[0])
                st["batch"] = b + 1
                if stop.requested or (ckpt_every and time.time() - last_ckpt >= ckpt_every and b + 1 < n_batches):
                    p["seconds"] += time.time() - t0
                    t0 = last_ckpt = time.time()
                    st["partial"] = dict(p)
                    atomic_torch_save(ckpt_path, _checkpoint_state(run, model, opt, st))
                    say(f"checkpoint: epoch {epoch + 1} batch {b + 1}/{n_batches}")
                    if stop.requested:
                        emit({"event": "stopped", "run": run_dir, "epoch": epoch, "batch": b + 1, "checkpoint": ckpt_path})
                        return {"stopped": "signal", "run": run_dir}
            train_seconds = p["seconds"] + time.time() - t0
            st["train_seconds"] += train_seconds
            t_val = time.time()
            val = evaluate(run, model, run.val_split, bf16=bf16)
            seconds = train_seconds + (time.time() - t_val)
            row = {"epoch": epoch + 1, "train_loss": p["loss_sum"] / max(1, p["batches"]),
                   "train_acc": (p["correct"] / p["counted"]) if p["counted"] else None,
                   "val_loss": val["loss"], "val_acc": val["acc"], "lr": lr, "seconds": round(seconds, 3),
                   "images_per_s": round(p["images"] / max(1e-9, train_seconds), 2)}
            st["log"].append(row)
            value = row["val_acc"] if metric_name == "val_acc" and row["val_acc"] is not None else -row["val_loss"]
            improved = st["best_metric"] is None or value > st["best_metric"] + min_delta
            if improved:
                st["best_metric"], st["best_epoch"], st["bad_epochs"] = value, epoch + 1, 0
                atomic_torch_save(best_path, {"format": CHECKPOINT_FORMAT, "version": 1, **run.metadata(model),
                                              "config": cfg, "model": model.state_dict(), "epoch": epoch + 1,
                                              "val": val, "command": command})
            else:
                st["bad_epochs"] += 1
            st["epoch"], st["batch"], st["partial"] = epoch + 1, 0, None
            if patience is not None and st["bad_epochs"] >= int(patience):
                st["stopped"] = "early_stopping"
            elif budget is not None and st["train_seconds"] >= float(budget):
                st["stopped"] = "time_budget"
            # Log first, then the checkpoint: a kill in between leaves a log row the resumed run
            # rewrites (the log is restored from the checkpoint), never a checkpoint without its row.
            write_log(os.path.join(run_dir, "log.csv"), st["log"])
            atomic_torch_save(ckpt_path, _checkpoint_state(run, model, opt, st))
            epoch_times.append(seconds)
            remaining = (epochs - st["epoch"]) if st["stopped"] is None else 0
            eta = sum(epoch_times) / len(epoch_times) * remaining
            emit({"event": "epoch", "epoch": epoch + 1, "epochs": epochs, "train_loss": finite(row["train_loss"]),
                  "train_acc": finite(row["train_acc"]), "val_loss": finite(row["val_loss"]),
                  "val_acc": finite(row["val_acc"]), "lr": lr, "seconds": row["seconds"],
                  "images_per_s": row["images_per_s"], "eta_s": round(eta, 1), "best_epoch": st["best_epoch"],
                  "improved": improved})
            say(f"epoch {epoch + 1}/{epochs} loss {row['train_loss']:.4f} val_loss {row['val_loss']:.4f} "
                f"val_acc {row['val_acc'] if row['val_acc'] is not None else float('nan'):.4f} lr {lr:.5f} "
                f"{seconds:.1f}s {row['images_per_s']:.0f} img/s" + (f" (stopping: {st['stopped']})" if st["stopped"] else ""))

    results = finish(run, cfg, st, params, macs)
    st["finished"] = True
    atomic_torch_save(ckpt_path, _checkpoint_state(run, model, opt, st))
    return results


def finish(run: Run, cfg: Dict[str, Any], st: Dict[str, Any], params: int, macs: int) -> Dict[str, Any]:
    """Evaluates the best checkpoint on val and test (plain and flip-averaged); writes results.json."""
    run_dir = run.dir
    best_path = os.path.join(run_dir, "best.pt")
    best = torch.load(best_path, map_location="cpu")
    model = run.build_model()
    model.load_state_dict(best["model"])
    model = model.to(memory_format=torch.channels_last if cfg["channels_last"] else torch.contiguous_format)
    results: Dict[str, Any] = {
        "name": cfg["name"], "arch": model.arch, "arch_kwargs": model.arch_kwargs, "params": params, "macs": macs,
        "input": {"size": run.input_size, "channels": run.in_channels}, "primary": run.primary,
        "epochs_run": st["epoch"], "epochs": cfg["epochs"], "best_epoch": st["best_epoch"],
        "stopped": st["stopped"] or "completed", "train_seconds": round(st["train_seconds"], 1),
        "images_per_s": st["log"][-1]["images_per_s"] if st["log"] else None,
        "command": st["command"], "pack": run.pack.root,
        "val": evaluate(run, model, run.val_split),
    }
    if cfg["eval_tta_flip"]:
        results["val_tta_flip"] = evaluate(run, model, run.val_split, tta_flip=True)
    if run.test_split and run.pack.has_split(run.test_split):
        results["test"] = evaluate(run, model, run.test_split)
        if cfg["eval_tta_flip"]:
            results["test_tta_flip"] = evaluate(run, model, run.test_split, tta_flip=True)
    paths = {k: os.path.join(run_dir, f) for k, f in (("config", "config.json"), ("log", "log.csv"),
                                                    ("checkpoint", "checkpoint.pt"), ("best", "best.pt"),
                                                    ("results", "results.json"))}
    results["paths"] = paths
    atomic_write_json(paths["results"], results)
    summary = {"event": "done", "run": run_dir, "best_epoch": st["best_epoch"], "epochs_run": st["epoch"],
               "stopped": results["stopped"], "val_acc": finite(results["val"]["acc"]),
               "test_acc": finite(results["test"]["acc"]) if "test" in results and results["test"]["acc"] is not None else None,
               "test_acc_tta_flip": (finite(results["test_tta_flip"]["acc"])
                                     if results.get("test_tta_flip", {}).get("acc") is not None else None),
               "paths": paths}
    emit(summary)
    say(f"done: best epoch {st['best_epoch']}, val_acc {summary['val_acc']}, test_acc {summary['test_acc']} "
        f"(flip TTA {summary['test_acc_tta_flip']}) → {paths['results']}")
    return results


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="JSON config (see training/configs/ and training/README.md)")
    ap.add_argument("--resume", action="store_true", help="continue <out_dir>/<name>/checkpoint.pt if it exists")
    ap.add_argument("--force", action="store_true", help="restart a run whose directory already has a checkpoint")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key, dotted, value as JSON (e.g. --set optimizer.lr=0.05)")
    ap.add_argument("--name", help="run name (default: the config's name, else the file's stem)")
    ap.add_argument("--out", help="parent directory of run directories (default: the config's out_dir, 'runs')")
    args = ap.parse_args(argv)
    overrides = list(args.overrides)
    if args.name:
        overrides.append(f"name={json.dumps(args.name)}")
    if args.out:
        overrides.append(f"out_dir={json.dumps(args.out)}")
    try:
        cfg = load_config(args.config, overrides)
        res = train(cfg, resume=args.resume, force=args.force, command=_command())
    except (ValueError, FileExistsError, FileNotFoundError, FloatingPointError, KeyError) as e:
        emit({"event": "error", "message": str(e), "type": type(e).__name__})
        say(f"error: {e}")
        return 2
    return 130 if res.get("stopped") == "signal" else 0


if __name__ == "__main__":
    sys.exit(main())
