import numpy as np
import pytest
import torch

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.projection import project_patterns
from kikuchipy_gen.training import Trainer

from .test_training import _config, _mean_pattern_bce


def test_projects_its_texture_exactly():
    cfg = preset("geometric", texture_size=41)
    dec = GeometricDecoder(cfg, default_detector())
    q = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    with torch.no_grad():
        direct = project_patterns(dec.texture[0], q, default_detector())
        # The head sees the standardised projection of the learned texture.
        x = (direct - direct.mean(dim=(1, 2), keepdim=True)) / (direct.std(dim=(1, 2), keepdim=True) + 1e-4)
        dec.head_out.weight.zero_(), dec.head_out.bias.zero_()
        out = dec(torch.zeros(3, cfg.latent_dim), q)
    assert torch.allclose(out[:, 0], x, atol=1e-5)


def test_any_detector_and_voltage_knots():
    cfg = preset("geometric", texture_size=21, use_voltage=True, n_attributes=5, voltage_knots=3)
    dec = GeometricDecoder(cfg, default_detector())
    attr = torch.tensor([[1.0, 0, 0, 0, 10 / 30], [1.0, 0, 0, 0, 20 / 30], [1.0, 0, 0, 0, 25 / 30]])
    assert dec(torch.randn(3, cfg.latent_dim), attr).shape == (3, 1, 60, 60)
    # Knots at 10, 20, 30 kV: 20 kV is the middle texture, 25 kV halfway to the last.
    m = dec.master_pattern(attr[:, 4])
    assert torch.allclose(m[1], dec.texture[1]) and torch.allclose(m[2], 0.5 * (dec.texture[1] + dec.texture[2]))
    dec.set_detector(default_detector(shape=(32, 48), pc=(0.5, 0.4, 0.7)))
    assert dec(torch.randn(3, cfg.latent_dim), attr).shape == (3, 1, 32, 48)
    with pytest.raises(ValueError, match="use_voltage"):
        preset("geometric", voltage_knots=2)


def test_geometric_training_learns_fast(local_dataset, tmp_path):
    model = preset("geometric", texture_size=61)
    cfg = _config(local_dataset, tmp_path / "g", model=model, cvae_epochs=4, critic_epochs=1, gan_epochs=1,
                  cvae_lr=3e-3, gan_lr=3e-4)
    trainer = Trainer(cfg)
    trainer.run(show_progressbar=False)
    rows = [r for r in trainer.state.history if r["stage"] == "cvae" and "val_bce_per_pixel" in r]
    baseline = _mean_pattern_bce(local_dataset)
    # 64 steps are enough to beat every input-ignoring prediction by a wide margin.
    assert rows[-1]["val_bce_per_pixel"] < baseline - 0.05, (rows[-1], baseline)
    assert trainer.state.stage == "done"
    reloaded = Trainer(cfg, resume=True)
    z, attr = torch.randn(2, model.latent_dim), torch.tensor([[1.0, 0, 0, 0]] * 2)
    trainer.decoder.eval(), reloaded.decoder.eval()
    with torch.no_grad():
        assert torch.equal(trainer.decoder(z, attr), reloaded.decoder(z, attr))
