"""kikuchipy-gen: deep generative simulation of EBSD patterns for kikuchipy/orix.

The product is :class:`MLMasterPattern` (a trained generator with kikuchipy's
``EBSDMasterPattern.get_patterns`` interface). The training-data pipeline lives in
:mod:`kikuchipy_gen.sampling` (orientations), :mod:`kikuchipy_gen.sources`
(physics master patterns), :mod:`kikuchipy_gen.preprocessing` (CLAHE) and
:mod:`kikuchipy_gen.dataset` (chunked storage and the torch loader); the models
and their training in :mod:`kikuchipy_gen.models` and
:mod:`kikuchipy_gen.training`; orientation refinement in
:mod:`kikuchipy_gen.refinement`.
"""

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# Public names, imported on first use so that `import kikuchipy_gen` stays cheap
# (no torch, kikuchipy or hyperspy until something needs them).
_LAZY_NAMES = {
    "MLMasterPattern": "kikuchipy_gen.master_pattern",
    "available_pretrained": "kikuchipy_gen.master_pattern",
}
_SUBMODULES = [
    "attributes",
    "dataset",
    "demo",
    "detector",
    "evaluation",
    "lambert",
    "loader",
    "losses",
    "master_pattern",
    "models",
    "phases",
    "plotting",
    "preprocessing",
    "projection",
    "refinement",
    "sampling",
    "sector",
    "sources",
    "training",
    "training_plots",
]
__all__ = ["MLMasterPattern", "__version__", "available_pretrained", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
