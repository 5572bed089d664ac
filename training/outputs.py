"""How a head's outputs are read: decode rule, bins for expectation decoding, and named bands.

A regression target (e.g. age in years) can be learnt as a distribution over fine bins and read as
its expected value (DLDL, Gao et al. 2017/2018; Rothe et al. 2018's DEX expectation): the config's
``outputs.<task>`` gives ``"decode": "expectation"`` with ``"binRange": [start, stop(, step)]``
(inclusive) or explicit ``"binValues"``; the head then has one output per bin. ``"bands"`` names
coarser groupings reported next to the value (``paper000``: paper 000's 17 age classes of 5 years
around multiples of 5, with 0-2; ``fairface``: FairFace's 9 age groups). The manifest carries the
bands explicitly (labels + lower bounds), so the analyzer needs no table of its own.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

#: Named bands: labels with the lower bound (inclusive, in the task's unit) of each; the last is open.
BANDS: Dict[str, Dict[str, List[Any]]] = {
    # Paper 000 §4.2.2: "5 year age intervals around ages that are multiples of 5 (except for the range
    # [0-2])": 0-2, 3-7, 8-12, ..., 73-77 and 78 and over (the oldest class, centred on 80).
    "paper000": {"labels": ["0-2"] + [f"{c - 2}-{c + 2}" for c in range(5, 80, 5)] + ["78+"],
                 "starts": [0] + [c - 2 for c in range(5, 85, 5)]},
    # FairFace (Kärkkäinen & Joo 2021; paper 001): 9 age groups.
    "fairface": {"labels": ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"],
                 "starts": [0, 3, 10, 20, 30, 40, 50, 60, 70]},
}


def bin_values(spec: Mapping[str, Any]) -> Optional[List[float]]:
    """``binValues`` of an outputs entry, expanding ``binRange: [start, stop(, step)]`` (inclusive)."""
    if spec.get("binValues") is not None:
        return [float(v) for v in spec["binValues"]]
    rng = spec.get("binRange")
    if rng is None:
        return None
    if not (isinstance(rng, Sequence) and len(rng) in (2, 3)):
        raise ValueError(f"binRange must be [start, stop] or [start, stop, step], got {rng!r}")
    start, stop = float(rng[0]), float(rng[1])
    step = float(rng[2]) if len(rng) == 3 else 1.0
    if step <= 0 or stop < start:
        raise ValueError(f"binRange {rng!r}: needs start <= stop and step > 0")
    n = int(round((stop - start) / step)) + 1
    return [start + i * step for i in range(n)]


def bin_labels(values: Sequence[float]) -> List[str]:
    return [str(int(v)) if float(v).is_integer() else f"{v:g}" for v in values]


def resolve_bands(names: Optional[Sequence[Any]]) -> List[Dict[str, Any]]:
    """Band names (or explicit ``{name, labels, starts}``) → explicit band definitions."""
    out = []
    for b in names or []:
        if isinstance(b, str):
            if b not in BANDS:
                raise ValueError(f"unknown band {b!r}; known: {sorted(BANDS)} (or give {{name, labels, starts}})")
            out.append({"name": b, "labels": list(BANDS[b]["labels"]), "starts": [float(s) for s in BANDS[b]["starts"]]})
        else:
            labels, starts = list(b["labels"]), [float(s) for s in b["starts"]]
            if len(labels) != len(starts) or not labels or any(b2 <= a for a, b2 in zip(starts, starts[1:])):
                raise ValueError(f"band {b.get('name')!r} needs one increasing start per label")
            out.append({"name": str(b["name"]), "labels": labels, "starts": starts})
    return out


def band_index(value: float, starts: Sequence[float]) -> int:
    """Index of the band holding ``value`` rounded to a whole unit (ages are whole years)."""
    v = round(value)
    i = 0
    for k, s in enumerate(starts):
        if v >= s:
            i = k
    return i


def expand_output(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """An ``outputs.<task>`` config entry with ``binRange`` and band names made explicit."""
    out = {k: v for k, v in spec.items() if v is not None and k not in ("binRange", "bands")}
    values = bin_values(spec)
    if values is not None:
        out["binValues"] = values
    if spec.get("bands"):
        out["bands"] = resolve_bands(spec["bands"])
    return out
