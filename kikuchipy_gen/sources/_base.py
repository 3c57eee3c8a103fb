"""What every master-pattern source provides, and checks on master patterns."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
from kikuchipy.signals import EBSDMasterPattern
from orix.crystal_map import Phase

from kikuchipy_gen.attributes import ENERGY_TOLERANCE
from kikuchipy_gen.phases import phase_to_dict

__all__ = ["MasterPatternSource", "validate_master_pattern"]

_ENERGY_MIN, _ENERGY_MAX = 1.0, 300.0


class MasterPatternSource(abc.ABC):
    """A physics source of EBSD master patterns at requested beam energies.

    Subclasses return kikuchipy :class:`~kikuchipy.signals.EBSDMasterPattern`
    objects in the square Lambert projection with both hemispheres and the
    phase set, one energy each, and describe themselves as JSON-safe
    provenance from which :func:`~kikuchipy_gen.sources.source_from_dict`
    rebuilds them.

    Examples
    --------
    Every source is one; its provenance rebuilds it:

    >>> from kikuchipy_gen.sources import KinematicalSource, MasterPatternSource, source_from_dict
    >>> source = KinematicalSource("ni")
    >>> isinstance(source, MasterPatternSource), source.kind
    (True, 'kinematical')
    >>> source_from_dict(source.to_dict()).kind
    'kinematical'
    >>> mp = source.master_pattern(20.0)  # doctest: +SKIP
    """

    #: Name under which the source is recorded in provenance.
    #:
    #: Examples
    #: --------
    #: >>> from kikuchipy_gen.sources import KikuchipyNickelSource, KinematicalSource
    #: >>> KikuchipyNickelSource.kind, KinematicalSource.kind
    #: ('kikuchipy-nickel', 'kinematical')
    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def phase(self) -> Phase:
        """The crystal phase of the master patterns.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KinematicalSource
        >>> phase = KinematicalSource("ni").phase
        >>> phase.name, phase.point_group.name
        ('ni', 'm-3m')
        """

    @property
    def energies(self) -> tuple[float, ...] | None:
        """Energies (kV) this source can give, or None for any energy.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource, KinematicalSource
        >>> KikuchipyNickelSource().energies  # one EMsoft master pattern
        (20.0,)
        >>> KinematicalSource("ni").energies is None  # simulated at any energy
        True
        """
        return None

    def master_pattern(self, energy: float) -> EBSDMasterPattern:
        """Return the master pattern at one beam energy.

        Parameters
        ----------
        energy
            Beam energy in kV.

        Returns
        -------
        kikuchipy.signals.EBSDMasterPattern
            Lambert projection, both hemispheres, phase set; the energy is
            stored in ``metadata.Acquisition_instrument.SEM.beam_energy``.

        Raises
        ------
        ValueError
            If the source cannot provide this energy.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KinematicalSource
        >>> mp = KinematicalSource("ni", half_size=30).master_pattern(15)
        >>> mp.projection, mp.hemisphere, mp.data.shape
        ('lambert', 'both', (2, 61, 61))
        >>> mp.metadata.Acquisition_instrument.SEM.beam_energy
        15.0
        """
        energy = self.check_energy(energy)
        mp = self._master_pattern(energy)
        validate_master_pattern(mp)
        mp.metadata.set_item("Acquisition_instrument.SEM.beam_energy", energy)
        return mp

    def check_energy(self, energy: float) -> float:
        """Return ``energy`` as float if the source can provide it, else raise.

        Parameters
        ----------
        energy
            Beam energy in kV.

        Returns
        -------
        float
            The energy; for tabulated sources, the tabulated value.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> KikuchipyNickelSource().check_energy(20)
        20.0
        >>> KikuchipyNickelSource().check_energy(15)
        Traceback (most recent call last):
        ...
        ValueError: kikuchipy-nickel source has no 15 kV master pattern; available: 20 kV. ...
        """
        try:
            energy = float(energy)
        except (TypeError, ValueError):
            raise ValueError(f"Energy must be a number in kV, got {energy!r}") from None
        if not (_ENERGY_MIN <= energy <= _ENERGY_MAX):
            raise ValueError(f"Energy {energy} kV is outside [{_ENERGY_MIN}, {_ENERGY_MAX}] kV (give kV, not eV)")
        available = self.energies
        if available is None:
            return energy
        match = [e for e in available if abs(e - energy) < ENERGY_TOLERANCE]
        if not match:
            listed = ", ".join(f"{e:g}" for e in available)
            raise ValueError(
                f"{self.kind} source has no {energy:g} kV master pattern; available: "
                f"{listed} kV. Use a kinematical or dynamical source for other energies"
            )
        return float(match[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description from which the source can be rebuilt.

        Returns
        -------
        dict
            ``kind``, ``phase`` (see :func:`~kikuchipy_gen.phases.phase_to_dict`)
            and the source's own parameters.

        Examples
        --------
        >>> from kikuchipy_gen.sources import KinematicalSource, source_from_dict
        >>> d = KinematicalSource("ni", half_size=50).to_dict()
        >>> d["kind"], d["half_size"]
        ('kinematical', 50)
        >>> source_from_dict(d).half_size
        50
        """
        return {"kind": self.kind, "phase": phase_to_dict(self.phase), **self._parameters()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._parameters().items())
        return f"{type(self).__name__}(phase={self.phase.name!r}{', ' if params else ''}{params})"

    @abc.abstractmethod
    def _master_pattern(self, energy: float) -> EBSDMasterPattern:
        """Make the master pattern at a checked energy."""

    def _parameters(self) -> dict[str, Any]:
        """Parameters besides the phase that define the source."""
        return {}


def validate_master_pattern(mp: Any) -> None:
    """Raise a clear error unless ``mp`` can be projected by this package.

    Parameters
    ----------
    mp
        Candidate master pattern.

    Raises
    ------
    ValueError
        If it is not an :class:`~kikuchipy.signals.EBSDMasterPattern` in the
        Lambert projection with both hemispheres, a phase with a space group,
        and a single energy.

    Examples
    --------
    >>> import kikuchipy as kp
    >>> from kikuchipy_gen.sources import validate_master_pattern
    >>> mp = kp.data.nickel_ebsd_master_pattern_small(projection="stereographic")
    >>> validate_master_pattern(mp)
    Traceback (most recent call last):
    ...
    ValueError: Master pattern is in the 'stereographic' projection; load it with ...
    """
    if not isinstance(mp, EBSDMasterPattern):
        raise ValueError(f"Expected a kikuchipy EBSDMasterPattern, got {type(mp).__name__}")
    if mp.projection != "lambert":
        raise ValueError(
            f"Master pattern is in the {mp.projection!r} projection; load it with "
            "projection='lambert', hemisphere='both'"
        )
    if mp.hemisphere != "both":
        raise ValueError(f"Master pattern holds the {mp.hemisphere!r} hemisphere only; load both (hemisphere='both')")
    if mp.phase is None or mp.phase.space_group is None:
        raise ValueError("Master pattern has no phase with a space group; set mp.phase")
    if mp._has_multiple_energies:
        raise ValueError("Master pattern holds several energies; select one first")
    data = np.asarray(mp.data) if not mp._lazy else mp.data
    if data.shape[-2] != data.shape[-1]:
        raise ValueError(f"Lambert master pattern must be square, got {data.shape[-2:]}")
