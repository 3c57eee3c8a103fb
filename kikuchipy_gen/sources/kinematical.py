"""Kinematical master patterns at any beam energy (diffsims + kikuchipy)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numba
from diffsims.crystallography import ReciprocalLatticeVector
from kikuchipy.signals import EBSDMasterPattern
from kikuchipy.simulations import KikuchiPatternSimulator
from orix.crystal_map import Phase

from kikuchipy_gen.phases import get_phase
from kikuchipy_gen.sources._base import MasterPatternSource

__all__ = ["KinematicalSource"]


class KinematicalSource(MasterPatternSource):
    """Kinematical master patterns for any phase and beam energy.

    Reflectors come from diffsims (structure factors, Bragg angles at the
    requested energy), the Kikuchi bands from kikuchipy's
    :class:`~kikuchipy.simulations.KikuchiPatternSimulator`; band widths
    follow the Bragg angle, so they narrow as the energy rises.

    Parameters
    ----------
    phase
        Preset name (``"ni"``, ``"pt"``, ...), CIF file or orix phase.
    min_dspacing
        Smallest interplanar spacing (Angstrom) of the reflectors considered.
    min_intensity
        Keep reflectors whose structure factor is at least this fraction of
        the strongest one.
    half_size
        Half the side of the master pattern in pixels (side ``2 * half_size + 1``).

    Examples
    --------
    >>> from kikuchipy_gen.sources import KinematicalSource
    >>> src = KinematicalSource("ni", half_size=50)
    >>> src.master_pattern(15).data.shape
    (2, 101, 101)
    """

    kind = "kinematical"

    def __init__(
        self,
        phase: str | Path | Phase = "ni",
        min_dspacing: float = 1.0,
        min_intensity: float = 0.05,
        half_size: int = 200,
    ) -> None:
        self._phase = get_phase(phase)
        if not (min_dspacing > 0):
            raise ValueError(f"min_dspacing must be positive (Angstrom), got {min_dspacing}")
        if not (0 <= min_intensity < 1):
            raise ValueError(f"min_intensity must be in [0, 1), got {min_intensity}")
        if not 10 <= int(half_size) <= 2000:
            raise ValueError(f"half_size must be between 10 and 2000 pixels, got {half_size}")
        self.min_dspacing = float(min_dspacing)
        self.min_intensity = float(min_intensity)
        self.half_size = int(half_size)

    @property
    def phase(self) -> Phase:
        """The crystal phase of the master patterns, as given.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KinematicalSource
        >>> KinematicalSource("ni").phase.space_group.short_name
        'Fm-3m'
        """
        return self._phase

    def reflectors(self, energy: float) -> ReciprocalLatticeVector:
        """Return the reflectors used at ``energy`` (kV), with Bragg angles set.

        Parameters
        ----------
        energy
            Beam energy in kV.

        Returns
        -------
        diffsims.crystallography.ReciprocalLatticeVector

        Examples
        --------
        The Bragg angle of each band shrinks as the energy rises:

        >>> import numpy as np
        >>> from kikuchipy_gen.sources import KinematicalSource
        >>> src = KinematicalSource("ni")
        >>> theta10, theta30 = (np.rad2deg(src.reflectors(kv).theta.max()) for kv in (10, 30))
        >>> bool(theta30 < theta10)
        True
        """
        energy = self.check_energy(energy)
        # sanitise_phase() expands the asymmetric unit in place: work on a copy
        # so that the source's phase (and its provenance) stay as given.
        ref = ReciprocalLatticeVector.from_min_dspacing(self._phase.deepcopy(), self.min_dspacing)
        ref.sanitise_phase()
        ref = ref.unique(use_symmetry=True)
        ref.calculate_structure_factor()
        strength = abs(ref.structure_factor)
        # Structure factors per family, then every symmetry equivalent: the
        # simulator draws exactly the bands it is given.
        ref = ref[strength >= self.min_intensity * strength.max()].symmetrise()
        ref.calculate_theta(energy * 1e3)
        return ref

    def _master_pattern(self, energy: float) -> EBSDMasterPattern:
        simulator = KikuchiPatternSimulator(self.reflectors(energy))
        # kikuchipy shows a progress bar here; it has no argument to hide it.
        with _single_numba_thread():
            mp = simulator.calculate_master_pattern(half_size=self.half_size, hemisphere="both", scaling="linear")
            mp = mp.as_lambert(show_progressbar=False)
        mp.phase = self._phase.deepcopy()
        mp.metadata.General.title = f"kinematical {self._phase.name} {energy:g} kV"
        return mp

    def _parameters(self) -> dict[str, Any]:
        return {
            "min_dspacing": self.min_dspacing,
            "min_intensity": self.min_intensity,
            "half_size": self.half_size,
        }


@contextlib.contextmanager
def _single_numba_thread() -> Iterator[None]:
    # kikuchipy's master-pattern kernel races when numba runs it on several
    # threads (results differ run to run), so it runs on one. numba's thread
    # count is thread-local and restored here: other threads and the caller's
    # later numba work keep theirs (tests/test_notebook_manners.py checks it).
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
