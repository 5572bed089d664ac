"""Export a trained run to ONNX plus the manifest the TypeScript analyzer reads.

    /usr/bin/python3 -m training.export --run runs/fer2013-compact --out models/ [--id NAME] [--tta-flip]
    /usr/bin/python3 -m training.export --run runs/a --run runs/b --out models/ --id NAME   # ensemble
    /usr/bin/python3 -m training.export --run runs/x --out /tmp/act/ --activations stages    # + activation maps
    /usr/bin/python3 -m training.export --run runs/a --run runs/b --run runs/c --out models/ --id NAME --fp16-weights
    /usr/bin/python3 -m training.export --run runs/trunk --graft runs/more-heads --out models/ --id NAME  # one trunk, both runs' heads

Writes ``<out>/<id>.onnx`` (opset 13, input ``input`` [N, C, H, W] with a dynamic batch axis, one
output per task head named after the task) and ``<out>/<id>.json`` (src/core/models/manifest.ts:
input size, crop from the pack's meta, normalisation with its training-set statistics, labels
from the pack, decode per head, provenance, metrics, sha256 of the .onnx).

``--activations LAYER[,LAYER...]`` also outputs the [N, C, H, W] output of each named module of the
network (``stages.2``; ``stages`` means every stage of the ResNets) as ``act_<layer>``, declared in
the manifest's ``activations`` (for `facesense explain --activations`). Without it the export is
unchanged.

``--graft RUN`` adds the heads of a run trained on a frozen copy of this run's trunk (config
``init: <this run>`` and ``freeze_trunk: true``) to this run's network: one pass through the trunk
answers both runs' tasks. A trunk that differs in any weight or BatchNorm statistic is refused.

``--fp16-weights`` stores the weights as float16, each followed by a Cast to float32: half the
file (an ensemble of three fits the 20 MB limit), computation still in float32 (onnxruntime folds
the casts when the session loads). The weights are rounded to 11 significant bits, so outputs
move by about 1e-3: measure the exported file (`facesense eval`), not the checkpoint.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from .config import load_config
from .data import Pack
from .models import FaceModel, create
from .outputs import expand_output

OPSET = 13
#: Name of the optional output holding the trunk's per-face features (manifest ``embedding``).
EMBEDDING = "embedding"
#: Prefix of the optional outputs holding chosen layers' activations (manifest ``activations``).
ACTIVATION_PREFIX = "act_"
#: ``--activations`` shorthand: every child of the network's ``stages`` module (resnet18, compact_resnet).
STAGES = "stages"

#: Provenance for the packs `facesense prepare` builds from the shared datasets
#: (../shared/datasets/README.md): matched on the pack's source layout.
DATA_TERMS = (
    (r"ferplus|fer\+", "FER+ labels (Barsoum et al. 2016, Microsoft FERPlus, MIT licence) on FER2013 images",
     "research use: FER2013 images under the ICML 2013 challenge terms; FER+ labels MIT"),
    (r"fer2013|fer-2013", "FER2013 (Goodfellow et al., ICML 2013 Challenges in Representation Learning)",
     "research use only (FER2013 challenge terms)"),
    (r"utk", "UTKFace (Zhang, Song & Qi 2017)", "non-commercial research use only (UTKFace terms)"),
    (r"ck\+|ckplus|ck48|cohn", "CK+ (Lucey et al. 2010)", "research use under the CK+ agreement"),
)


class ExportWrapper(nn.Module):
    """Returns the heads as a tuple in manifest order; optionally averages the logits of the image
    and its mirror image (flip test-time augmentation baked into the graph, ~2× inference cost).

    With ``activations`` (module names of ``model``), forward hooks keep those modules' outputs and
    they follow the heads (and the embedding) as extra outputs, in the order given. Under flip TTA
    they are the unmirrored image's: a mirrored map is not aligned with the crop."""

    def __init__(self, model: FaceModel, tasks: Sequence[str], tta_flip: bool = False, embedding: bool = False,
                 activations: Sequence[str] = ()) -> None:
        super().__init__()
        self.model = model
        self.tasks = list(tasks)
        self.tta_flip = tta_flip
        self.embedding = embedding
        self.activations = list(activations)
        # A Gather with a constant reversed index: exports at any opset (no Slice with negative steps).
        self.register_buffer("flip_index", torch.arange(model.input_size - 1, -1, -1), persistent=False)
        self._captured: Dict[str, torch.Tensor] = {}
        self._capturing = False
        self._hooks: List[Any] = []
        modules = dict(model.named_modules())
        for layer in self.activations:
            if layer not in modules:
                raise ValueError(f"the network has no layer {layer!r}")
            self._hooks.append(modules[layer].register_forward_hook(self._capture(layer)))

    def _capture(self, layer: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if self._capturing and layer not in self._captured:
                # A copy: a later in-place op (ReLU(inplace=True)) must not change what is kept.
                self._captured[layer] = output.clone()
        return hook

    def remove_hooks(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _run(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        if not self.embedding:
            return self.model(x)
        feats = self.model.forward_features(x)
        return {**self.model.forward_head(feats), EMBEDDING: feats}

    def forward(self, x: torch.Tensor):
        self._captured, self._capturing = {}, bool(self.activations)
        try:
            out = self._run(x)
        finally:
            self._capturing = False
        if self.tta_flip:
            mirrored = self._run(torch.index_select(x, 3, self.flip_index))
            out = {k: (v + mirrored[k]) * 0.5 for k, v in out.items()}
        acts = tuple(self._captured[layer] for layer in self.activations)
        return tuple(out[t] for t in self.tasks) + ((out[EMBEDDING],) if self.embedding else ()) + acts


def activation_name(layer: str) -> str:
    """ONNX output name of a layer's activations: ``stages.2`` → ``act_stages_2``."""
    return ACTIVATION_PREFIX + re.sub(r"[^0-9A-Za-z]+", "_", layer).strip("_")


def _map_shapes(model: nn.Module) -> Dict[str, Any]:
    """Module name → the [C, H, W] of its output on one forward pass (None when not a 4-D map)."""
    shapes: Dict[str, Any] = {}

    def keep(name: str):
        def hook(_m: nn.Module, _i: Any, o: Any) -> None:
            if name not in shapes:
                shapes[name] = tuple(int(d) for d in o.shape[1:]) if isinstance(o, torch.Tensor) and o.dim() == 4 else None
        return hook

    hooks = [m.register_forward_hook(keep(n)) for n, m in model.named_modules() if n]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, model.in_channels, model.input_size, model.input_size))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return shapes


def resolve_activations(model: nn.Module, layers: Sequence[str]) -> List[Dict[str, Any]]:
    """Manifest entries (name, layer, channels, height, width) for ``layers``: module names of
    ``model`` as ``named_modules()`` gives them, or STAGES for every child of its ``stages``
    module. Shapes are measured on one forward pass; a layer whose output is not [N, C, H, W] is
    refused, and an unknown name is answered with the layers there are."""
    modules = dict(model.named_modules())
    shapes = _map_shapes(model)
    has_stages = isinstance(modules.get(STAGES), nn.Sequential)
    chosen: List[str] = []
    for layer in (s.strip() for s in layers):
        if not layer:
            continue
        if layer == STAGES and has_stages:
            names = [f"{STAGES}.{n}" for n, _ in modules[STAGES].named_children()]
        elif layer in modules:
            names = [layer]
        else:
            maps = [f"{n} ({'×'.join(map(str, shapes[n]))})" for n in modules if shapes.get(n) and n.count(".") <= 1]
            hint = f"'{STAGES}' (every stage) or " if has_stages else ""
            raise ValueError(f"--activations {layer}: the network ({type(model).__name__}) has no such layer; name "
                             f"{hint}a module with a [C×H×W] output, e.g. {', '.join(maps[:16])}{' ...' if len(maps) > 16 else ''}")
        chosen += [n for n in names if n not in chosen]
    entries: List[Dict[str, Any]] = []
    for n in chosen:
        if shapes.get(n) is None:
            why = "not called by the forward pass" if n not in shapes else "its output is not a [N, C, H, W] map"
            raise ValueError(f"--activations {n}: {why}")
        c, h, w = shapes[n]
        entries.append({"name": activation_name(n), "layer": n, "channels": c, "height": h, "width": w})
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"--activations: layers {chosen} give clashing output names {names}")
    return entries


