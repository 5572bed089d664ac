"""Sequence models over per-frame CNN embeddings (paper 004: per-frame CNN features -> LSTM).

Reads a *sequence pack* (``facesense prepare-sequences``; docs/pack-format.md, "Sequence packs"):
``embeddings.npy`` float32 [F, D], ``scores.npy`` float32 [F, K] (the frame model's class
probabilities) and ``meta.json`` (per sequence: subject, label, fold, first frame, length).

Variants (paper 004's sizes): ``lstm`` (120 cells), ``bilstm`` (80 cells each way), ``gru`` (120
cells); each reads the standardised embeddings (mean/std of the training frames, stored in the
model) and classifies the last hidden state (both directions' for ``bilstm``). Sequences of
different lengths train together through packed sequences; the ONNX export takes [N, T, D] with
dynamic N and T and no padding (run one sequence, or equal-length ones, per call).

Baselines: the frame model's own probabilities summed over a sequence's frames (paper 004's
"per-frame predictions summed and normalised"; the frame model's labels mapped onto the dataset's
classes, labels without a counterpart such as FER+ neutral dropped and each frame renormalised),
and a per-frame linear classifier trained on the same folds, its probabilities summed likewise.

    python -m training.sequence cv --pack packs/ckplus48-seq --out runs/sequence-ckplus48
    python -m training.sequence export --pack packs/ckplus48-seq --variant bilstm \\
        --cv runs/sequence-ckplus48/results.json --out models/ --id emotion-sequence-ckplus
    python -m training.sequence random --out test/fixtures/tiny-sequence.onnx
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

OPSET = 13
INPUT_NAME = "embeddings"

#: Paper 004: bidirectional LSTM with 80 cells each way, unidirectional with 120.
VARIANTS: Dict[str, Dict[str, Any]] = {
    "lstm": {"cell": "lstm", "hidden": 120, "bidirectional": False},
    "bilstm": {"cell": "lstm", "hidden": 80, "bidirectional": True},
    "gru": {"cell": "gru", "hidden": 120, "bidirectional": False},
}

DEFAULTS: Dict[str, Any] = {
    "epochs": 20, "batch_size": 64, "lr": 3e-3, "weight_decay": 1e-4, "dropout": 0.5,
    "noise": 0.1, "crop_p": 0.5, "stretch_p": 0.5, "stretch_max": 4.0, "repeats": 1, "seed": 0,
}


# --------------------------------------------------------------------------------------- data

@dataclass(frozen=True)
class SequencePack:
    meta: Dict[str, Any]
    embeddings: np.ndarray  # float32 [F, D]
    scores: np.ndarray  # float32 [F, K]
    labels: np.ndarray  # int64 [S]
    folds: np.ndarray  # int64 [S], -1 where the sequence has no fold

    @property
    def classes(self) -> List[str]:
        return list(self.meta["classes"])

    def frames(self, i: int) -> np.ndarray:
        s = self.meta["sequences"][i]
        return self.embeddings[s["start"]:s["start"] + s["length"]]

    def frame_scores(self, i: int) -> np.ndarray:
        s = self.meta["sequences"][i]
        return self.scores[s["start"]:s["start"] + s["length"]]


class PackError(ValueError):
    """A sequence pack is missing, incomplete or inconsistent; the message names the file."""


def load_pack(pack_dir: str) -> SequencePack:
    meta_path = os.path.join(pack_dir, "meta.json")
    if not os.path.isfile(meta_path):
        raise PackError(f"{meta_path}: no meta.json (write the pack with `facesense prepare-sequences`)")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != "facesense-sequence-pack" or meta.get("version") != 1:
        raise PackError(f"{meta_path}: not a version-1 sequence pack (format {meta.get('format')!r})")
    emb = np.load(os.path.join(pack_dir, "embeddings.npy"))
    sco = np.load(os.path.join(pack_dir, "scores.npy"))
    n = int(meta["frames"])
    if emb.shape != (n, int(meta["embedding"]["size"])) or sco.shape != (n, len(meta["scores"]["labels"])):
        raise PackError(f"{pack_dir}: embeddings {emb.shape} / scores {sco.shape} do not match meta.json ({n} frames)")
    seqs = meta["sequences"]
    for s in seqs:
        if s["start"] < 0 or s["length"] < 1 or s["start"] + s["length"] > n:
            raise PackError(f"{meta_path}: sequence {s['id']} spans frames outside 0..{n - 1}")
    labels = np.array([s["label"] for s in seqs], dtype=np.int64)
    folds = np.array([-1 if s["fold"] is None else s["fold"] for s in seqs], dtype=np.int64)
    return SequencePack(meta, emb.astype(np.float32), sco.astype(np.float32), labels, folds)


def pad(seqs: Sequence[np.ndarray]) -> Tuple[torch.Tensor, torch.Tensor]:
    """List of [T_i, D] → zero-padded [N, T_max, D] and lengths [N]."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    out = torch.zeros(len(seqs), int(lengths.max()), seqs[0].shape[1])
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.from_numpy(np.ascontiguousarray(s))
    return out, lengths


