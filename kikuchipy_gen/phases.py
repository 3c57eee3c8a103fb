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
    "space_group_symbol",
]

# Lattice parameters in Angstrom; fcc metals of the paper (Ni: Figs. 3-5, Pt: Fig. 6).
# An entry is either a one-atom cubic cell (``a`` and ``element``, the atom at the
# origin) or a full description: ``lattice`` (a, b, c, alpha, beta, gamma) and
# ``atoms``, the asymmetric unit as (element, (x, y, z)) pairs. Every atom has
# occupancy 1 and an isotropic Debye-Waller factor Uiso = 0.005 A^2 (about room
# temperature; de-ebsd's default B = 0.5 A^2 is 8 pi^2 times 0.0063 A^2).
BUILTIN_PHASES: dict[str, dict[str, Any]] = {
    "ni": {"space_group": 225, "a": 3.5236, "element": "Ni"},
    "pt": {"space_group": 225, "a": 3.9242, "element": "Pt"},
    "al": {"space_group": 225, "a": 4.0495, "element": "Al"},
    "cu": {"space_group": 225, "a": 3.6149, "element": "Cu"},
    # alpha-iron (ferrite), bcc, m-3m.
    "fe-alpha": {"space_group": 229, "a": 2.8665, "element": "Fe"},
    # alpha-titanium, hcp, 6/mmm; Ti on 2c.
    "ti-alpha": {
        "space_group": 194,
        "lattice": (2.9506, 2.9506, 4.6835, 90.0, 90.0, 120.0),
        "atoms": [("Ti", (1 / 3, 2 / 3, 0.25))],
    },
    # Rutile TiO2, 4/mmm; Ti on 2a, O on 4f.
    "rutile": {
        "space_group": 136,
        "lattice": (4.5937, 4.5937, 2.9587, 90.0, 90.0, 90.0),
        "atoms": [("Ti", (0.0, 0.0, 0.0)), ("O", (0.3048, 0.3048, 0.0))],
    },
    # Alpha-quartz SiO2 (right-handed, P3_221), Laue group -3m on a primitive lattice;
    # Si on 3a, O on 6c (Levien, Prewitt & Weidner 1980), shifted by z + 2/3 to the
    # origin of the International Tables, where 3a is (x, 0, 2/3).
    "quartz": {
        "space_group": 154,
        "lattice": (4.9134, 4.9134, 5.4052, 90.0, 90.0, 120.0),
        "atoms": [("Si", (0.4697, 0.0, 2 / 3)), ("O", (0.4135, 0.2669, 0.1191 + 2 / 3))],
    },
    # Corundum Al2O3 (R-3c, Laue group -3m), on hexagonal axes (obverse setting);
    # Al on 12c, O on 18e; room-temperature cell and positions (Lewis,
    # Schwarzenbach & Flack 1982: z(Al) = 0.35216, x(O) = 0.30624).
    "corundum": {
        "space_group": 167,
        "lattice": (4.7589, 4.7589, 12.991, 90.0, 90.0, 120.0),
        "atoms": [("Al", (0.0, 0.0, 0.35216)), ("O", (0.30624, 0.0, 0.25))],
    },
}

_UISO = 0.005  # A^2, the Debye-Waller factor of every built-in atom


def get_phase(phase: str | Path | Phase) -> Phase:
    """Return an orix phase from a preset name, a CIF file or a phase.

    Parameters
    ----------
    phase
        One of the names in :data:`BUILTIN_PHASES` (``"ni"``, ``"pt"``,
        ``"fe-alpha"``, ``"ti-alpha"``, ``"rutile"``, ``"corundum"``, ...),
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
    >>> get_phase("ti-alpha").point_group.name
    '6/mmm'
    """
    if isinstance(phase, Phase):
        out = phase.deepcopy()
    elif isinstance(phase, (str, Path)) and str(phase).lower() in BUILTIN_PHASES:
        name = str(phase).lower()
        preset = BUILTIN_PHASES[name]
        out = _orix_phase(name, preset["space_group"], _builtin_structure(preset))
    elif isinstance(phase, (str, Path)) and Path(phase).suffix.lower() == ".cif":
        if not Path(phase).is_file():
            raise ValueError(f"CIF file {str(phase)!r} does not exist")
        out = _read_cif(Path(phase))
    else:
        raise ValueError(f"Unknown phase {phase!r}: give one of {sorted(BUILTIN_PHASES)}, a .cif file or an orix Phase")
    if out.space_group is None:
        raise ValueError(f"Phase {out.name!r} has no space group; set one (orix Phase)")
    if len(out.structure) == 0:
        raise ValueError(f"Phase {out.name!r} has no atoms; give its structure (CIF)")
    return out


