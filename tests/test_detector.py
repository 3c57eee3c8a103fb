import numpy as np
import pytest
from kikuchipy.detectors import EBSDDetector
from orix.quaternion import Rotation

from kikuchipy_gen.detector import DEFAULT_PC, default_detector, detector_from_dict, detector_to_dict

# kikuchipy's tutorials give the nickel example geometry in EDAX/TSL's convention.
TSL_PC = (0.421, 0.7794, 0.5049)


def test_default_pc_is_bruker_of_the_nickel_tutorial_geometry():
    tsl = EBSDDetector(shape=(60, 60), pc=TSL_PC, sample_tilt=70, convention="tsl")
    assert np.allclose(tsl.pc_average, DEFAULT_PC)  # kikuchipy converts to Bruker
    det = default_detector()
    assert det.shape == (60, 60) and det.sample_tilt == 70 and det.tilt == 0
    assert np.allclose(det.pc_tsl(), TSL_PC)
    assert detector_to_dict(det)["pc"] == list(DEFAULT_PC)
    assert np.allclose(detector_from_dict(detector_to_dict(det)).pc, det.pc)


def test_default_detector_sees_the_real_nickel_patterns():
    """EMsoft's Ni on the default detector matches kikuchipy's real Ni patterns; the TSL numbers as Bruker do not."""
    import kikuchipy as kp

    s = kp.data.nickel_ebsd_small()
    s.remove_static_background(show_progressbar=False)
    s.remove_dynamic_background(show_progressbar=False)
    assert np.abs(s.detector.pc.reshape(-1, 3) - DEFAULT_PC).max() < 0.011
    mp = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", energy=20, hemisphere="both")
    rot = Rotation(s.xmap.rotations.data.reshape(-1, 4))  # the orientations stored with the patterns
    real = s.data.reshape(9, -1).astype(float)

    def ncc(det):
        sim = mp.get_patterns(rot, det, energy=20, compute=True, show_progressbar=False).data.reshape(9, -1)
        a, b = real - real.mean(1, keepdims=True), sim - sim.mean(1, keepdims=True)
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))

    assert ncc(default_detector()).min() > 0.2  # measured 0.25-0.45
    assert np.abs(ncc(default_detector(pc=TSL_PC))).max() < 0.05  # measured -0.02-0.00


def test_cli_states_the_default_pc(capsys):
    from kikuchipy_gen.cli import main

    with pytest.raises(SystemExit):
        main(["dataset", "--help"])
    assert "[default: {} {} {}".format(*DEFAULT_PC) in " ".join(capsys.readouterr().out.split())