class Ensemble(nn.Module):
    """Averages the logits of runs that share input, preprocessing and heads: one graph whose cost
    is the sum of its members'. Its accuracy is not any member's: measure it with `facesense eval`."""

    def __init__(self, members: Sequence[FaceModel], tasks: Sequence[str]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.tasks = list(tasks)
        self.input_size = members[0].input_size
        self.in_channels = members[0].in_channels

    def forward(self, x: torch.Tensor):
        outs = [m(x) for m in self.members]
        return {k: sum(o[k] for o in outs) / len(outs) for k in self.tasks}


def graft_heads(model: FaceModel, ck: Mapping[str, Any], other: str) -> Dict[str, Any]:
    """Adds to ``model`` the heads of run ``other``, trained on a frozen copy of ``model``'s trunk;
    returns ``other``'s checkpoint. Refused: another architecture, input or crop; any trunk weight
    or statistic not bit-identical; a head name both runs have."""
    ck2, m2 = load_checkpoint(os.path.join(other, "best.pt"))
    for key in ("arch", "arch_kwargs", "in_channels", "input_size", "normalisation", "crop"):
        if ck2[key] != ck[key]:
            raise ValueError(f"{other}: {key} differs from the trunk's run; grafted heads need the same network and input")
    mine, theirs = model.state_dict(), m2.state_dict()
    differ = [k for k in mine if not k.startswith("heads.") and (k not in theirs or not torch.equal(mine[k], theirs[k]))]
    if differ:
        raise ValueError(f"{other}: its trunk is not the trunk's run's ({len(differ)} tensors differ, e.g. {differ[0]}); "
                         "train the heads with init: <trunk run> and freeze_trunk: true")
    clash = [t for t in m2.heads if t in model.heads]
    if clash:
        raise ValueError(f"{other}: heads {', '.join(clash)} exist in both runs")
    for name, head in m2.heads.items():
        model.heads[name] = head
        model.head_sizes[name] = m2.head_sizes[name]
    return ck2


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def halve_weights(m: Any) -> int:
    """Replaces every float32 initializer of ``m`` (an onnx.ModelProto) by a float16 one plus a Cast
    back to float32 under the original name; returns how many were converted."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = m.graph
    kept, casts = [], []
    for init in g.initializer:
        if init.data_type != TensorProto.FLOAT:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}__cast"))
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)  # casts first: the node list stays topologically sorted
    del g.node[:]
    g.node.extend(nodes)
    return len(casts)


def export_onnx(model: FaceModel, path: str, tasks: Sequence[str], *, tta_flip: bool = False,
                embedding: bool = False, activations: Sequence[Mapping[str, Any]] = (),
                fp16_weights: bool = False) -> str:
    """Exports ``model`` (eval mode, NCHW) to ``path``; checks the graph; returns the path. With
    ``embedding`` the trunk's features (the input of the heads) are an extra output, EMBEDDING;
    ``activations`` (entries of `resolve_activations`) add each layer's output after it."""
    model = model.to(memory_format=torch.contiguous_format).eval()
    wrapper = ExportWrapper(model, tasks, tta_flip, embedding, [a["layer"] for a in activations]).eval()
    names = list(tasks) + ([EMBEDDING] if embedding else []) + [a["name"] for a in activations]
    dummy = torch.zeros(2, model.in_channels, model.input_size, model.input_size)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Reflection padding (LCN) exports a Slice with a negative step that cannot be constant-folded;
            # the graph is correct (tests compare it with onnxruntime-node), the warning is noise.
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
            torch.onnx.export(wrapper, dummy, tmp, opset_version=OPSET, input_names=["input"], output_names=names,
                              dynamic_axes={"input": {0: "batch"}, **{t: {0: "batch"} for t in names}},
                              do_constant_folding=True)
    finally:
        wrapper.remove_hooks()
    import onnx  # local: only export needs it

    m = onnx.load(tmp)
    if fp16_weights:
        halve_weights(m)
        onnx.save(m, tmp)
    onnx.checker.check_model(m)
    opsets = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    if any(v > OPSET for v in opsets):
        raise RuntimeError(f"exported opset {opsets} exceeds {OPSET}")
    os.replace(tmp, path)
    return path


def build_manifest(*, id: str, onnx_path: str, in_channels: int, input_size: int, crop: Mapping[str, Any],
                   normalisation: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], description: str,
                   licence: str, training: Mapping[str, str], metrics: Mapping[str, Any],
                   embedding_size: Optional[int] = None,
                   activations: Sequence[Mapping[str, Any]] = ()) -> Dict[str, Any]:
    outputs: List[Dict[str, Any]] = []
    for t in tasks:
        o: Dict[str, Any] = {"task": t["name"], "name": t["name"], "decode": t["decode"], "labels": list(t["labels"])}
        if t["decode"] == "expectation":
            if not t.get("binValues"):
                raise ValueError(f"task {t['name']!r} decodes by expectation and needs binValues (config outputs.{t['name']})")
            o["binValues"] = list(t["binValues"])
        if t.get("bands"):
            o["bands"] = [{"name": b["name"], "labels": list(b["labels"]), "starts": list(b["starts"])} for b in t["bands"]]
        outputs.append(o)
    man: Dict[str, Any] = {
        "id": id,
        "format": 1,
        "description": description,
        "file": os.path.basename(onnx_path),
        "sha256": sha256_file(onnx_path),
        "licence": licence,
        "input": {"name": "input", "width": input_size, "height": input_size, "channels": in_channels,
                  "layout": "NCHW", "crop": dict(crop), "normalisation": dict(normalisation)},
        "outputs": outputs,
        "training": {k: v for k, v in training.items() if v},
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and v == v},
    }
    if embedding_size:
        man["embedding"] = {"name": EMBEDDING, "size": int(embedding_size)}
    if activations:
        man["activations"] = [{k: a[k] for k in ("name", "layer", "channels", "height", "width")} for a in activations]
    return man


