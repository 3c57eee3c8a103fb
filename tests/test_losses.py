import math

import numpy as np
import pytest
import torch
from orix.quaternion import Orientation, Rotation

from kikuchipy_gen.attributes import encode_attributes, fundamental_zone_quaternions, symmetry_quaternions
from kikuchipy_gen.losses import (
    AdaptiveKL,
    bce_reconstruction,
    disorientation,
    dot_orientation_loss,
    kl_gaussian,
    quaternion_multiply,
    voltage_mse,
    wasserstein_critic,
    wasserstein_generator,
)
from kikuchipy_gen.phases import get_point_group


def test_kl_matches_closed_form():
    mean = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[math.log(2.0), 0.0]])
    # 0.5 * [(0.25 + 2 - ln2 - 1) + (1 + 1 - 0 - 1)]
    expected = 0.5 * ((0.25 + 2 - math.log(2) - 1) + 1.0)
    assert kl_gaussian(mean, logvar).item() == pytest.approx(expected, rel=1e-6)


def test_bce_matches_hand_value():
    target = torch.tensor([[[[1.0, 0.0], [0.25, 0.5]]]])
    p = torch.tensor([[[[0.9, 0.2], [0.5, 0.5]]]])
    logits = torch.log(p / (1 - p))
    per_pixel = [-math.log(0.9), -math.log(0.8), -(0.25 * math.log(0.5) + 0.75 * math.log(0.5)), math.log(2)]
    assert bce_reconstruction(logits, target, "sum").item() == pytest.approx(sum(per_pixel), rel=1e-5)
    assert bce_reconstruction(logits, target, "mean").item() == pytest.approx(np.mean(per_pixel), rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        bce_reconstruction(logits, target, "max")


def test_quaternion_product_matches_orix():
    a, b = Rotation.random(50), Rotation.random(50)
    ours = quaternion_multiply(torch.from_numpy(a.data), torch.from_numpy(b.data)).numpy()
    assert np.allclose(ours, (a * b).data, atol=1e-12)


@pytest.mark.parametrize("pg", ["m-3m", "432", "23", "6/mmm", "622", "-3m", "4/mmm", "422", "mmm", "2/m", "-1"])
def test_disorientation_matches_orix(pg):
    sym = get_point_group(pg).proper_subgroup
    a, b = Rotation.random(300), Rotation.random(300)
    ours = disorientation(torch.from_numpy(a.data), torch.from_numpy(b.data), symmetry_quaternions(pg))
    ref = Orientation(a.data, symmetry=sym).angle_with(Orientation(b.data, symmetry=sym))
    assert np.abs(np.rad2deg(ours.numpy()) - np.rad2deg(ref)).max() < 1e-4


def test_disorientation_near_zero_and_fz_boundary_is_safe():
    s = symmetry_quaternions("m-3m")
    q = torch.from_numpy(Rotation.random(20).data)
    small = torch.from_numpy((Rotation.from_axes_angles([0, 0, 1], 1e-4, degrees=True) * Rotation(q.numpy())).data)
    pred = small.clone().requires_grad_(True)
    angle = disorientation(pred, q, s)
    assert np.allclose(np.rad2deg(angle.detach().numpy()), 1e-4, atol=1e-5)
    angle.sum().backward()
    assert torch.isfinite(pred.grad).all()
    # Exactly equal orientations: zero angle and finite gradient.
    same = q.clone().requires_grad_(True)
    disorientation(same, q, s).sum().backward()
    assert torch.isfinite(same.grad).all()
    # On the cubic FZ boundary (45 deg about z) two equivalents tie: 45 deg either way.
    q45 = torch.from_numpy(Rotation.from_axes_angles([0, 0, 1], 45, degrees=True).data)
    q45m = torch.from_numpy(Rotation.from_axes_angles([0, 0, 1], -45, degrees=True).data)
    assert np.rad2deg(disorientation(q45, q45m, s).item()) == pytest.approx(0, abs=1e-5)
    ident = torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64)
    assert np.rad2deg(disorientation(q45, ident, s).item()) == pytest.approx(45, abs=1e-5)


def test_disorientation_is_sign_and_symmetry_invariant():
    s = symmetry_quaternions("m-3m")
    q = torch.from_numpy(Rotation.random(10).data)
    p = torch.from_numpy(Rotation.random(10).data)
    base = disorientation(q, p, s)
    assert torch.allclose(disorientation(-q, p, s), base)
    sq = quaternion_multiply(s[5][None].expand_as(q), q)
    assert torch.allclose(disorientation(sq, p, s), base, atol=1e-9)


def test_other_losses():
    q = torch.tensor([[1.0, 0, 0, 0]])
    assert dot_orientation_loss(-q, q).item() == pytest.approx(0.0)
    assert voltage_mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])).item() == pytest.approx(2.0)
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, 0.5])
    assert wasserstein_critic(real, fake).item() == pytest.approx(-1.5)
    assert wasserstein_generator(fake).item() == pytest.approx(-0.5)
    k = AdaptiveKL(upper=10, lower=2, high=2.0, mid=0.5, low=0.1)
    assert (k(11), k(10), k(3), k(2), k(0)) == (2.0, 0.5, 0.5, 0.1, 0.1)


def test_attributes_are_fundamental_zone_representatives():
    sym = get_point_group("m-3m").proper_subgroup
    r = Rotation.random(200)
    q = fundamental_zone_quaternions(r, "m-3m")
    assert np.all(q[:, 0] >= 0)
    # Same orientation (zero disorientation), and equivalents map to one vector.
    o1, o2 = Orientation(q, symmetry=sym), Orientation(r.data, symmetry=sym)
    assert np.rad2deg(o1.angle_with(o2)).max() < 1e-4  # orix acos near 1: ~1e-6 deg noise
    equivalent = Rotation(sym[7].data) * r
    assert np.allclose(fundamental_zone_quaternions(equivalent, "m-3m"), q, atol=1e-9)
    attr = encode_attributes(r, "m-3m", np.linspace(10, 30, 200))
    assert attr.shape == (200, 5) and attr[-1, 4].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite"):
        encode_attributes(r[:2], "m-3m", [np.nan, 1.0])


def test_reference_code_variants_of_the_losses():
    # The reference's orientation loss carries a factor 1e4; its critic and generator
    # losses pass the scores through a sigmoid, bounding them to [-1, 1] and [-1, 0].
    q = torch.nn.functional.normalize(torch.randn(5, 4), dim=1)
    p = torch.nn.functional.normalize(torch.randn(5, 4), dim=1)
    assert dot_orientation_loss(p, q, scale=1e4).item() == pytest.approx(1e4 * dot_orientation_loss(p, q).item())
    real, fake = torch.tensor([50.0, -3.0]), torch.tensor([-50.0, 2.0])
    bounded = wasserstein_critic(real, fake, bounded=True)
    assert bounded.item() == pytest.approx(-torch.sigmoid(real).mean().item() + torch.sigmoid(fake).mean().item())
    assert -1 <= bounded.item() <= 1 and abs(wasserstein_critic(real, fake).item()) > 1
    assert wasserstein_generator(torch.tensor([1e3]), bounded=True).item() == pytest.approx(-1.0)
    # Bounded, the gradient vanishes for saturated scores, unlike eq. (11)'s.
    s = torch.tensor([30.0], requires_grad=True)
    wasserstein_generator(s, bounded=True).backward()
    assert abs(s.grad.item()) < 1e-10
