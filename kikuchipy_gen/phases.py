"""Crystal phases: built-in presets, CIF files and JSON-safe serialisation.

A phase travels with every dataset and model as plain JSON (never a pickle) so
that the physics reference of a model can be rebuilt from its provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from diffpy.structure import Atom, Lattice, Structure
from orix.crystal_map import Phase
from orix.quaternion.symmetry import Symmetry

__all__ = [
    "BUILTIN_PHASES",
    "get_phase",
    "get_point_group",
    "phase_from_dict",
    "phase_to_dict",
]

# Lattice parameters in Angstrom; fcc metals of the paper (Ni: Figs. 3-5, Pt: Fig. 6).
BUILTIN_PHASES: dict[str, dict[str, Any]] = {
    "ni": {"space_group": 225, "a": 3.5236, "element": "Ni"},
    "pt": {"space_group": 225, "a": 3.9242, "element": "Pt"},
    "al": {"space_group": 225, "a": 4.0495, "element": "Al"},
    "cu": {"space_group": 225, "a": 3.6149, "element": "Cu"},
}


def get_phase(phase: str | Path | Phase) -> Phase:
    """Return an orix phase from a preset name, a CIF file or a phase.

    Parameters
    ----------
    phase
        One of the names in :data:`BUILTIN_PHASES` (``"ni"``, ``"pt"``, ...),
        a path to a CIF file, or an orix :class:`~orix.crystal_map.Phase`,
        which must have a space group and at least one atom.

    Returns
    -------
    orix.crystal_map.Phase
        The phase, with name, space group and structure (Angstrom) set.

    Raises
    ------
    ValueError
        If the name is unknown, the file is missing or the phase lacks a space
        group or atoms.

    Examples
    --------
    >>> from kikuchipy_gen.phases import get_phase
    >>> ni = get_phase("ni")
    >>> ni.space_group.short_name, ni.point_group.name
    ('Fm-3m', 'm-3m')
    """
    if isinstance(phase, Phase):
        out = phase.deepcopy()
    elif isinstance(phase, (str, Path)) and str(phase).lower() in BUILTIN_PHASES:
        name = str(phase).lower()
        preset = BUILTIN_PHASES[name]
        a = preset["a"]
        structure = Structure(
            atoms=[Atom(preset["element"], [0, 0, 0], occupancy=1.0, Uisoequiv=0.005)],
            lattice=Lattice(a, a, a, 90, 90, 90),
        )
        out = Phase(name=name, space_group=preset["space_group"], structure=structure)
    elif isinstance(phase, (str, Path)) and Path(phase).suffix.lower() == ".cif":
        if not Path(phase).is_file():
            raise ValueError(f"CIF file {str(phase)!r} does not exist")
        out = Phase.from_cif(str(phase))
        if not out.name:
            out.name = Path(phase).stem
    else:
        raise ValueError(f"Unknown phase {phase!r}: give one of {sorted(BUILTIN_PHASES)}, a .cif file or an orix Phase")
    if out.space_group is None:
        raise ValueError(f"Phase {out.name!r} has no space group; set one (orix Phase)")
    if len(out.structure) == 0:
        raise ValueError(f"Phase {out.name!r} has no atoms; give its structure (CIF)")
    return out


def get_point_group(name: str | Symmetry) -> Symmetry:
    """Return an orix point group from its Hermann-Mauguin name.

    Parameters
    ----------
    name
        Name such as ``"m-3m"``, ``"432"``, ``"6/mmm"`` or ``"4/mmm"``, or a
        :class:`~orix.quaternion.Symmetry`, returned unchanged.

    Returns
    -------
    orix.quaternion.Symmetry

    Raises
    ------
    ValueError
        If the name is not one of the 32 crystallographic point groups.

    Examples
    --------
    >>> from kikuchipy_gen.phases import get_point_group
    >>> get_point_group("m-3m").proper_subgroup.name
    '432'
    """
    if isinstance(name, Symmetry):
        return name
    try:
        return Phase(point_group=str(name)).point_group
    except Exception:
        raise ValueError(
            f"Unknown point group {name!r}: use a Hermann-Mauguin name such as 'm-3m', '432', '6/mmm' or '4/mmm'"
        ) from None


def phase_to_dict(phase: Phase) -> dict[str, Any]:
    """Describe a phase as JSON-safe data (name, space group, lattice, atoms).

    Parameters
    ----------
    phase
        Phase with a space group and structure.

    Returns
    -------
    dict
        Keys ``name``, ``space_group``, ``lattice`` (a, b, c, alpha, beta,
        gamma in Angstrom and degrees) and ``atoms`` (element, xyz, occupancy,
        Uiso).

    Examples
    --------
    >>> from kikuchipy_gen.phases import get_phase, phase_from_dict, phase_to_dict
    >>> d = phase_to_dict(get_phase("ni"))
    >>> d["space_group"], d["lattice"][0]
    (225, 3.5236)
    >>> phase_from_dict(d).name
    'ni'
    """
    structure = phase.structure
    return {
        "name": phase.name,
        "space_group": int(phase.space_group.number),
        "lattice": [float(v) for v in structure.lattice.abcABG()],
        "atoms": [
            {
                "element": str(atom.element),
                "xyz": [float(v) for v in atom.xyz],
                "occupancy": float(atom.occupancy),
                "Uiso": float(atom.Uisoequiv),
            }
            for atom in structure
        ],
    }


def phase_from_dict(d: dict[str, Any]) -> Phase:
    """Rebuild a phase written by :func:`phase_to_dict`.

    Parameters
    ----------
    d
        Output of :func:`phase_to_dict` (for example read from JSON).

    Returns
    -------
    orix.crystal_map.Phase

    Examples
    --------
    >>> from kikuchipy_gen.phases import get_phase, phase_from_dict, phase_to_dict
    >>> phase = phase_from_dict(phase_to_dict(get_phase("ni")))
    >>> phase.name, phase.point_group.name
    ('ni', 'm-3m')
    """
    try:
        atoms = [
            Atom(a["element"], np.asarray(a["xyz"]), occupancy=a["occupancy"], Uisoequiv=a["Uiso"]) for a in d["atoms"]
        ]
        structure = Structure(atoms=atoms, lattice=Lattice(*d["lattice"]))
        return Phase(name=d["name"], space_group=int(d["space_group"]), structure=structure)
    except (KeyError, TypeError) as err:
        raise ValueError(f"Not a phase description (missing or bad field: {err})") from None
