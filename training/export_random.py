"""A tiny randomly initialised emotion classifier as ONNX + manifest, for tests that need a real
model file without trained weights (the committed fixture test/fixtures/tiny-emotion.onnx).

    /usr/bin/python3 -m training.export_random --out test/fixtures/tiny-emotion.onnx

48×48 gray input, 7 FER2013 emotion labels decoded by softmax, crop ``aligned`` (eyeDistance
0.42, eyeY 0.38), normalisation scale 1/255. Deterministic for a given ``--seed``; BatchNorm
statistics are set from random images so the outputs depend on the input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

import torch

from .export import build_manifest, check_manifest, export_onnx
from .models import create

EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
CROP = {"mode": "aligned", "eyeDistance": 0.42, "eyeY": 0.38}


def export_random(path: str, *, seed: int = 0, arch: str = "tiny", width: int = 8) -> dict:
    torch.manual_seed(seed)
    kwargs = {"width": width} if arch == "tiny" else {}
    model = create(arch, 1, input_size=48, heads={"emotion": len(EMOTIONS)}, **kwargs)
    # Cumulative BN statistics from one batch of random images in the input's 0..1 range.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.rand(64, 1, 48, 48, generator=torch.Generator().manual_seed(seed)))
    model.eval()
    export_onnx(model, path, ["emotion"])
    mid = os.path.splitext(os.path.basename(path))[0]
    man = build_manifest(
        id=mid, onnx_path=path, in_channels=1, input_size=48, crop=CROP,
        normalisation={"kind": "scale", "scale": 1 / 255},
        tasks=[{"name": "emotion", "decode": "softmax", "labels": EMOTIONS}],
        description="randomly initialised tiny emotion classifier: a test fixture, its predictions mean nothing",
        licence="MIT (random weights, no training data)",
        training={"data": "none (random initialisation)", "terms": "none",
                  "command": f"/usr/bin/python3 -m training.export_random --out {path} --seed {seed}",
                  "architecture": f"{arch} {json.dumps(kwargs)}"},
        metrics={"params": sum(p.numel() for p in model.parameters())})
    check_manifest(man)
    with open(os.path.splitext(path)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    return man


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.export_random", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="path of the .onnx to write; the manifest goes beside it as .json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=8, help="channels of the first conv (the second has twice as many)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    man = export_random(args.out, seed=args.seed, width=args.width)
    print(json.dumps({"event": "exported", "onnx": args.out, "manifest": os.path.splitext(args.out)[0] + ".json",
                      "sha256": man["sha256"], "bytes": os.path.getsize(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
