"""Training throughput per architecture: images/s of forward + backward + SGD step.

    /usr/bin/python3 -m training.bench [--arch NAME ...] [--batch 64] [--iters 5] [--threads 2]

Prints a markdown table (params, forward MACs per image, ms per batch, images/s, in fp32 and, where
the CPU has native bf16, with bf16 autocast as train.py's ``precision: auto`` uses) and, with
``--json``, one JSON object per measurement. Each architecture runs at its own input size.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Optional

import torch

from .flops import count_macs, count_params
from .models import create, get_spec, list_models
from .train import cpu_has_bf16


def bench_one(arch: str, *, batch: int = 64, iters: int = 5, warmup: int = 2, input_size: Optional[int] = None,
              channels_last: bool = True, kwargs: Optional[Dict[str, Any]] = None, precision: str = "fp32") -> Dict[str, Any]:
    spec = get_spec(arch)
    size = input_size or spec.input_size
    torch.manual_seed(0)
    model = create(arch, spec.in_channels, 7, size, **(kwargs or {}))
    params, macs = count_params(model), count_macs(model, spec.in_channels, size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, spec.in_channels, size, size).contiguous(memory_format=fmt)
    y = torch.randint(0, 7, (batch,))
    times: List[float] = []
    for i in range(warmup + iters):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)["logits"]
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]  # median: the machine is shared, single outliers are noise
    return {"arch": arch, "input": size, "params": params, "macs": macs, "batch": batch,
            "ms_per_batch": med * 1e3, "images_per_s": batch / med, "threads": torch.get_num_threads(),
            "precision": precision}


def format_table(rows: List[Dict[str, Any]]) -> str:
    """One line per architecture, one ms/batch + img/s column pair per precision measured."""
    precisions = list(dict.fromkeys(r["precision"] for r in rows))
    head = "| architecture | input | params (M) | fwd GMAC/img | " + " | ".join(
        f"{p} ms/batch | {p} train img/s" for p in precisions) + " |"
    lines = [head, "|---|---|---|---|" + "---|---|" * len(precisions)]
    for arch in dict.fromkeys(r["arch"] for r in rows):
        rs = {r["precision"]: r for r in rows if r["arch"] == arch}
        r0 = next(iter(rs.values()))
        cells = [f"{rs[p]['ms_per_batch']:.0f} | {rs[p]['images_per_s']:.0f}" if p in rs else " | " for p in precisions]
        lines.append(f"| {arch} | {r0['input']} | {r0['params'] / 1e6:.2f} | {r0['macs'] / 1e9:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="*", help="architectures (default: all registered)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input-size", type=int, default=None, help="override every architecture's input size")
    ap.add_argument("--kwargs", type=json.loads, default=None, help='builder kwargs as JSON, e.g. \'{"depth": 16}\'')
    ap.add_argument("--no-channels-last", action="store_true", help="benchmark NCHW-contiguous memory format")
    ap.add_argument("--precision", nargs="+", default=None, choices=["fp32", "bf16"],
                    help="precisions to measure (default: fp32, plus bf16 where the CPU has native bf16)")
    ap.add_argument("--json", action="store_true", help="also print one JSON line per measurement")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    precisions = args.precision or (["fp32", "bf16"] if cpu_has_bf16() else ["fp32"])
    rows = []
    for arch in args.arch or list_models():
        for precision in precisions:
            r = bench_one(arch, batch=args.batch, iters=args.iters, warmup=args.warmup, input_size=args.input_size,
                          channels_last=not args.no_channels_last, kwargs=args.kwargs, precision=precision)
            rows.append(r)
            print(f"{arch} {precision}: {r['images_per_s']:.0f} img/s", file=sys.stderr, flush=True)
            if args.json:
                print(json.dumps(r), flush=True)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