def check_manifest(man: Mapping[str, Any]) -> None:
    """The checks of src/core/models/manifest.ts `validateManifest`, so a bad manifest fails here."""
    inp = man["input"]
    assert man["format"] == 1 and man["id"], "id/format"
    assert inp["channels"] in (1, 3) and inp["layout"] in ("NCHW", "NHWC"), "channels/layout"
    crop = inp["crop"]
    if crop.get("mode") not in ("aligned", "box", "none"):
        raise ValueError(f"crop mode {crop.get('mode')!r} must be aligned, box or none")
    if crop["mode"] == "aligned" and not all(isinstance(crop.get(k), (int, float)) for k in ("eyeDistance", "eyeY")):
        raise ValueError("aligned crop needs numeric eyeDistance and eyeY")
    if crop["mode"] == "box" and not isinstance(crop.get("scale"), (int, float)):
        raise ValueError("box crop needs a numeric scale")
    norm = inp["normalisation"]
    if norm["kind"] == "gcn":
        n = inp["width"] * inp["height"] * inp["channels"]
        if len(norm["pixelMean"]) != n or len(norm["pixelStd"]) != n:
            raise ValueError(f"gcn pixelMean/pixelStd need {n} values")
    if norm["kind"] == "meanstd" and (len(norm["mean"]) != inp["channels"] or len(norm["std"]) != inp["channels"]):
        raise ValueError("meanstd mean/std need one value per channel")
    emb = man.get("embedding")
    if emb is not None and (not emb.get("name") or int(emb.get("size", 0)) <= 0
                            or emb["name"] in {o["name"] for o in man["outputs"]}):
        raise ValueError("embedding needs a name distinct from the outputs' and a positive size")
    taken = {o["name"] for o in man["outputs"]} | ({emb["name"]} if emb else set())
    layers: set = set()
    for a in man.get("activations") or []:
        if (not a.get("name") or a["name"] in taken or not isinstance(a.get("layer"), str) or not a["layer"]
                or a["layer"] in layers
                or not all(isinstance(a.get(k), int) and a[k] > 0 for k in ("channels", "height", "width"))):
            raise ValueError(f"activation {a.get('name')!r}: needs a unique name, a layer named once and positive "
                             "channels/height/width")
        taken.add(a["name"])
        layers.add(a["layer"])
    for o in man["outputs"]:
        if o["decode"] == "expectation" and len(o.get("binValues") or []) != len(o["labels"]):
            raise ValueError(f"output {o['name']} needs one binValue per label")
        for b in o.get("bands") or []:
            if o["decode"] not in ("expectation", "identity"):
                raise ValueError(f"output {o['name']}: bands need a value output (expectation or identity)")
            if len(b["labels"]) != len(b["starts"]) or not b["labels"] or any(y <= x for x, y in zip(b["starts"], b["starts"][1:])):
                raise ValueError(f"output {o['name']} band {b.get('name')!r}: one increasing start per label")


