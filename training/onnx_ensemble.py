"""An ensemble of shipped models, built from their ONNX files and manifests (issue 17).

``training.export --run A --run B`` ensembles runs of one recipe (same input size, same heads).
Shipped models of different recipes — e.g. ``emotion-ferplus`` (48 px, from scratch) and
``emotion-faceres`` (96 px, a fine-tuned face trunk) — have no common run, and their runs may no
longer exist. This joins their graphs: one input at the largest member size, resized in the graph
to each smaller member's size (bilinear, half-pixel: an exact 2×2 box average at half size), and
each shared output averaged over the members (logits, as training.export averages them; the
manifest's softmax is applied after). The members must crop the face the same way (framing
within ``--max-crop-gap``), take the same channels and normalisation, and label the averaged
outputs identically.

    python -m training.onnx_ensemble --member models/emotion-ferplus.json --member models/emotion-faceres.json \\
        --out models/ --id emotion-ferplus-faceres --description "..."
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .export import OPSET, build_manifest, check_manifest


def _load(manifest_path: str) -> tuple[Dict[str, Any], Any]:
    import onnx

    man = json.load(open(manifest_path, encoding="utf-8"))
    return man, onnx.load(os.path.join(os.path.dirname(os.path.abspath(manifest_path)), man["file"]))


def check_members(mans: Sequence[Mapping[str, Any]], max_crop_gap: float = 0.005) -> List[str]:
    """The output names every member has with the same labels and decode — softmax, or expectation
    over the same bins (an age distribution: its bin logits average as training.export averages
    them); raises on inputs that differ."""
    first = mans[0]["input"]
    for m in mans[1:]:
        inp = m["input"]
        for key in ("channels", "layout", "normalisation"):
            if inp[key] != first[key]:
                raise ValueError(f"{m['id']}: input {key} {inp[key]!r} differs from {mans[0]['id']}'s {first[key]!r}")
        a, b = inp["crop"], first["crop"]
        if a.get("mode") != b.get("mode") or any(abs(float(a.get(k, 0)) - float(b.get(k, 0))) > max_crop_gap
                                                 for k in ("eyeDistance", "eyeY", "scale")):
            raise ValueError(f"{m['id']}: crop {a} differs from {mans[0]['id']}'s {b}")
    shared = []
    for o in mans[0]["outputs"]:
        others = [next((p for p in m["outputs"] if p["name"] == o["name"]), None) for m in mans[1:]]
        if all(p is not None and p["labels"] == o["labels"] and p["decode"] == o["decode"] for p in others):
            if o["decode"] not in ("softmax", "expectation"):
                raise ValueError(f"output {o['name']}: only softmax and expectation outputs are averaged as logits, got {o['decode']}")
            if o["decode"] == "expectation" and any(p.get("binValues") != o.get("binValues") for p in others):
                raise ValueError(f"output {o['name']}: members decode it by expectation over different bins")
            shared.append(o["name"])
    if not shared:
        raise ValueError("the members share no output (same name, labels and decode)")
    return shared


def join(mans: Sequence[Mapping[str, Any]], graphs: Sequence[Any], outputs: Sequence[str]) -> Any:
    """One ONNX model: input at the largest member size, resized per member, outputs averaged."""
    import numpy as np
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    size = max(int(m["input"]["width"]) for m in mans)
    channels = int(mans[0]["input"]["channels"])
    nodes: List[Any] = []
    inits: List[Any] = []
    for i, (man, g) in enumerate(zip(mans, graphs)):
        if [o.version for o in g.opset_import if o.domain in ("", "ai.onnx")] != [OPSET]:
            raise ValueError(f"{man['id']}: opset {[o.version for o in g.opset_import]} is not {OPSET}")
        p = compose.add_prefix(g, f"m{i}/")
        src = "input"
        w = int(man["input"]["width"])
        if w != size:
            scales = numpy_helper.from_array(np.array([1, 1, w / size, w / size], dtype=np.float32), f"m{i}/resize_scales")
            roi = numpy_helper.from_array(np.zeros(0, dtype=np.float32), f"m{i}/resize_roi")
            inits += [scales, roi]
            src = f"m{i}/resized"
            nodes.append(helper.make_node("Resize", ["input", roi.name, scales.name], [src], mode="linear",
                                          coordinate_transformation_mode="half_pixel", name=f"m{i}/resize"))
        for n in p.graph.node:
            n.input[:] = [src if x == f"m{i}/input" else x for x in n.input]
        nodes.extend(p.graph.node)
        inits.extend(p.graph.initializer)
    outs = []
    k = len(graphs)
    for name in outputs:
        total = f"{name}/sum"
        nodes.append(helper.make_node("Sum", [f"m{i}/{name}" for i in range(k)], [total], name=total))
        inv = numpy_helper.from_array(np.array(1.0 / k, dtype=np.float32), f"{name}/inv_count")
        inits.append(inv)
        nodes.append(helper.make_node("Mul", [total, inv.name], [name], name=f"{name}/mean"))
        n_labels = len(next(o for o in mans[0]["outputs"] if o["name"] == name)["labels"])
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", n_labels]))
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, size, size])
    graph = helper.make_graph(nodes, "ensemble", [inp], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facesense-onnx-ensemble")
    model.ir_version = min(int(g.ir_version) for g in graphs)
    onnx.checker.check_model(model)
    return model


def build(member_manifests: Sequence[str], out_dir: str, id: str, description: str = "", licence: str = "",
          max_crop_gap: float = 0.005) -> Dict[str, Any]:
    import onnx

    loaded = [_load(p) for p in member_manifests]
    mans, graphs = [m for m, _ in loaded], [g for _, g in loaded]
    outputs = check_members(mans, max_crop_gap)
    model = join(mans, graphs, outputs)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{id}.onnx")
    onnx.save(model, path)
    big = max(mans, key=lambda m: int(m["input"]["width"]))
    tasks = [{k: o[k] for k in ("name", "decode", "labels", "binValues", "bands") if k in o} for o in big["outputs"] if o["name"] in outputs]
    members = ", ".join(f"{m['id']} ({m['input']['width']} px, sha256 {m['sha256'][:12]})" for m in mans)
    man = build_manifest(
        id=id, onnx_path=path, in_channels=int(big["input"]["channels"]), input_size=int(big["input"]["width"]),
        crop=big["input"]["crop"], normalisation=big["input"]["normalisation"], tasks=tasks,
        description=description or f"ensemble averaging the logits of {members}",
        licence=licence or "; ".join(dict.fromkeys(m["licence"] for m in mans)),
        training={"architecture": f"ensemble averaging the logits of {members}; smaller members read the input resized in the graph",
                  "data": "; ".join(dict.fromkeys(m.get("training", {}).get("data", "") for m in mans if m.get("training", {}).get("data"))),
                  "terms": "; ".join(dict.fromkeys(m.get("training", {}).get("terms", "") for m in mans if m.get("training", {}).get("terms"))),
                  "command": "python -m training.onnx_ensemble " + " ".join(f"--member {p}" for p in member_manifests) + f" --id {id}"},
        metrics={})
    check_manifest(man)
    with open(os.path.join(out_dir, f"{id}.json"), "w", encoding="utf-8") as f:
        json.dump(man, f, indent=1)
    return man


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.onnx_ensemble", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--member", action="append", required=True, help="a member's manifest (models/ID.json); repeat")
    ap.add_argument("--out", required=True, help="folder for ID.onnx and ID.json")
    ap.add_argument("--id", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--licence", default="")
    a = ap.parse_args(argv)
    if len(a.member) < 2:
        ap.error("give at least two --member manifests")
    man = build(a.member, a.out, a.id, a.description, a.licence)
    print(json.dumps({"id": man["id"], "file": man["file"], "sha256": man["sha256"], "outputs": [o["name"] for o in man["outputs"]]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
