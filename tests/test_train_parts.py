"""The pieces of the training loop: EMA teacher, SIGReg, the dense (context-token) loss, schedules, atomic
checkpoints, diagnostics."""

import errno
import shutil

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from vjepa.models import MaskPredictor, VisionTransformer
from vjepa.models.vit import deep_levels
from vjepa.runtime.checkpoint import load_checkpoint, save_atomic
from vjepa.runtime.errors import UserError, error_line
from vjepa.train.diagnostics import embedding_diagnostics
from vjepa.train.distributed import DistInfo
from vjepa.train.ema import ema_update
from vjepa.train.jepa import JEPA
from vjepa.train.loop import LossNotFinite, StepTail
from vjepa.train.metrics import read_metric
from vjepa.train.objectives import context_token_weights, sigreg
from vjepa.train.schedules import warmed_up, warmup_constant_decay, warmup_cosine


def tiny_jepa(objective="jepa", levels=1, depth=2):
    torch.manual_seed(0)
    encoder = VisionTransformer(embed_dim=48, depth=depth, num_heads=3, patch_size=8, tubelet_size=2)
    predictor = MaskPredictor(embed_dim=48, predictor_dim=24, depth=1, num_heads=3, levels=levels)
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


def test_context_tokens_are_weighted_by_their_distance_to_the_masked_region():
    grid = (1, 1, 8)  # one row of 8 tokens; tokens 5..7 are masked
    context_idx, target_idx = torch.tensor([[0, 1, 3, 4]]), torch.tensor([[5, 6, 7]])
    weights = context_token_weights(context_idx, target_idx, grid)
    torch.testing.assert_close(weights, torch.tensor([[5.0, 4.0, 2.0, 1.0]]).rsqrt())
    grid = (2, 2, 2)  # distances are Euclidean over (t, h, w): token 7 = (1, 1, 1) is sqrt(3) from token 0
    torch.testing.assert_close(context_token_weights(torch.tensor([[0]]), torch.tensor([[7]]), grid),
                               torch.tensor([[3.0 ** -0.25]]))


def test_dense_loss_adds_the_weighted_context_loss_and_trains_the_context_outputs():
    clips, masks = torch.randn(2, 3, 4, 32, 32), one_mask_group()
    plain = tiny_jepa()
    plain_loss, plain_parts = plain(clips, masks)
    assert "loss_context" not in plain_parts
    dense = tiny_jepa()
    dense.context_weight = 0.5
    loss, parts = dense(clips, masks)
    torch.testing.assert_close(parts["loss_pred"], plain_parts["loss_pred"])  # the same masked-token loss
    torch.testing.assert_close(loss, plain_loss + 0.5 * parts["loss_context"])
    assert parts["loss_context"] > 0
    (grad_plain,) = torch.autograd.grad(plain_loss, plain.predictor.proj.weight)  # same weights (seed 0)
    (grad_dense,) = torch.autograd.grad(loss, dense.predictor.proj.weight)
    assert not torch.allclose(grad_plain, grad_dense)  # the context outputs are trained too
    assert [warmed_up(s, 10, 0.5) for s in (0, 5, 10, 20)] == [0.0, 0.25, 0.5, 0.5] and warmed_up(0, 0, 0.5) == 0.5


def test_deep_self_supervision_reads_and_predicts_several_encoder_levels():
    assert deep_levels(12, 4) == (3, 6, 9, 12) and deep_levels(6, 4) == (2, 3, 4, 6) and deep_levels(6, 1) == (6,)
    jepa = tiny_jepa(levels=3, depth=3)
    clips, masks = torch.randn(2, 3, 4, 32, 32), one_mask_group()
    encoder, levels = jepa.encoder, jepa.levels
    assert levels == (1, 2, 3)
    deep = encoder(clips, levels=levels)  # (B, N, 3 * D): after blocks 1, 2, 3
    assert deep.shape == (2, 32, 3 * 48)
    torch.testing.assert_close(deep[..., -48:], encoder(clips))  # the last level is the encoder's output
    first = []
    hook = encoder.blocks[0].register_forward_hook(lambda module, inputs, output: first.append(output[0]))
    encoder(clips)
    hook.remove()
    torch.testing.assert_close(deep[..., :48], F.layer_norm(first[0], (48,)))  # an earlier level, layer-normalised
    loss, parts = jepa(clips, masks)
    loss.backward()
    assert parts["targets"].shape == (2, 32, 48)  # diagnostics read the output level
    assert jepa.predictor.embed[0].weight.grad.abs().sum() > 0  # the MLP fusing the context's levels is trained
    with pytest.raises(ValueError, match="needs the teacher"):
        tiny_jepa("sigreg", levels=2)
    with pytest.raises(ValueError, match="levels must increase"):
        encoder(clips, levels=(2, 1, 3))


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
    with pytest.raises(UserError, match=r"cannot read the checkpoint .*latest.pt\) — replace or delete it"):
        load_checkpoint(path)


def test_a_full_disk_is_named_not_a_zip_writer_error(tmp_path, monkeypatch):
    """torch reports a failed write as its zip writer's RuntimeError; with the disk full it becomes ENOSPC, which
    the console scripts print as one line naming the file."""
    def full_disk_save(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full_disk_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(OSError) as err:
        save_atomic({"step": 1}, tmp_path / "latest.pt")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "latest.pt")
    assert error_line(err.value) == (f"error: No space left on device while writing a checkpoint "
                                     f"({tmp_path / 'latest.pt'}) — free disk space or write elsewhere")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_diagnostics_detect_collapse():
    healthy = embedding_diagnostics(torch.randn(8, 16, 32))
    collapsed = embedding_diagnostics(torch.ones(8, 16, 32) + 1e-4 * torch.randn(8, 16, 32))
    assert healthy["effective_rank"] > 20 and collapsed["feature_std"] < 1e-3
    assert healthy["clip_cosine"] < 0.5 < collapsed["clip_cosine"]


def test_every_step_ends_logged_and_checkpointed_and_a_non_finite_loss_stops_before_its_checkpoint(tmp_path):
    cfg = OmegaConf.create({"run_dir": str(tmp_path), "steps": 9, "stop_after": 6, "log_every": 2, "ckpt_every": 3,
                            "keep_every": None})
    cpu = torch.device("cpu")
    tail = StepTail("test", cfg, DistInfo(0, 1, 0, cpu), cpu, step=0, rate="clips_per_s", samples_per_step=4)
    assert tail.last_step == 6  # stop_after
    for step in range(1, 4):
        tail.end_step(step, torch.tensor(step / 10), lambda: {"grad_norm": 1.0})
        tail.checkpoint(lambda: {"step": step})
    assert load_checkpoint(tmp_path / "latest.pt")["step"] == 3
    assert read_metric(tmp_path, "loss") == [(2, pytest.approx(0.2))]  # log steps only
    assert read_metric(tmp_path, "grad_norm") == [(2, 1.0)] and read_metric(tmp_path, "clips_per_s")[0][1] > 0
    tail.end_step(4, torch.tensor(0.4), lambda: {})
    tail.checkpoint(lambda: {"step": 4})
    tail.end_step(5, torch.tensor(float("nan")), lambda: {})  # kept on the device: no sync at this step
    tail.checkpoint(lambda: {"step": 5})
    with pytest.raises(LossNotFinite, match="loss became nan at step 5"):  # read back at the next log step
        tail.end_step(6, torch.tensor(0.6), lambda: {})
    assert load_checkpoint(tmp_path / "latest.pt")["step"] == 3  # nothing saved past the non-finite loss