def data_terms(source: Optional[Mapping[str, Any]]) -> tuple[str, str]:
    """(data, terms) for a pack's ``source`` (matched on its layout name), else empty strings."""
    layout = str((source or {}).get("layout", "")).lower()
    for pattern, data, terms in DATA_TERMS:
        if re.search(pattern, layout):
            return data, terms
    return "", ""


def flat_metrics(results: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], tta_flip: bool) -> Dict[str, Any]:
    """results.json → flat manifest metrics: ``<task>.<split>_<metric>`` (+ params, gmac)."""
    out: Dict[str, Any] = {}
    for split in ("val", "test"):
        key = f"{split}_tta_flip" if tta_flip and f"{split}_tta_flip" in results else split
        block = results.get(key)
        if not block:
            continue
        for t in tasks:
            m = block["tasks"].get(t["name"], {})
            names = ["acc", "balanced_acc", "macro_f1", "top2_acc", "mae", "rmse", "cs5"]
            names += [f"{b['name']}_{k}" for b in t.get("bands") or [] for k in ("acc", "acc1")]
            for name in names:
                if name in m:
                    out[f"{t['name']}.{split}_{name}"] = round(float(m[name]), 5)
            if "count" in m:
                out[f"{t['name']}.{split}_count"] = int(m["count"])
    for k in ("params", "best_epoch", "epochs_run"):
        if results.get(k) is not None:
            out[k] = results[k]
    if results.get("macs") is not None:
        out["gmac"] = round(results["macs"] / 1e9, 4)
    if tta_flip:
        out["tta"] = "hflip"
    return out


