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

import inspect
from pathlib import Path
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


def source_from_dict(
    d: dict[str, Any], *, path: str | Path | None = None, cache_dir: str | Path | None = "default"
) -> MasterPatternSource:
    """Rebuild a source from its provenance (:meth:`MasterPatternSource.to_dict`).

    A provenance comes from a file (a model's ``model.json``, a dataset's
    metadata) and is untrusted: it never chooses where anything is written
    (the cache folder is the caller's ``cache_dir``), it holds only the
    parameters the source takes, and a file it records (an EMsoft master
    pattern) is read only at a ``path`` the caller gives, whose SHA-256 must
    match the recorded one.

    Parameters
    ----------
    d
        Provenance dictionary, e.g. read from a dataset's metadata.
    path
        The EMsoft master-pattern file, for an EMsoft source.
    cache_dir
        Cache folder of a dynamical source: ``"default"``
        (:func:`default_cache_dir`), a folder, or None for no cache.

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
    if not isinstance(d, dict):
        raise ValueError(f"A source provenance must be a JSON object, got {type(d).__name__}")
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"Unknown master pattern source {kind!r}; known: {sorted(_KINDS)}")
    try:
        phase = phase_from_dict(d.pop("phase"))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"The {kind} source's recorded phase is malformed: {err}") from None
    if kind == KikuchipyNickelSource.kind:
        return KikuchipyNickelSource()
    if kind == EMsoftFileSource.kind:
        recorded, sha = d.pop("path", None), d.pop("sha256", None)
        if path is None:
            raise ValueError(
                f"This physics is the EMsoft file {recorded!r}; a recorded path is not opened on its own: "
                "pass the file's path (path=...) to read it"
            )
        src = EMsoftFileSource(path, phase=phase)
        if sha != src._sha256:
            raise ValueError(f"{str(path)!r} is not the recorded EMsoft file (its SHA-256 differs)")
        return src
    cls = _KINDS[kind]
    allowed = set(inspect.signature(cls).parameters) - {"phase", "cache_dir"}
    unknown = set(d) - allowed
    if unknown:
        raise ValueError(f"The {kind} source's provenance holds unknown parameter(s) {sorted(unknown)}")
    if "cache_dir" in inspect.signature(cls).parameters:
        d["cache_dir"] = cache_dir
    try:
        return cls(phase, **d)
    except TypeError as err:
        raise ValueError(f"The {kind} source's provenance is malformed: {err}") from None
