"""Model registry: one name → one builder, one contract for every architecture (after timm).

Every model is a :class:`training.models.base.FaceModel`: ``forward_features(x) -> (N, D)``,
``forward_head(feats) -> {task: logits}``, ``forward(x) = forward_head(forward_features(x))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Union

from .base import FaceModel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., FaceModel]
    #: Input size (square, pixels) the architecture was designed for.
    input_size: int
    in_channels: int
    description: str
    #: Default normalisation the model declares (see src/core/models/manifest.ts `Normalisation`).
    normalisation: Mapping[str, Any] = field(default_factory=lambda: {"kind": "scale", "scale": 1 / 255})
    #: Smallest input the architecture accepts (pooling/valid convolutions shrink the map).
    min_input_size: int = 32


_REGISTRY: Dict[str, ModelSpec] = {}


def register(name: str, *, input_size: int, in_channels: int = 1, description: str = "",
             normalisation: Optional[Mapping[str, Any]] = None, min_input_size: int = 32):
    """Decorator adding ``builder(in_channels, heads, input_size, **kwargs) -> FaceModel``."""

    def wrap(builder: Callable[..., FaceModel]) -> Callable[..., FaceModel]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        spec = ModelSpec(name, builder, input_size, in_channels, description or (builder.__doc__ or "").strip().split("\n")[0],
                         dict(normalisation) if normalisation else {"kind": "scale", "scale": 1 / 255}, min_input_size)
        _REGISTRY[name] = spec
        return builder

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; registered: {', '.join(list_models())}") from None


def create(name: str, in_channels: Optional[int] = None, num_classes: Union[int, Mapping[str, int], None] = None,
           input_size: Optional[int] = None, *, heads: Optional[Mapping[str, int]] = None, **kwargs: Any) -> FaceModel:
    """Builds a registered architecture.

    ``num_classes`` is an int (one head named ``logits``) or a mapping task → number of outputs;
    ``heads`` is the keyword form of the mapping. ``in_channels``/``input_size`` default to the
    architecture's own. Extra keyword arguments go to the builder (depth, width, dropout...).
    """
    spec = get_spec(name)
    if heads is None:
        if num_classes is None:
            raise ValueError("create() needs num_classes or heads")
        heads = {"logits": num_classes} if isinstance(num_classes, int) else dict(num_classes)
    elif num_classes is not None:
        raise ValueError("give num_classes or heads, not both")
    if not heads or any(int(n) < 1 for n in heads.values()):
        raise ValueError(f"every head needs at least one output, got {dict(heads)}")
    size = int(input_size or spec.input_size)
    if size < spec.min_input_size:
        raise ValueError(f"{name} needs inputs of at least {spec.min_input_size} px, got {size}")
    model = spec.builder(in_channels=int(in_channels or spec.in_channels), heads={k: int(v) for k, v in heads.items()},
                         input_size=size, **kwargs)
    model.arch = name
    model.arch_kwargs = dict(kwargs)
    return model