def select_tasks(tasks: Sequence[Mapping[str, Any]], only: Sequence[str], run_dir: str) -> List[Mapping[str, Any]]:
    """The checkpoint's task entries named in ``only`` (all when empty), in the checkpoint's order."""
    names = [t["name"] for t in tasks]
    missing = [n for n in only if n not in names]
    if missing:
        raise ValueError(f"{run_dir}: no head {', '.join(missing)}; its heads: {', '.join(names)}")
    return [t for t in tasks if not only or t["name"] in only]


def load_checkpoint(path: str) -> tuple[Dict[str, Any], FaceModel]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no checkpoint; train first (python -m training.train)")
    ck = torch.load(path, map_location="cpu")
    model = create(ck["arch"], ck["in_channels"], input_size=ck["input_size"], heads=ck["heads"], **ck["arch_kwargs"])
    model.load_state_dict(ck["model"])
    return ck, model


def export_run(run_dir: str, out_dir: str, *, id: Optional[str] = None, checkpoint: Optional[str] = None,
               tta_flip: bool = False, ensemble_with: Sequence[str] = (),
               activations: Sequence[str] = (), fp16_weights: bool = False,
               only: Sequence[str] = (), description: Optional[str] = None,
               model_card: Optional[Mapping[str, Any]] = None, graft: Sequence[str] = ()) -> Dict[str, Any]:
    """Exports a run's best checkpoint (averaged with the best checkpoints of ``ensemble_with``);
    returns the manifest (also written next to the .onnx). ``activations``: layers whose outputs
    are exported too (see `resolve_activations`); ``only``: the heads to export (default all);
    ``model_card``: replaces the checkpoint config's (a card edited after training started);
    ``graft``: runs whose heads join this network (see `graft_heads`)."""
    ck, model = load_checkpoint(checkpoint or os.path.join(run_dir, "best.pt"))
    cfg = ck["config"]
    card = model_card if model_card is not None else (cfg.get("model_card") or {})
    commands = [ck.get("command") or ""]
    ck_tasks = select_tasks(ck["tasks"], only, run_dir)
    if graft and ensemble_with:
        raise ValueError("--graft adds heads to one network; an ensemble's members each have their own trunk")
    # (checkpoint, its task entries, its run directory) for every run whose heads are exported
    sources = [(ck, ck_tasks, run_dir)]
    for other in graft:
        ck2 = graft_heads(model, ck, other)
        sources.append((ck2, ck2["tasks"], other))
        commands.append(ck2.get("command") or "")
    if ensemble_with:
        members = [model]
        for other in ensemble_with:
            ck2, m2 = load_checkpoint(os.path.join(other, "best.pt"))
            for key in ("in_channels", "input_size", "normalisation"):
                if ck2[key] != ck[key]:
                    raise ValueError(f"{other}: {key} differs from {run_dir}'s; an ensemble needs identical inputs")
            if [t for t in ck2["tasks"] if t in ck_tasks] != ck_tasks:
                raise ValueError(f"{other}: its heads differ from {run_dir}'s; an ensemble averages identical heads "
                                 f"(--tasks picks the ones they share)")
            members.append(m2)
            commands.append(ck2.get("command") or "")
        model = Ensemble(members, [t["name"] for t in ck_tasks])
    if ensemble_with and activations:
        raise ValueError("--activations needs a single network: an ensemble's members each have their own layers")
    acts = resolve_activations(model, activations) if activations else []
    # A resumed run may change outputs (e.g. add binValues) after training; the config wins.
    tasks, metrics = [], flat_metrics({}, (), tta_flip)
    for ck_i, ck_i_tasks, dir_i in sources:
        own = [{**t, **expand_output((ck_i["config"].get("outputs") or {}).get(t["name"], {}))} for t in ck_i_tasks]
        tasks += own
        results_path = os.path.join(dir_i, "results.json")
        # An ensemble's figures are not its first member's: leave them to `facesense eval`.
        if os.path.isfile(results_path) and not ensemble_with:
            metrics = {**flat_metrics(json.load(open(results_path, encoding="utf-8")), own, tta_flip), **metrics}
    mid = id or card.get("id") or cfg["name"]
    # Single networks also output their embedding (penultimate layer: sequence models, projections,
    # interpretation); an ensemble's members each have their own feature space, so it has none.
    embed = 0 if ensemble_with else int(model.embed_dim)
    onnx_path = export_onnx(model, os.path.join(out_dir, f"{mid}.onnx"), [t["name"] for t in tasks], tta_flip=tta_flip,
                            embedding=embed > 0, activations=acts, fp16_weights=fp16_weights)
    data, terms = data_terms((ck.get("pack") or {}).get("source"))
    arch = f"{ck['arch']} {json.dumps(ck['arch_kwargs'], sort_keys=True)}" if ck["arch_kwargs"] else ck["arch"]
    if ensemble_with:
        arch = f"ensemble averaging the logits of {len(ensemble_with) + 1} × {arch} (runs {', '.join([run_dir, *ensemble_with])})"
    if graft:
        arch += f"; heads {', '.join(t['name'] for _, ts, _ in sources[1:] for t in ts)} trained on the frozen trunk (runs {', '.join(graft)})"
    if tta_flip:
        arch += " + horizontal-flip averaging in the graph"
    if fp16_weights:
        arch += "; weights stored as float16, computed in float32"
    description = description or card.get("description") or (
        f"{', '.join(t['name'] for t in tasks)} from {ck['input_size']}×{ck['input_size']} "
        f"{'gray' if ck['in_channels'] == 1 else 'RGB'} faces ({ck['arch']}), trained by facesense")
    crop = ck["crop"]
    pack_path = (ck.get("pack") or {}).get("path") or cfg.get("pack")
    if crop.get("mode") == "none" and pack_path and os.path.isfile(os.path.join(pack_path, "meta.json")):
        crop = Pack(pack_path).crop  # framing measured after training started (see Pack.crop)
    man = build_manifest(
        id=mid, onnx_path=onnx_path, in_channels=ck["in_channels"], input_size=ck["input_size"], crop=crop,
        normalisation=ck["normalisation"], tasks=tasks, description=description,
        licence=card.get("licence") or "weights for research use only; they inherit the terms of their training data",
        training={"data": card.get("data") or data or str((ck.get("pack") or {}).get("path", "")),
                  "terms": card.get("terms") or terms, "architecture": arch,
                  "command": " && ".join(c for c in commands if c)},
        metrics=metrics, embedding_size=embed or None, activations=acts)
    check_manifest(man)
    with open(os.path.join(out_dir, f"{mid}.json"), "w", encoding="utf-8") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    return man


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, action="append",
                    help="run directory (runs/<name>) holding best.pt; repeat to export an ensemble averaging their logits")
    ap.add_argument("--out", required=True, help="output directory for <id>.onnx and <id>.json (e.g. models/)")
    ap.add_argument("--id", help="model id (default: config model_card.id, else the run name)")
    ap.add_argument("--checkpoint", help="checkpoint to export (default: <run>/best.pt)")
    ap.add_argument("--tta-flip", action="store_true", help="bake horizontal-flip averaging into the graph")
    ap.add_argument("--activations", metavar="LAYER[,LAYER...]", default="",
                    help="also output these layers' [N, C, H, W] maps as act_<layer> (module names such as stages.2; "
                         "'stages' = every stage), declared in the manifest for facesense explain --activations")
    ap.add_argument("--graft", action="append", default=[], metavar="RUN",
                    help="add the heads of RUN, trained with init: <the --run> and freeze_trunk: true (repeatable)")
    ap.add_argument("--description", help="the manifest's description (default: the first run's model_card.description)")
    ap.add_argument("--tasks", metavar="TASK[,TASK...]", default="",
                    help="export only these heads (e.g. the ones an ensemble's members share)")
    ap.add_argument("--fp16-weights", action="store_true",
                    help="store the weights as float16 (half the file; outputs move by about 1e-3)")
    ap.add_argument("--model-card", metavar="CONFIG",
                    help="take model_card (id, description, licence, terms, data) from this run config instead of the checkpoint's")
    args = ap.parse_args(argv)
    try:
        card = load_config(args.model_card)["model_card"] if args.model_card else None
        man = export_run(args.run[0], args.out, id=args.id, checkpoint=args.checkpoint, tta_flip=args.tta_flip,
                         ensemble_with=args.run[1:], activations=[a for a in args.activations.split(",") if a.strip()],
                         fp16_weights=args.fp16_weights, only=[t for t in args.tasks.split(",") if t.strip()], description=args.description,
                         model_card=card, graft=args.graft)
    except (FileNotFoundError, ValueError) as e:
        print(json.dumps({"event": "error", "message": str(e)}), flush=True)
        print(f"error: {e}", file=sys.stderr)
        return 2
    onnx_path = os.path.join(args.out, man["file"])
    print(json.dumps({"event": "exported", "onnx": onnx_path, "manifest": os.path.join(args.out, f"{man['id']}.json"),
                      "sha256": man["sha256"], "bytes": os.path.getsize(onnx_path),
                      **({"activations": man["activations"]} if man.get("activations") else {})}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
