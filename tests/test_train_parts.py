"""The pieces of the training loop: EMA teacher, SIGReg, schedules, atomic checkpoints, diagnostics."""

import torch

from vjepa.models import MaskPredictor, VisionTransformer
from vjepa.train.checkpoint import load_checkpoint, save_atomic
from vjepa.train.diagnostics import embedding_diagnostics
from vjepa.train.ema import ema_update
from vjepa.train.jepa import JEPA
from vjepa.train.objectives import sigreg
from vjepa.train.schedules import warmup_constant_decay, warmup_cosine


def tiny_jepa(objective="jepa"):
    torch.manual_seed(0)
    encoder = VisionTransformer(embed_dim=48, depth=2, num_heads=3, patch_size=8, tubelet_size=2)
    predictor = MaskPredictor(embed_dim=48, predictor_dim=24, depth=1, num_heads=3)
    return JEPA(encoder, predictor, objective=objective)


def one_mask_group(batch=2):
    return [(torch.arange(0, 20).expand(batch, 20), torch.arange(20, 32).expand(batch, 12))]


def test_teacher_gets_no_gradient_and_follows_the_ema():
    jepa = tiny_jepa()
    loss, _ = jepa(torch.randn(2, 3, 4, 32, 32), one_mask_group())
    loss.backward()
    assert all(p.grad is None for p in jepa.target_encoder.parameters())
    assert all(p.grad is not None for p in jepa.encoder.parameters())
    before = [p.clone() for p in jepa.target_encoder.parameters()]
    with torch.no_grad():
        for p in jepa.encoder.parameters():
            p.add_(1.0)
    ema_update(jepa.target_encoder, jepa.encoder, momentum=0.9)
    for old, new, online in zip(before, jepa.target_encoder.parameters(), jepa.encoder.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * online)


def test_sigreg_objective_trains_without_a_teacher():
    jepa = tiny_jepa("sigreg")
    assert jepa.target_encoder is None
    loss, parts = jepa(torch.randn(2, 3, 4, 32, 32), one_mask_group(), torch.Generator().manual_seed(0))
    assert loss > parts["loss_pred"] and parts["loss_sigreg"] > 0


def test_sigreg_is_small_for_gaussian_and_large_for_collapsed_embeddings():
    gen = torch.Generator().manual_seed(0)
    gaussian = torch.randn(2048, 64, generator=gen)
    collapsed = torch.randn(2048, 1, generator=gen) * torch.ones(1, 64)  # every sample on one line
    shrunk = 0.05 * torch.randn(2048, 64, generator=gen)  # isotropic but far too small
    g = sigreg(gaussian, generator=torch.Generator().manual_seed(1))
    assert g < 1.0
    assert sigreg(collapsed, generator=torch.Generator().manual_seed(1)) > 20 * g
    assert sigreg(shrunk, generator=torch.Generator().manual_seed(1)) > 20 * g


def test_schedules_warm_up_then_decay():
    lrs = [warmup_cosine(s, 100, 10, 0.0, 1.0, 0.1) for s in range(101)]
    assert lrs[0] == 0.0 and abs(lrs[10] - 1.0) < 1e-9 and abs(lrs[100] - 0.1) < 1e-9
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    wsd = [warmup_constant_decay(s, 100, 10, 0.0, 1.0, 0.0, decay_fraction=0.2) for s in range(101)]
    assert wsd[50] == wsd[79] == 1.0 and wsd[100] == 0.0


def test_checkpoint_is_written_atomically(tmp_path):
    path = save_atomic({"step": 3, "w": torch.ones(2)}, tmp_path / "latest.pt")
    assert load_checkpoint(path)["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left behind
    path.write_bytes(b"truncated")
    try:
        load_checkpoint(path)
    except RuntimeError as err:
        assert "latest.pt" in str(err)
    else:
        raise AssertionError("a corrupt checkpoint must raise")


def test_diagnostics_detect_collapse():
    healthy = embedding_diagnostics(torch.randn(8, 16, 32))
    collapsed = embedding_diagnostics(torch.ones(8, 16, 32) + 1e-4 * torch.randn(8, 16, 32))
    assert healthy["effective_rank"] > 20 and collapsed["feature_std"] < 1e-3
    assert healthy["clip_cosine"] < 0.5 < collapsed["clip_cosine"]
