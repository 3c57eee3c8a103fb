"""Dynamical (Bloch-wave) master patterns at any beam energy via de-ebsd.

de-ebsd ports EMsoft's Monte Carlo and dynamical simulation to PyTorch; it is
the closest thing to the paper's EMsoft data that installs from PyPI. Results
are cached on disk as ``.npz`` files (no pickles) keyed by every parameter.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from kikuchipy.signals import EBSDMasterPattern
from orix.crystal_map import Phase

from kikuchipy_gen.lambert import lambert_master_pattern
from kikuchipy_gen.phases import get_phase, phase_to_dict
from kikuchipy_gen.sources._base import MasterPatternSource

__all__ = ["DynamicalSource", "default_cache_dir"]

_logger = logging.getLogger(__name__)


# Beam directions per de-ebsd batch. Its default (262,144) puts a whole npx-200
# master pattern in one batch, whose GB-sized temporaries the kernel zeroes page
# by page: corundum at 20 kV took 50 s (43 s of it system time) against 28 s in
# batches of 1,024-8,192, with bit-identical output and 1.1 instead of 1.9 GB
# peak (benchmarks/dynamical_chunk_size.py).
_BEAM_CHUNK = 4096


def default_cache_dir() -> Path:
    """Directory for cached master patterns.

    ``$KIKUCHIPY_GEN_CACHE`` if set, else ``$XDG_CACHE_HOME/kikuchipy_gen``
    (``~/.cache/kikuchipy_gen``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from kikuchipy_gen.sources import default_cache_dir
    >>> default_cache_dir().name  # doctest: +SKIP
    'kikuchipy_gen'
    """
    env = os.environ.get("KIKUCHIPY_GEN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kikuchipy_gen"


def _import_de_ebsd():
    try:
        import de_ebsd
    except ImportError:
        raise ImportError("Dynamical master patterns need de-ebsd: pip install 'kikuchipy-gen[dynamical]'") from None
    return de_ebsd


class DynamicalSource(MasterPatternSource):
    """Dynamical master patterns computed by de-ebsd, cached on disk.

    Parameters
    ----------
    phase
        Preset name (``"ni"``, ``"pt"``, ...), CIF file or orix phase.
    npx
        Half-width of the Lambert grid; the pattern has ``2 * npx + 1``
        pixels a side (EMsoft's ``npx``).
    dmin
        Smallest interplanar spacing in nm still included as a beam.
    sample_tilt
        Sample tilt in degrees used by the Monte Carlo simulation.
    mc_electrons
        Electrons simulated by the Monte Carlo depth profile.
    cache_dir
        Where computed master patterns are kept; see :func:`default_cache_dir`.
        None disables caching.

    Examples
    --------
    >>> from kikuchipy_gen.sources import DynamicalSource
    >>> src = DynamicalSource("ni", npx=20, mc_electrons=5000, cache_dir=None)
    >>> src.master_pattern(20).data.shape  # doctest: +SKIP
    (2, 41, 41)
    """

    kind = "dynamical"

    def __init__(
        self,
        phase: str | Path | Phase = "ni",
        npx: int = 200,
        dmin: float = 0.1,
        sample_tilt: float = 70.0,
        mc_electrons: int = 200_000,
        cache_dir: str | Path | None = "default",
    ) -> None:
        _import_de_ebsd()
        self._phase = get_phase(phase)
        # Upper bounds: EMsoft's largest common grids and electron counts; a
        # provenance read from a file must not start hours of work or GBs.
        if not 5 <= int(npx) <= 1000:
            raise ValueError(f"npx must be between 5 and 1000, got {npx}")
        if not (0 < dmin < 10):
            raise ValueError(f"dmin must be positive (nm) and below 10, got {dmin}")
        if not 1000 <= int(mc_electrons) <= 10**9:
            raise ValueError(f"mc_electrons must be between 1000 and 1e9, got {mc_electrons}")
        self.npx = int(npx)
        self.dmin = float(dmin)
        self.sample_tilt = float(sample_tilt)
        self.mc_electrons = int(mc_electrons)
        if cache_dir == "default":
            cache_dir = default_cache_dir()
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    @property
    def phase(self) -> Phase:
        """The crystal phase of the master patterns, as given.

        Examples
        --------
        >>> from kikuchipy_gen.sources import DynamicalSource
        >>> DynamicalSource("ni", cache_dir=None).phase.space_group.short_name
        'Fm-3m'
        """
        return self._phase

    def cache_path(self, energy: float) -> Path | None:
        """File the master pattern at ``energy`` (kV) is cached in, or None.

        Parameters
        ----------
        energy
            Beam energy in kV.

        Returns
        -------
        pathlib.Path or None
            None when the source keeps no cache. The name holds a digest of
            every parameter and the de-ebsd version.

        Examples
        --------
        >>> from kikuchipy_gen.sources import DynamicalSource
        >>> src = DynamicalSource("ni", npx=20, cache_dir="mp_cache")
        >>> src.cache_path(20).name  # doctest: +ELLIPSIS
        'dynamical_ni_20kV_....npz'
        >>> DynamicalSource("ni", cache_dir=None).cache_path(20) is None
        True
        """
        if self.cache_dir is None:
            return None
        de = _import_de_ebsd()
        key = json.dumps(
            {**self.to_dict(), "energy": float(energy), "de_ebsd": de.__version__},
            sort_keys=True,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return self.cache_dir / f"dynamical_{self._phase.name}_{energy:g}kV_{digest}.npz"

    def _master_pattern(self, energy: float) -> EBSDMasterPattern:
        path = self.cache_path(energy)
        if path is not None and path.is_file():
            _logger.debug("Reading the cached %g kV master pattern from %s", energy, path)
            with np.load(path, allow_pickle=False) as f:
                data = f["data"]
        else:
            _logger.info(
                "Simulating the %s master pattern at %g kV with de-ebsd (npx %d)", self._phase.name, energy, self.npx
            )
            data = self._simulate(energy)
            if path is not None:
                _atomic_save_npz(path, data=data, provenance=json.dumps(self.to_dict()))
        title = f"dynamical {self._phase.name} {energy:g} kV"
        return lambert_master_pattern(data, self._phase, energy=energy, title=title)

    def _simulate(self, energy: float) -> np.ndarray:
        de = _import_de_ebsd()
        crystal = _to_de_ebsd_crystal(de, self._phase)
        microscope = de.Microscope(energy=energy * 1e3, sample_tilt=self.sample_tilt)
        simulator = de.MasterPatternSimulator(crystal, microscope, npx=self.npx, dmin=self.dmin)
        master = simulator.compute(device="cpu", mc_electrons=self.mc_electrons, chunk_size=_BEAM_CHUNK)
        # de-ebsd stores (energy, hemisphere, n, n) with hemisphere 0 north,
        # the same square-Lambert layout kikuchipy reads (upper, lower).
        return master.data[0].detach().cpu().numpy().astype(np.float32)

    def _parameters(self) -> dict[str, Any]:
        return {
            "npx": self.npx,
            "dmin": self.dmin,
            "sample_tilt": self.sample_tilt,
            "mc_electrons": self.mc_electrons,
        }


def _to_de_ebsd_crystal(de, phase: Phase):
    d = phase_to_dict(phase)
    a, b, c, alpha, beta, gamma = d["lattice"]
    # orix/diffpy use Angstrom and Uiso (A^2); de-ebsd uses nm and B = 8 pi^2 Uiso in nm^2.
    atoms = [
        de.AtomSite(
            element=atom["element"],
            position=tuple(atom["xyz"]),
            occupancy=atom["occupancy"],
            debye_waller=8 * np.pi**2 * atom["Uiso"] / 100,
        )
        for atom in d["atoms"]
    ]
    return _crystal_class(de).from_parameters(
        a=a / 10,
        b=b / 10,
        c=c / 10,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        space_group=d["space_group"],
        atoms=atoms,
    )


@functools.cache
def _crystal_class(de):
    """de-ebsd's ``Crystal``, taught diffpy's symbol for rhombohedral lattices.

    de-ebsd 0.2.1 takes the centring from the first letter of diffpy's short
    space-group symbol. diffpy names the seven rhombohedral groups on hexagonal
    axes "H" ("H-3c" for corundum's R-3c): the obverse setting of the
    International Tables, whose centring rule de-ebsd has under "R"
    (-h + k + l = 3n) but never reaches. Its symmetry operators (with the
    centring translations) come from diffpy and are right already.
    """

    class _Crystal(de.Crystal):
        @property
        def centering(self) -> str:
            symbol = super().centering
            return "R" if symbol == "H" else symbol

    return _Crystal


def _atomic_save_npz(path: Path, **arrays: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
