"""facesense training package: model definitions, data feeding, losses, training loop and ONNX export.

Run modules from the repository root with Debian's interpreter, e.g.
``/usr/bin/python3 -m training.train --config training/configs/fer2013.json``.
"""

__version__ = "0.1.0"
