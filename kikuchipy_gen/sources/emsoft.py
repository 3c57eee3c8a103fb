"""Master patterns computed by EMsoft: kikuchipy's nickel file or any EMsoft file."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any

import kikuchipy as kp
import numpy as np
from kikuchipy.signals import EBSDMasterPattern
from orix.crystal_map import Phase

from kikuchipy_gen.phases import get_phase
from kikuchipy_gen.sources._base import MasterPatternSource

__all__ = ["EMsoftFileSource", "KikuchipyNickelSource"]


class KikuchipyNickelSource(MasterPatternSource):
    """The EMsoft nickel master pattern at 20 kV that ships with kikuchipy.

    No extra installation or download: this is the default source.

    Examples
    --------
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> src = KikuchipyNickelSource()
    >>> src.energies
    (20.0,)
    >>> src.master_pattern(20).data.shape
    (2, 401, 401)
    """

    kind = "kikuchipy-nickel"

    @property
    def energies(self) -> tuple[float, ...]:
        """The one energy of kikuchipy's nickel master pattern, 20 kV.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> KikuchipyNickelSource().energies
        (20.0,)
        """
        return (20.0,)

    @cached_property
    def _loaded(self) -> EBSDMasterPattern:
        mp = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")
        # The shipped file names the phase "ni" but stores no atoms; use the preset.
        mp.phase = get_phase("ni")
        return mp

    @property
    def phase(self) -> Phase:
        """Nickel, from the ``"ni"`` preset (the shipped file stores no atoms).

        Examples
        --------
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> phase = KikuchipyNickelSource().phase
        >>> phase.name, phase.space_group.short_name, len(phase.structure)
        ('ni', 'Fm-3m', 1)
        """
        return self._loaded.phase

    def _master_pattern(self, energy: float) -> EBSDMasterPattern:
        return self._loaded.deepcopy()


class EMsoftFileSource(MasterPatternSource):
    """Master patterns read from an EMsoft ``EMEBSDmaster`` HDF5 file.

    Every energy bin on the file's energy axis is available; kikuchipy reads
    the file (Lambert projection, both hemispheres).

    Parameters
    ----------
    path
        Path to the EMsoft master-pattern file.
    phase
        Phase to use instead of the one in the file (needed when the file has
        no atom data, e.g. for a kinematical comparison).

    Examples
    --------
    >>> import kikuchipy as kp
    >>> from pathlib import Path
    >>> from kikuchipy_gen.sources import EMsoftFileSource
    >>> f = Path(kp.__file__).parent / "data/emsoft_ebsd_master_pattern/master_patterns.h5"
    >>> src = EMsoftFileSource(f)
    >>> src.energies[0], src.energies[-1], src.phase.point_group.name
    (10.0, 20.0, '4/mmm')
    """

    kind = "emsoft-file"

    def __init__(self, path: str | Path, phase: str | Path | Phase | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"EMsoft master pattern file {str(path)!r} does not exist")
        try:
            self._all = kp.load(self.path, projection="lambert", hemisphere="both", lazy=True)
        except Exception as err:
            raise ValueError(f"Could not read {str(path)!r} as an EMsoft master pattern file: {err}") from None
        if phase is not None:
            self._all.phase = get_phase(phase)
        if self._all.phase is None or self._all.phase.space_group is None:
            raise ValueError(f"{str(path)!r} has no space group; pass phase=")
        self._sha256 = _sha256(self.path)

    @property
    def phase(self) -> Phase:
        """The file's phase, or the one passed as ``phase``.

        Examples
        --------
        >>> import kikuchipy as kp
        >>> from pathlib import Path
        >>> from kikuchipy_gen.sources import EMsoftFileSource
        >>> f = Path(kp.__file__).parent / "data/emsoft_ebsd_master_pattern/master_patterns.h5"
        >>> EMsoftFileSource(f).phase.point_group.name
        '4/mmm'
        """
        return self._all.phase

    @cached_property
    def energies(self) -> tuple[float, ...]:
        """The energies (kV) of the file's energy axis, or its one beam energy.

        Examples
        --------
        >>> import kikuchipy as kp
        >>> from pathlib import Path
        >>> from kikuchipy_gen.sources import EMsoftFileSource
        >>> f = Path(kp.__file__).parent / "data/emsoft_ebsd_master_pattern/master_patterns.h5"
        >>> energies = EMsoftFileSource(f).energies
        >>> len(energies), energies[0], energies[-1]
        (11, 10.0, 20.0)
        """
        for axis in self._all.axes_manager.navigation_axes:
            if axis.name == "energy":
                return tuple(float(e) for e in axis.axis)
        energy = self._all.metadata.get_item("Acquisition_instrument.SEM.beam_energy")
        if energy is None:
            raise ValueError(f"{str(self.path)!r} records no beam energy")
        return (float(energy),)

    def _master_pattern(self, energy: float) -> EBSDMasterPattern:
        energies = np.asarray(self.energies)
        mp = kp.load(self.path, projection="lambert", hemisphere="both")
        if len(energies) > 1:
            i = int(np.argmin(np.abs(energies - energy)))
            # The file's navigation axes are (energy, hemisphere): keep one energy.
            mp = mp.inav[i, :] if mp.axes_manager.navigation_axes[0].name == "energy" else mp.inav[:, i]
        mp.phase = self.phase.deepcopy()
        return mp

    def _parameters(self) -> dict[str, Any]:
        return {"path": str(self.path.resolve()), "sha256": self._sha256}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
