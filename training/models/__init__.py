"""Model registry and architectures. Importing this package registers every architecture."""
from .base import FaceModel
from .registry import ModelSpec, create, get_spec, list_models, register
from . import paper000, vgg, xception, resnet, tfjs_trunk  # noqa: F401  (registration side effects)

__all__ = ["FaceModel", "ModelSpec", "create", "get_spec", "list_models", "register"]