# ------------------------------------------------------------------------------------- models

class SequenceClassifier(nn.Module):
    """Standardise → dropout → LSTM/GRU (1 layer) → last hidden state(s) → dropout → linear."""

    def __init__(self, input_size: int, num_classes: int, cell: str = "lstm", hidden: int = 120,
                 bidirectional: bool = False, layers: int = 1, dropout: float = 0.5,
                 mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be lstm or gru, got {cell!r}")
        self.cell, self.dirs, self.hidden = cell, 2 if bidirectional else 1, hidden
        self.register_buffer("mean", torch.zeros(input_size) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(input_size) if std is None else torch.as_tensor(std, dtype=torch.float32))
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(input_size, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.drop_in = nn.Dropout(dropout)
        self.drop_out = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * self.dirs, num_classes)

    def features(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.drop_in((x - self.mean) / self.std)
        inp = x if lengths is None else pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(inp)
        h = state[0] if self.cell == "lstm" else state  # [layers * dirs, N, H]
        return torch.cat([h[h.shape[0] - self.dirs + d] for d in range(self.dirs)], dim=-1)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.drop_out(self.features(x, lengths)))


class FrameClassifier(nn.Module):
    """Per-frame baseline: standardise → dropout → linear, on one frame's embedding."""

    def __init__(self, input_size: int, num_classes: int, dropout: float, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(input_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop((x - self.mean) / self.std))


def create(variant: str, input_size: int, num_classes: int, **kwargs: Any) -> SequenceClassifier:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return SequenceClassifier(input_size, num_classes, **{**VARIANTS[variant], **kwargs})


# ----------------------------------------------------------------------------------- training

def frame_stats(seqs: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    allf = np.concatenate(seqs, axis=0)
    return allf.mean(0), np.maximum(allf.std(0), 1e-3)


def temporal_crop(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random contiguous window of at least half the sequence (and at least one frame)."""
    n = len(s)
    k = int(rng.integers(max(1, math.ceil(n / 2)), n + 1))
    start = int(rng.integers(0, n - k + 1))
    return s[start:start + k]


def time_stretch(s: np.ndarray, rng: np.random.Generator, max_factor: float) -> np.ndarray:
    """Resamples a sequence to a random length up to `max_factor` times its own, frames kept in
    order (sorted draws with replacement): CK+48 has 3 frames per sequence, video tracks have many,
    and a model that only ever saw length 3 extrapolates badly to long windows."""
    n = len(s)
    k = int(rng.integers(1, max(2, int(round(n * max_factor))) + 1))
    return s[np.sort(rng.integers(0, n, size=k))]


def augment(s: np.ndarray, rng: np.random.Generator, hp: Dict[str, Any]) -> np.ndarray:
    if rng.random() < hp["crop_p"]:
        s = temporal_crop(s, rng)
    if rng.random() < hp["stretch_p"]:
        s = time_stretch(s, rng, hp["stretch_max"])
    return s


def fit_sequence(seqs: Sequence[np.ndarray], labels: np.ndarray, variant: str, num_classes: int,
                 hp: Dict[str, Any], seed: int) -> SequenceClassifier:
    """Trains one variant for a fixed number of epochs (no model selection: the test fold stays unseen)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = frame_stats(seqs)
    model = create(variant, seqs[0].shape[1], num_classes, dropout=hp["dropout"], mean=mean, std=std)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp["epochs"])
    y = torch.as_tensor(labels, dtype=torch.int64)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(hp["epochs"]):
        order = rng.permutation(len(seqs))
        for b in range(0, len(order), hp["batch_size"]):
            idx = order[b:b + hp["batch_size"]]
            batch = [augment(seqs[i], rng, hp) for i in idx]
            x, lengths = pad(batch)
            x = x + torch.randn_like(x) * torch.as_tensor(std, dtype=torch.float32) * hp["noise"]
            loss = loss_fn(model(x, lengths), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


def fit_frames(seqs: Sequence[np.ndarray], labels: np.ndarray, num_classes: int, hp: Dict[str, Any], seed: int) -> FrameClassifier:
    """Per-frame baseline: every frame of a training sequence is a sample with the sequence's label."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = frame_stats(seqs)
    x_all = torch.from_numpy(np.concatenate(seqs, axis=0))
    y_all = torch.as_tensor(np.concatenate([np.full(len(s), l) for s, l in zip(seqs, labels)]), dtype=torch.int64)
    model = FrameClassifier(x_all.shape[1], num_classes, hp["dropout"], mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp["epochs"])
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    bs = hp["batch_size"] * 3
    for _ in range(hp["epochs"]):
        order = torch.from_numpy(rng.permutation(len(x_all)))
        for b in range(0, len(order), bs):
            idx = order[b:b + bs]
            x = x_all[idx] + torch.randn(len(idx), x_all.shape[1]) * torch.as_tensor(std) * hp["noise"]
            loss = loss_fn(model(x), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def predict_sequences(model: SequenceClassifier, seqs: Sequence[np.ndarray]) -> np.ndarray:
    x, lengths = pad(seqs)
    return model(x, lengths).argmax(-1).numpy()


@torch.no_grad()
def predict_frame_sum(model: FrameClassifier, seqs: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """(sequence predictions from summed per-frame softmax, per-frame predictions concatenated)."""
    probs = [torch.softmax(model(torch.from_numpy(np.ascontiguousarray(s))), -1).numpy() for s in seqs]
    return np.array([p.sum(0).argmax() for p in probs]), np.concatenate([p.argmax(-1) for p in probs])


def frame_model_probs(pack: SequencePack, i: int) -> np.ndarray:
    """The frame model's probabilities over the dataset's classes, per frame, renormalised over them."""
    sources = pack.meta["scoreSources"]
    raw = pack.frame_scores(i)
    mapped = np.stack([raw[:, src].sum(1) if src else np.zeros(len(raw), np.float32) for src in sources], axis=1)
    total = mapped.sum(1, keepdims=True)
    return np.where(total > 0, mapped / np.maximum(total, 1e-12), 1.0 / len(sources))


# ----------------------------------------------------------------------------- cross-validation

def mean_std(values: Sequence[float]) -> Dict[str, float]:
    return {"mean": float(statistics.fmean(values)), "std": float(statistics.stdev(values)) if len(values) > 1 else 0.0}


def cross_validate(pack: SequencePack, variants: Sequence[str], hp: Dict[str, Any],
                   folds: Optional[Sequence[int]] = None, log=lambda s: None) -> Dict[str, Any]:
    """k-fold CV over the pack's subject-independent folds. Each variant is trained `repeats` times per
    fold (seeds seed..seed+repeats-1); a fold's accuracy is the mean over repeats. Reports per-fold
    accuracies and their mean and sample standard deviation across folds."""
    all_folds = sorted(int(f) for f in set(pack.folds.tolist()) if f >= 0)
    if len(all_folds) < 2:
        raise PackError("the pack has fewer than 2 folds; write it with --folds K >= 2")
    use = list(all_folds if folds is None else folds)
    n_classes = len(pack.classes)
    seqs = [pack.frames(i) for i in range(len(pack.labels))]
    per: Dict[str, List[float]] = {v: [] for v in [*variants, "frame_linear_sum", "frame_linear_per_frame", "frame_model_sum", "frame_model_per_frame"]}
    confusion = {v: np.zeros((n_classes, n_classes), dtype=np.int64) for v in per}
    for f in use:
        test = np.flatnonzero(pack.folds == f)
        train = np.flatnonzero((pack.folds != f) & (pack.folds >= 0))
        tr_seqs, te_seqs = [seqs[i] for i in train], [seqs[i] for i in test]
        y_tr, y_te = pack.labels[train], pack.labels[test]
        y_frames = np.concatenate([np.full(len(s), l) for s, l in zip(te_seqs, y_te)])
        t0 = time.time()
        for v in variants:
            accs = []
            for r in range(hp["repeats"]):
                pred = predict_sequences(fit_sequence(tr_seqs, y_tr, v, n_classes, hp, hp["seed"] + r), te_seqs)
                accs.append(float((pred == y_te).mean()))
                np.add.at(confusion[v], (y_te, pred), 1)
            per[v].append(float(np.mean(accs)))
        sums, frames = [], []
        for r in range(hp["repeats"]):
            s_pred, f_pred = predict_frame_sum(fit_frames(tr_seqs, y_tr, n_classes, hp, hp["seed"] + r), te_seqs)
            sums.append(float((s_pred == y_te).mean()))
            frames.append(float((f_pred == y_frames).mean()))
            np.add.at(confusion["frame_linear_sum"], (y_te, s_pred), 1)
        per["frame_linear_sum"].append(float(np.mean(sums)))
        per["frame_linear_per_frame"].append(float(np.mean(frames)))
        probs = [frame_model_probs(pack, i) for i in test]
        m_pred = np.array([p.sum(0).argmax() for p in probs])
        per["frame_model_sum"].append(float((m_pred == y_te).mean()))
        per["frame_model_per_frame"].append(float((np.concatenate([p.argmax(1) for p in probs]) == y_frames).mean()))
        np.add.at(confusion["frame_model_sum"], (y_te, m_pred), 1)
        log(f"fold {f}: {len(test)} sequences, " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in per.items()) + f" ({time.time() - t0:.1f} s)")
    return {
        "classes": pack.classes,
        "folds": use,
        "fold_sizes": [int((pack.folds == f).sum()) for f in use],
        "hyperparameters": hp,
        "variants": {v: {**VARIANTS[v], "fold_acc": per[v], **mean_std(per[v])} for v in variants},
        "baselines": {k: {"fold_acc": per[k], **mean_std(per[k])} for k in per if k not in variants},
        "confusion": {k: c.tolist() for k, c in confusion.items() if c.sum() > 0},
    }


BASELINE_TEXT = {
    "frame_linear_sum": "per-frame linear classifier on the embeddings, probabilities summed over the sequence",
    "frame_linear_per_frame": "per-frame linear classifier, each frame alone (frame accuracy)",
    "frame_model_sum": "frame model's own probabilities (no CK+ training) summed over the sequence",
    "frame_model_per_frame": "frame model's own probabilities, each frame alone (frame accuracy)",
}


def results_markdown(res: Dict[str, Any], meta: Dict[str, Any], command: str) -> str:
    folds = res["folds"]
    lines = [
        f"# Sequence models on {meta['source']['layout']} ({meta['source']['root']})",
        "",
        f"{len(meta['sequences'])} sequences, {meta['frames']} frames, {len({s['subject'] for s in meta['sequences']})} subjects; "
        f"{len(folds)}-fold subject-independent cross-validation (the pack's folds); embeddings {meta['embedding']['size']}-d "
        f"from {meta['frameModel']['id']}. Mean ± sample std of the per-fold accuracies; each trained variant's fold accuracy "
        f"is the mean of {res['hyperparameters']['repeats']} seeds.",
        "",
        f"Command: `{command}`",
        "",
        "| model | mean acc | std | " + " | ".join(f"fold {f}" for f in folds) + " |",
        "|---|---|---|" + "---|" * len(folds),
    ]
    rows = [(k, v) for k, v in res["variants"].items()] + [(k, v) for k, v in res["baselines"].items()]
    for k, v in rows:
        name = k if k in res["variants"] else f"{k} ({BASELINE_TEXT.get(k, '')})"
        lines.append(f"| {name} | {v['mean'] * 100:.1f}% | {v['std'] * 100:.1f} | " + " | ".join(f"{a * 100:.1f}" for a in v["fold_acc"]) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- export

class _Export(nn.Module):
    def __init__(self, model: SequenceClassifier):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def export_onnx(model: SequenceClassifier, path: str, output_name: str = "emotion") -> str:
    """[N, T, D] float32 → [N, classes] logits, dynamic N and T, opset 13; written atomically."""
    model = model.eval()
    dummy = torch.zeros(2, 3, int(model.mean.shape[0]))
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # torch 1.13 warns that an LSTM with a dynamic batch and no initial state may fail to
            # export: it does not here (the parity tests run batch 2 through onnxruntime-node).
            warnings.simplefilter("ignore")
            # The wrapper must be in eval mode too: export restores the wrapper's mode recursively.
            torch.onnx.export(_Export(model).eval(), dummy, tmp, opset_version=OPSET, input_names=[INPUT_NAME], output_names=[output_name],
                              dynamic_axes={INPUT_NAME: {0: "batch", 1: "time"}, output_name: {0: "batch"}})
        import onnx
        onnx.checker.check_model(onnx.load(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; models are shipped files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def manifest_for(model_id: str, onnx_file: str, sha256: str, variant: str, pack_meta: Dict[str, Any], window: int,
                 metrics: Dict[str, Any], command: str, data: str, terms: str, licence: str, task: str = "emotion") -> Dict[str, Any]:
    cfg = VARIANTS.get(variant, {})
    return {
        "id": model_id,
        "format": 1,
        "kind": "sequence",
        "description": f"{task} from sequences of per-frame {pack_meta['frameModel']['id']} embeddings ({variant}), trained by facesense",
        "file": onnx_file,
        "sha256": sha256,
        "licence": licence,
        "input": {"name": INPUT_NAME, "size": int(pack_meta["embedding"]["size"]), "layout": "NTD", "frameModel": pack_meta["frameModel"]},
        "outputs": [{"task": task, "name": task, "decode": "softmax", "labels": list(pack_meta["classes"])}],
        "window": window,
        "architecture": {"variant": variant, **cfg, "layers": 1},
        "training": {"data": data, "terms": terms, "command": command},
        "metrics": metrics,
    }


def cv_metrics(cv_path: Optional[str], variant: str) -> Dict[str, Any]:
    if cv_path is None:
        return {}
    with open(cv_path, encoding="utf-8") as f:
        res = json.load(f)
    out: Dict[str, Any] = {"cv_folds": len(res["folds"])}
    if variant in res["variants"]:
        out.update({"cv_acc_mean": round(res["variants"][variant]["mean"], 5), "cv_acc_std": round(res["variants"][variant]["std"], 5)})
    for k, v in res["baselines"].items():
        out[f"baseline.{k}.cv_acc_mean"] = round(v["mean"], 5)
    return out


# ---------------------------------------------------------------------------------------- CLI

def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _hp(args: argparse.Namespace) -> Dict[str, Any]:
    return {k: getattr(args, k) if getattr(args, k, None) is not None else v for k, v in DEFAULTS.items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.sequence", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("cv", "export"):
        s = sub.add_parser(name)
        s.add_argument("--pack", required=True)
        s.add_argument("--out", required=True)
        for k, v in DEFAULTS.items():
            s.add_argument(f"--{k.replace('_', '-')}", dest=k, type=type(v), default=None)
        s.add_argument("--threads", type=int, default=1)
    sub.choices["cv"].add_argument("--variants", default=",".join(VARIANTS))
    sub.choices["cv"].add_argument("--folds", default=None, help="comma-separated fold numbers (default: all)")
    e = sub.choices["export"]
    e.add_argument("--variant", required=True, choices=list(VARIANTS))
    e.add_argument("--id", required=True)
    e.add_argument("--cv", default=None, help="results.json of a cv run: its figures go into the manifest")
    e.add_argument("--window", type=int, default=None, help="default sliding window in frames (default: median training length)")
    e.add_argument("--data", default="CK+ (Lucey et al. 2010), sequences of the pack")
    e.add_argument("--terms", default="research, non-commercial use under the CK+ agreement")
    e.add_argument("--licence", default="weights for research, non-commercial use only; they inherit the terms of CK+")
    r = sub.add_parser("random")
    r.add_argument("--out", required=True)
    r.add_argument("--size", type=int, default=8)
    r.add_argument("--variant", default="gru", choices=list(VARIANTS))
    args = p.parse_args(argv)
    command = "/usr/bin/python3 -m training.sequence " + " ".join(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(getattr(args, "threads", 1))

    if args.cmd == "random":
        return export_random(args.out, args.size, args.variant)
    try:
        pack = load_pack(args.pack)
    except PackError as err:
        say(f"error: {err}")
        return 2
    hp = _hp(args)
    os.makedirs(args.out, exist_ok=True)
    from .train import atomic_write_bytes, atomic_write_json
    if args.cmd == "cv":
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            say(f"error: unknown variants {unknown}; known: {', '.join(VARIANTS)}")
            return 2
        folds = None if args.folds is None else [int(f) for f in args.folds.split(",")]
        t0 = time.time()
        res = cross_validate(pack, variants, hp, folds, log=say)
        res["elapsed_s"] = round(time.time() - t0, 1)
        res["command"] = command
        res["pack"] = {"root": pack.meta["source"]["root"], "layout": pack.meta["source"]["layout"], "frameModel": pack.meta["frameModel"],
                       "sequences": len(pack.labels), "frames": int(pack.meta["frames"])}
        atomic_write_json(os.path.join(args.out, "results.json"), res)
        md = results_markdown(res, pack.meta, command)
        atomic_write_bytes(os.path.join(args.out, "results.md"), md.encode("utf-8"))
        print(md)
        return 0
    # export: train on every sequence of the pack (all folds), then write ONNX + manifest
    from .export import sha256_file
    seqs = [pack.frames(i) for i in range(len(pack.labels))]
    model = fit_sequence(seqs, pack.labels, args.variant, len(pack.classes), hp, hp["seed"])
    path = export_onnx(model, os.path.join(args.out, f"{args.id}.onnx"))
    window = args.window or int(np.median([len(s) for s in seqs]))
    metrics = {**cv_metrics(args.cv, args.variant), "train_sequences": len(seqs), "params": sum(q.numel() for q in model.parameters())}
    manifest = manifest_for(args.id, os.path.basename(path), sha256_file(path), args.variant, pack.meta, window, metrics, command,
                            args.data, args.terms, args.licence, task=pack.meta["scores"]["task"])
    manifest["training"]["hyperparameters"] = hp
    atomic_write_json(os.path.join(args.out, f"{args.id}.json"), manifest)
    print(json.dumps({"event": "done", "paths": {"onnx": path, "manifest": os.path.join(args.out, f"{args.id}.json")}}))
    return 0


def synthetic_sequence(n: int, t: int, d: int) -> np.ndarray:
    """The deterministic input of the fixture check: x[n, t, j] = sin(0.1 * (flat index + 1))."""
    return np.sin(0.1 * (np.arange(n * t * d, dtype=np.float64) + 1)).reshape(n, t, d).astype(np.float32)


def export_random(out: str, size: int, variant: str) -> int:
    """A tiny randomly initialised sequence model (a test fixture) + manifest + the expected output
    on `synthetic_sequence(2, 5, size)`, for the TypeScript test."""
    from .export import sha256_file
    from .train import atomic_write_json
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = ["anger", "happy", "surprise"]
    model = create(variant, size, len(labels), hidden=6, mean=rng.normal(size=size) * 0.1, std=1 + rng.random(size)).eval()
    path = export_onnx(model, out)
    x = synthetic_sequence(2, 5, size)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    base = out[:-len(".onnx")] if out.endswith(".onnx") else out
    meta = {"id": os.path.basename(base), "frameModel": {"id": "emotion-ferplus", "detector": "none"}, "embedding": {"size": size}, "classes": labels}
    manifest = manifest_for(os.path.basename(base), os.path.basename(path), sha256_file(path), variant, meta, 3, {}, "python -m training.sequence random",
                            "none (random weights)", "none", "MIT (random weights, no training data)")
    manifest["description"] = "randomly initialised tiny sequence model: a test fixture, its predictions mean nothing"
    atomic_write_json(f"{base}.json", manifest)
    atomic_write_json(f"{base}.expected.json", {"input": "sin(0.1 * (i + 1)) over the flat index i of [2, 5, size]", "dims": [2, 5, size],
                                                 "logits": expected.round(6).tolist()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
