"""Physics sources of EBSD master patterns, each recording its provenance.

=====================  =========================================  ============
source                 what                                       energies
=====================  =========================================  ============
KikuchipyNickelSource  EMsoft Ni master pattern shipped by         20 kV
                       kikuchipy (the zero-extra default)
EMsoftFileSource       any EMsoft ``EMEBSDmaster`` file            its bins
KinematicalSource      diffsims + kikuchipy kinematical            any
DynamicalSource        de-ebsd Bloch-wave simulation (cached)      any
=====================  =========================================  ============
"""

from __future__ import annotations

from typing import Any

from kikuchipy_gen.phases import phase_from_dict
from kikuchipy_gen.sources._base import MasterPatternSource, validate_master_pattern
from kikuchipy_gen.sources.dynamical import DynamicalSource, default_cache_dir
from kikuchipy_gen.sources.emsoft import EMsoftFileSource, KikuchipyNickelSource
from kikuchipy_gen.sources.kinematical import KinematicalSource

__all__ = [
    "DynamicalSource",
    "EMsoftFileSource",
    "KikuchipyNickelSource",
    "KinematicalSource",
    "MasterPatternSource",
    "default_cache_dir",
    "source_from_dict",
    "validate_master_pattern",
]

_KINDS = {cls.kind: cls for cls in (KikuchipyNickelSource, EMsoftFileSource, KinematicalSource, DynamicalSource)}


def source_from_dict(d: dict[str, Any]) -> MasterPatternSource:
    """Rebuild a source from its provenance (:meth:`MasterPatternSource.to_dict`).

    Parameters
    ----------
    d
        Provenance dictionary, e.g. read from a dataset's metadata.

    Returns
    -------
    MasterPatternSource

    Examples
    --------
    >>> from kikuchipy_gen.sources import KinematicalSource, source_from_dict
    >>> src = source_from_dict(KinematicalSource("pt", half_size=30).to_dict())
    >>> src.phase.name, src.half_size
    ('pt', 30)
    """
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"Unknown master pattern source {kind!r}; known: {sorted(_KINDS)}")
    phase = phase_from_dict(d.pop("phase"))
    if kind == KikuchipyNickelSource.kind:
        return KikuchipyNickelSource()
    if kind == EMsoftFileSource.kind:
        sha = d.pop("sha256", None)
        src = EMsoftFileSource(d.pop("path"), phase=phase)
        if sha is not None and sha != src._sha256:
            raise ValueError(f"{src.path} changed since the provenance was recorded (sha256 differs)")
        return src
    return _KINDS[kind](phase, **d)