def _builtin_structure(preset: dict[str, Any]) -> Structure:
    """The asymmetric unit of a :data:`BUILTIN_PHASES` entry as a diffpy structure."""
    if "lattice" in preset:
        lattice = Lattice(*preset["lattice"])
        sites = preset["atoms"]
    else:
        a = preset["a"]
        lattice = Lattice(a, a, a, 90, 90, 90)
        sites = [(preset["element"], (0.0, 0.0, 0.0))]
    atoms = [Atom(element, list(xyz), occupancy=1.0, Uisoequiv=_UISO) for element, xyz in sites]
    return Structure(atoms=atoms, lattice=lattice)


def _orix_phase(name: str, space_group: int, structure: Structure) -> Phase:
    """An orix phase holding ``structure`` with its fractional coordinates unchanged.

    orix aligns every lattice with a along x and c* along z and keeps the
    Cartesian atom positions while doing so: where diffpy's default base
    differs (hexagonal, trigonal, monoclinic and triclinic cells), the
    fractional coordinates would change and the atoms no longer sit where
    the space group puts them (Ti-alpha's 1/3, 2/3, 1/4 became 0.577,
    0.577, 0.25). Here the structure is put on orix's base first, keeping
    its fractional coordinates, so orix's alignment changes nothing.
    """
    aligned = Phase(space_group=space_group, structure=structure).structure.lattice.base
    structure = structure.copy()
    structure.lattice = Lattice(base=aligned)  # diffpy keeps the fractional coordinates
    return Phase(name=name, space_group=space_group, structure=structure)


def _read_cif(path: Path) -> Phase:
    """The phase of a CIF file: its asymmetric unit (as the presets), space group and name.

    orix's ``Phase.from_cif`` holds the atoms of the whole cell; a source that
    expands the asymmetric unit itself (de-ebsd) would count each of them
    once per symmetry image.
    """
    from diffpy.structure.parsers import getParser

    parser = getParser("cif")
    try:
        parser.parseFile(str(path))
    except Exception as err:  # diffpy raises its own StructureFormatError and others on bad files
        message = " ".join(str(err).split())
        raise ValueError(f"Could not read the CIF file {str(path)!r}: {message}") from None
    unit = parser.asymmetric_unit
    if unit is None or len(unit) == 0:
        raise ValueError(f"CIF file {str(path)!r} has no atoms (no _atom_site_ loop); give its structure")
    spacegroup = getattr(parser, "spacegroup", None)
    if spacegroup is None:
        raise ValueError(f"CIF file {str(path)!r} has no space group; add _symmetry_space_group_name_H-M")
    structure = Structure(atoms=[Atom(a) for a in unit], lattice=Lattice(*unit[0].lattice.abcABG()))
    return _orix_phase(path.stem, spacegroup.number, structure)


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


# orix's Symmetry.proper_subgroup searches every subgroup of the group on each
# access (7-17 ms for the Laue groups on a 2-core VM): a disorientation of a
# few patterns costs less than that, and the evaluation takes thousands.
_PROPER_SUBGROUPS: dict[tuple[str, bytes], Symmetry] = {}


def _proper_subgroup(point_group: str | Symmetry) -> Symmetry:
    """The proper rotations of a point group (orix's ``proper_subgroup``), found once per group.

    The groups are keyed by name and operations, so a custom
    :class:`~orix.quaternion.Symmetry` never gets another group's subgroup.
    The returned object is shared: do not change it in place.
    """
    pg = get_point_group(point_group)
    key = (pg.name, np.ascontiguousarray(pg.data).tobytes())
    sub = _PROPER_SUBGROUPS.get(key)
    if sub is None:
        sub = _PROPER_SUBGROUPS[key] = pg.proper_subgroup
    return sub


def space_group_symbol(phase: Phase) -> str:
    """The phase's short Hermann-Mauguin space-group symbol, as the International Tables write it.

    diffpy (and so orix) writes the seven rhombohedral groups on hexagonal
    axes with an "H" for the lattice ("H-3c"); the Tables and CIFs write
    "R-3c". Every other symbol is diffpy's.

    Parameters
    ----------
    phase
        A phase with a space group.

    Returns
    -------
    str

    Examples
    --------
    >>> from kikuchipy_gen.phases import get_phase, space_group_symbol
    >>> get_phase("corundum").space_group.short_name, space_group_symbol(get_phase("corundum"))
    ('H-3c', 'R-3c')
    >>> space_group_symbol(get_phase("ti-alpha"))
    'P63/mmc'
    """
    if phase.space_group is None:
        raise ValueError(f"Phase {phase.name!r} has no space group")
    symbol = phase.space_group.short_name
    return "R" + symbol[1:] if symbol.startswith("H") else symbol


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
        # Rounded: orix's change of base leaves 2.9506 as 2.950599999999684.
        "lattice": [round(float(v), 10) for v in structure.lattice.abcABG()],
        "atoms": [
            {
                "element": str(atom.element),
                "xyz": [round(float(v), 10) + 0.0 for v in atom.xyz],
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
        return _orix_phase(d["name"], int(d["space_group"]), structure)
    except (KeyError, TypeError) as err:
        raise ValueError(f"Not a phase description (missing or bad field: {err})") from None
