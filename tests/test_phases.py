import numpy as np
import pytest
from orix.crystal_map import Phase
from orix.quaternion import symmetry as orix_symmetry

from kikuchipy_gen.phases import _proper_subgroup, get_phase, get_point_group, phase_from_dict, phase_to_dict

NI_CIF = """data_Ni
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
_cell_length_a 3.5236
_cell_length_b 3.5236
_cell_length_c 3.5236
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Ni1 Ni 0 0 0 1
"""


@pytest.mark.parametrize("name, a", [("ni", 3.5236), ("PT", 3.9242)])
def test_presets(name, a):
    p = get_phase(name)
    assert p.space_group.number == 225
    assert p.point_group.name == "m-3m"
    assert p.structure.lattice.a == pytest.approx(a)


def test_cif(tmp_path):
    f = tmp_path / "nickel.cif"
    f.write_text(NI_CIF)
    p = get_phase(f)
    assert p.space_group.number == 225
    assert p.structure.lattice.a == pytest.approx(3.5236)
    assert str(p.structure[0].element) == "Ni"


def test_dict_round_trip():
    p = get_phase("pt")
    q = phase_from_dict(phase_to_dict(p))
    assert phase_to_dict(q) == phase_to_dict(p)
    assert q.point_group.name == p.point_group.name


@pytest.mark.parametrize(
    "bad, match",
    [
        ("unobtainium", "Unknown phase"),
        ("missing.cif", "does not exist"),
        (Phase(name="x", point_group="m-3m"), "no space group"),
        (Phase(name="x", space_group=225), "no atoms"),
    ],
)
def test_bad_phases(bad, match):
    with pytest.raises(ValueError, match=match):
        get_phase(bad)


def test_point_groups():
    assert get_point_group("6/mmm").proper_subgroup.name == "622"
    with pytest.raises(ValueError, match="Unknown point group"):
        get_point_group("7/m")
    with pytest.raises(ValueError, match="Not a phase description"):
        phase_from_dict({"name": "x"})


def test_proper_subgroup_is_orix_s_found_once():
    for pg in orix_symmetry._groups:
        expected = pg.proper_subgroup
        got = _proper_subgroup(pg.name)
        assert got.name == expected.name and np.array_equal(got.data, expected.data), pg.name
        assert _proper_subgroup(pg) is got  # by name or by object: the same cached group
    # A group of the same name with other operations is another group.
    custom = orix_symmetry.Symmetry(orix_symmetry.C2.data[[0]])
    custom.name = "2"
    assert _proper_subgroup(custom).size == 1 and _proper_subgroup("2").size == 2


@pytest.mark.parametrize(
    "name, space_group, point_group",
    [("fe-alpha", "Im-3m", "m-3m"), ("ti-alpha", "P63/mmc", "6/mmm"), ("rutile", "P42/mnm", "4/mmm")],
)
def test_zoo_presets(name, space_group, point_group):
    p = get_phase(name)
    assert p.space_group.short_name == space_group and p.point_group.name == point_group
    assert all(atom.Uisoequiv == pytest.approx(0.005) for atom in p.structure)


def test_hexagonal_fractional_coordinates_survive():
    # orix keeps Cartesian positions when it re-bases a hexagonal lattice; the
    # atoms must stay where the space group puts them, through JSON and back.
    d = phase_to_dict(phase_from_dict(phase_to_dict(get_phase("ti-alpha"))))
    assert d["atoms"][0]["xyz"] == pytest.approx([1 / 3, 2 / 3, 0.25])
    assert d["lattice"] == pytest.approx([2.9506, 2.9506, 4.6835, 90, 90, 120])


def test_cif_holds_the_asymmetric_unit(tmp_path):
    f = tmp_path / "nickel.cif"
    f.write_text(NI_CIF)
    assert len(get_phase(f).structure) == 1  # orix's Phase.from_cif holds the four atoms of the cell
