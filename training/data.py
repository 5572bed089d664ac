"""Reading training packs (docs/pack-format.md) and feeding batches.

A pack is uint8 images ``<split>_x.npy`` [N, H, W, C] plus one ``<split>_<target>.npy`` per target,
memory-mapped (``mmap_mode='r'``) so that a pack larger than memory still trains. Batches are
assembled with one fancy-index per batch and preprocessed/augmented batch-wise in torch: with two
CPU cores, worker processes would only steal cycles from the convolutions.

Input pipeline, identical in training, evaluation and statistics (and in the TypeScript analyzer,
which the exported manifest describes): uint8 → float 0..255 → channel conversion → resize to the
model's input size → [augmentation, training only] → normalisation → channels-last.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .augment import Augmenter
from .synth import SunglassesSynth

Tensor = torch.Tensor

TARGET_KINDS = ("class", "distribution", "multilabel", "regression")


class PackError(ValueError):
    """The pack directory is missing, malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class TargetSpec:
    name: str
    kind: str
    classes: Optional[List[str]] = None

    @property
    def size(self) -> int:
        """Number of model outputs for this target."""
        return 1 if self.kind == "regression" else len(self.classes or [])


class Pack:
    """A pack directory: ``meta.json`` plus ``.npy`` arrays, opened lazily and memory-mapped."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        meta_path = os.path.join(self.root, "meta.json")
        if not os.path.isfile(meta_path):
            raise PackError(f"{meta_path}: not found; build a pack with `facesense prepare` (docs/pack-format.md)")
        with open(meta_path, encoding="utf-8") as f:
            self.meta: Dict[str, Any] = json.load(f)
        if self.meta.get("format") != "facesense-pack" or self.meta.get("version") != 1:
            raise PackError(f"{meta_path}: expected format 'facesense-pack' version 1, got "
                            f"{self.meta.get('format')!r} version {self.meta.get('version')!r}")
        img = self.meta.get("image") or {}
        try:
            self.height, self.width, self.channels = int(img["height"]), int(img["width"]), int(img["channels"])
        except (KeyError, TypeError, ValueError):
            raise PackError(f"{meta_path}: 'image' needs integer height, width and channels") from None
        self.targets: List[TargetSpec] = []
        for t in self.meta.get("targets") or []:
            kind = t.get("kind")
            if kind not in TARGET_KINDS:
                raise PackError(f"{meta_path}: target {t.get('name')!r} has kind {kind!r}; expected one of {TARGET_KINDS}")
            if kind != "regression" and not t.get("classes"):
                raise PackError(f"{meta_path}: target {t.get('name')!r} of kind {kind} needs 'classes'")
            self.targets.append(TargetSpec(t["name"], kind, list(t["classes"]) if t.get("classes") else None))
        if not self.targets:
            raise PackError(f"{meta_path}: no targets")
        self.splits: List[str] = list((self.meta.get("splits") or {}).keys())
        self._cache: Dict[str, np.ndarray] = {}

    @property
    def crop(self) -> Dict[str, Any]:
        """How the analyzer must crop a photo's face for a model trained on this pack.

        Pre-cropped datasets (crop mode ``none``) whose eye framing `facesense prepare` measured
        (``preprocessing.framing``, src/data/framing.ts) become an ``aligned`` crop with that
        framing, so faces found in photos look like the training crops."""
        pre = self.meta.get("preprocessing") or {}
        crop = dict(pre.get("crop") or {"mode": "none"})
        framing = pre.get("framing")
        if crop.get("mode") == "none" and framing:
            return {"mode": "aligned", "eyeDistance": round(float(framing["eyeDistance"]), 4),
                    "eyeY": round(float(framing["eyeY"]), 4)}
        if crop.get("mode") == "aligned":
            # Detected and aligned by `facesense prepare --crop aligned`: the manifest keeps only the
            # CropSpec (the detector name and no-face policy are pack provenance).
            return {"mode": "aligned", "eyeDistance": float(crop["eyeDistance"]), "eyeY": float(crop["eyeY"])}
        return crop

    def target(self, name: str) -> TargetSpec:
        for t in self.targets:
            if t.name == name:
                return t
        raise PackError(f"{self.root}: no target {name!r}; pack targets: {[t.name for t in self.targets]}")

    def has_split(self, split: str) -> bool:
        return os.path.isfile(os.path.join(self.root, f"{split}_x.npy"))

    def _load(self, file: str) -> np.ndarray:
        if file not in self._cache:
            path = os.path.join(self.root, file)
            if not os.path.isfile(path):
                raise PackError(f"{path}: not found")
            self._cache[file] = np.load(path, mmap_mode="r")
        return self._cache[file]

    def images(self, split: str) -> np.ndarray:
        x = self._load(f"{split}_x.npy")
        want = (self.height, self.width, self.channels)
        if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise PackError(f"{self.root}/{split}_x.npy: expected uint8 [N, {want[0]}, {want[1]}, {want[2]}], "
                            f"got {x.dtype} {list(x.shape)}")
        return x

    def labels(self, split: str, name: str) -> np.ndarray:
        spec = self.target(name)
        y = self._load(f"{split}_{name}.npy")
        n = self.images(split).shape[0]
        if spec.kind == "class":
            ok = y.dtype == np.int64 and y.shape == (n,)
        elif spec.kind == "regression":
            ok = y.dtype == np.float32 and y.shape == (n,)
        else:
            ok = y.dtype == np.float32 and y.shape == (n, spec.size)
        if not ok:
            raise PackError(f"{self.root}/{split}_{name}.npy: shape/dtype {y.dtype} {list(y.shape)} does not match "
                            f"target kind {spec.kind} with {spec.size} classes and {n} images")
        return y

    def class_counts(self, split: str, name: str) -> np.ndarray:
        """Samples per class (class targets: label counts; distribution/multilabel: summed rows)."""
        spec = self.target(name)
        y = np.asarray(self.labels(split, name))
        if spec.kind == "class":
            y = y[y >= 0]
            return np.bincount(y, minlength=spec.size).astype(np.float64)
        if spec.kind in ("distribution", "multilabel"):
            rows = y[~np.isnan(y).any(axis=1)]
            return rows.sum(axis=0).astype(np.float64)
        raise PackError(f"target {name!r} is a regression target and has no classes")


# --- preprocessing and normalisation ----------------------------------------------------------

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def to_model_input(batch_nhwc: np.ndarray, in_channels: int, input_size: int) -> Tensor:
    """uint8 [N, H, W, C] → float32 [N, in_channels, S, S] in 0..255 (no normalisation yet)."""
    arr = np.asarray(batch_nhwc)
    if not (arr.flags.writeable and arr.flags.c_contiguous):
        arr = np.array(arr, copy=True)  # memory-mapped slices are read-only; torch wants to own writable memory
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
    c = x.shape[1]
    if c != in_channels:
        if c == 3 and in_channels == 1:
            x = (x * _LUMA).sum(dim=1, keepdim=True)  # ITU-R BT.601 luma, as most gray converters
        elif c == 1 and in_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        else:
            raise ValueError(f"cannot convert {c}-channel images to {in_channels} channels")
    if x.shape[2] != input_size or x.shape[3] != input_size:
        down = x.shape[2] > input_size
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=down)
    return x.contiguous()


def normalise(x: Tensor, norm: Mapping[str, Any]) -> Tensor:
    """Applies a manifest normalisation (src/core/models/manifest.ts) to float 0..255 NCHW images."""
    kind = norm["kind"]
    if kind == "scale":
        return x * float(norm["scale"])
    if kind == "meanstd":
        c = x.shape[1]
        mean = torch.tensor(norm["mean"], dtype=x.dtype).view(1, c, 1, 1)
        std = torch.tensor(norm["std"], dtype=x.dtype).view(1, c, 1, 1)
        return (x * float(norm["scale"]) - mean) / std
    if kind == "gcn":
        x = gcn(x, float(norm["norm"]))
        n, c, h, w = x.shape
        # Manifest arrays are H×W×C in row-major order; the tensor is C×H×W.
        mean = torch.tensor(norm["pixelMean"], dtype=x.dtype).view(h, w, c).permute(2, 0, 1)
        std = torch.tensor(norm["pixelStd"], dtype=x.dtype).view(h, w, c).permute(2, 0, 1)
        return (x - mean) / std
    raise ValueError(f"unknown normalisation kind {kind!r}")


def gcn(x: Tensor, norm: float = 100.0, eps: float = 1e-8) -> Tensor:
    """Paper 000 §3.3 global contrast normalisation, per image: subtract the image's mean, then
    scale the image (all pixels, all channels) to L2 norm ``norm``."""
    x = x - x.mean(dim=(1, 2, 3), keepdim=True)
    l2 = torch.sqrt((x * x).sum(dim=(1, 2, 3), keepdim=True))
    return x * (norm / torch.clamp(l2, min=eps))


def resolve_normalisation(spec: Mapping[str, Any], pack: Pack, split: str, in_channels: int, input_size: int,
                          chunk: int = 2048) -> Dict[str, Any]:
    """Completes a normalisation spec with statistics from the training split.

    ``scale``: default 1/255. ``meanstd``: ``mean``/``std`` per channel of x·scale, computed unless
    given (one value is repeated for every channel). ``gcn``: ``pixelMean``/``pixelStd`` per pixel
    of the GCN'd training images (paper 000 §3.3), as H×W×C lists for the manifest.
    """
    kind = spec.get("kind", "scale")
    if kind == "scale":
        return {"kind": "scale", "scale": float(spec.get("scale", 1 / 255))}
    x_all = pack.images(split)
    if kind == "meanstd":
        scale = float(spec.get("scale", 1 / 255))
        mean, std = spec.get("mean"), spec.get("std")
        if mean is None or std is None:
            s1 = torch.zeros(in_channels, dtype=torch.float64)
            s2 = torch.zeros(in_channels, dtype=torch.float64)
            count = 0
            for i in range(0, x_all.shape[0], chunk):
                x = to_model_input(x_all[i:i + chunk], in_channels, input_size).double() * scale
                s1 += x.sum(dim=(0, 2, 3))
                s2 += (x * x).sum(dim=(0, 2, 3))
                count += x.shape[0] * x.shape[2] * x.shape[3]
            m = s1 / count
            mean = m.tolist() if mean is None else mean
            std = torch.sqrt(torch.clamp(s2 / count - m * m, min=1e-12)).tolist() if std is None else std
        mean = [float(v) for v in (mean * in_channels if len(mean) == 1 else mean)]
        std = [float(v) for v in (std * in_channels if len(std) == 1 else std)]
        if len(mean) != in_channels or len(std) != in_channels:
            raise ValueError(f"meanstd needs {in_channels} mean/std values, got {len(mean)}/{len(std)}")
        return {"kind": "meanstd", "scale": scale, "mean": mean, "std": std}
    if kind == "gcn":
        norm = float(spec.get("norm", 100.0))
        s1 = torch.zeros(in_channels, input_size, input_size, dtype=torch.float64)
        s2 = torch.zeros_like(s1)
        n = 0
        for i in range(0, x_all.shape[0], chunk):
            x = gcn(to_model_input(x_all[i:i + chunk], in_channels, input_size), norm).double()
            s1 += x.sum(dim=0)
            s2 += (x * x).sum(dim=0)
            n += x.shape[0]
        mean = s1 / n
        std = torch.sqrt(torch.clamp(s2 / n - mean * mean, min=0.0)).clamp(min=1e-3)
        hwc = lambda t: [float(v) for v in t.permute(1, 2, 0).reshape(-1).tolist()]  # noqa: E731
        return {"kind": "gcn", "norm": norm, "pixelMean": hwc(mean), "pixelStd": hwc(std)}
    raise ValueError(f"unknown normalisation kind {kind!r}; expected scale, meanstd or gcn")


# --- datasets and batches ---------------------------------------------------------------------

def targets_to_tensors(pack: Pack, split: str, names: Sequence[str], idx: np.ndarray) -> Dict[str, Tensor]:
    out: Dict[str, Tensor] = {}
    for name in names:
        y = np.asarray(pack.labels(split, name)[idx])
        out[name] = torch.from_numpy(y.astype(np.int64 if y.dtype == np.int64 else np.float32, copy=False))
    return out


class PackDataset(torch.utils.data.Dataset):
    """Map-style dataset over one split: item i → (float tensor [C, S, S] normalised, {target: tensor}).

    For custom loops and inspection; the trainer uses :class:`BatchLoader`, which preprocesses and
    augments whole batches at once.
    """

    def __init__(self, pack: Pack, split: str, *, targets: Optional[Sequence[str]] = None, in_channels: Optional[int] = None,
                 input_size: Optional[int] = None, normalisation: Optional[Mapping[str, Any]] = None) -> None:
        self.pack, self.split = pack, split
        self.x = pack.images(split)
        self.targets = list(targets) if targets is not None else [t.name for t in pack.targets]
        self.in_channels = in_channels or pack.channels
        self.input_size = input_size or pack.height
        self.norm = dict(normalisation or {"kind": "scale", "scale": 1 / 255})

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int):
        idx = np.array([i])
        x = normalise(to_model_input(self.x[idx], self.in_channels, self.input_size), self.norm)[0]
        y = {k: v[0] for k, v in targets_to_tensors(self.pack, self.split, self.targets, idx).items()}
        return x, y


def labelled_rows(pack: Pack, split: str, targets: Sequence[str]) -> np.ndarray:
    """Indices of the rows of ``split`` that have a label for at least one of ``targets`` (config
    ``labelled_only``: a head trained on a few thousand labelled faces of a larger pack, e.g. the
    UTKFace appearance labels, then reads only those rows instead of masking the rest batch by batch)."""
    n = pack.images(split).shape[0]
    have = np.zeros(n, dtype=bool)
    for name in targets:
        spec, y = pack.target(name), np.asarray(pack.labels(split, name))
        if spec.kind == "class":
            have |= y >= 0
        elif spec.kind == "regression":
            have |= ~np.isnan(y)
        else:
            have |= ~np.isnan(y).all(axis=1)
    return np.flatnonzero(have)


def balanced_weights(pack: Pack, split: str, target: str) -> np.ndarray:
    """Per-sample weights ∝ 1 / (count of the sample's class): every class is drawn equally often.
    Rows without this target keep the mean weight (they still train their other heads)."""
    spec = pack.target(target)
    y = np.asarray(pack.labels(split, target))
    if spec.kind == "class":
        cls = y
    elif spec.kind in ("distribution", "multilabel"):
        missing = np.isnan(y).any(axis=1)
        cls = np.where(missing, -1, np.nan_to_num(y).argmax(axis=1))
    else:
        raise ValueError(f"cannot balance on regression target {target!r}")
    counts = np.bincount(cls[cls >= 0], minlength=spec.size).astype(np.float64)
    w = np.zeros(len(cls), dtype=np.float64)
    have = cls >= 0
    w[have] = 1.0 / counts[cls[have]]
    w[~have] = w[have].mean() if have.any() else 1.0
    return w / w.sum()


@dataclass
class Batch:
    x: Tensor
    targets: Dict[str, Tensor]
    index: np.ndarray


class BatchLoader:
    """Deterministic batches of one split.

    The order of epoch ``e`` is a pure function of ``(seed, e)`` and the augmentation of batch ``b``
    of ``(seed, e, b)``, so :meth:`epoch` can start at any batch: a resumed run continues exactly
    where the killed one stopped (see train.py).
    """

    def __init__(self, pack: Pack, split: str, *, targets: Sequence[str], in_channels: int, input_size: int,
                 normalisation: Mapping[str, Any], batch_size: int, train: bool = False,
                 augment: Optional[Augmenter] = None, sample_weights: Optional[np.ndarray] = None, seed: int = 0,
                 channels_last: bool = True, rows: Optional[np.ndarray] = None,
                 synth: Optional[SunglassesSynth] = None) -> None:
        self.pack, self.split = pack, split
        self.x = pack.images(split)
        # ``rows``: the subset of the split's rows this loader reads (sorted indices); batch indices
        # and ``sample_weights`` refer to positions in it.
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.n = int(self.x.shape[0]) if self.rows is None else len(self.rows)
        if self.n == 0:
            raise PackError(f"{pack.root}: split {split!r} is empty" + ("" if rows is None else " after keeping labelled rows"))
        self.targets = list(targets)
        self.in_channels, self.input_size = in_channels, input_size
        self.norm = dict(normalisation)
        self.batch_size = batch_size
        self.train = train
        self.augment = augment if (augment is not None and augment.active) else None
        self.synth = synth
        self.weights = sample_weights
        self.seed = seed
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __len__(self) -> int:
        if self.train:
            # Whole batches only: a last batch of 1 breaks BatchNorm; an epoch of fewer images than a
            # batch still trains on one (smaller) batch.
            return max(1, self.n // self.batch_size)
        return math.ceil(self.n / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        if not self.train:
            return np.arange(self.n)
        rng = np.random.default_rng([self.seed, epoch, 0x5EED])
        if self.weights is not None:
            return rng.choice(self.n, size=self.n, replace=True, p=self.weights)
        return rng.permutation(self.n)

    def batch_generator(self, epoch: int, b: int) -> torch.Generator:
        return torch.Generator().manual_seed(((self.seed * 1_000_003 + epoch) * 1_000_033 + b) % (2 ** 63))

    def load(self, idx: np.ndarray, g: Optional[torch.Generator] = None) -> Batch:
        # Sorted reads are sequential on disk for memory-mapped packs; order inside a batch is irrelevant.
        idx = np.sort(idx)
        if self.rows is not None:
            idx = self.rows[idx]
        x = to_model_input(self.x[idx], self.in_channels, self.input_size)
        targets = targets_to_tensors(self.pack, self.split, self.targets, idx)
        if self.synth is not None and g is not None:
            x = self.synth(x, targets, g)  # before augmentation: the painted lenses move with the face
        if self.augment is not None and g is not None:
            x = self.augment(x, g)
        x = normalise(x, self.norm).contiguous(memory_format=self.memory_format)
        return Batch(x, targets, idx)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
        order = self.order(epoch)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.load(idx, self.batch_generator(epoch, b) if self.train else None)
