"""The V-JEPA 2-AC fine-tuning loop end to end on tiny generated episodes (own format and LeRobot): learning,
resuming, the feature cache, the evaluation against baselines, and the world model planners load."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from configs.schema.train_ac import ACLoss
from planning.interface import WorldModel
from tests.conftest import TINY, compose_config
from tests.fakes import write_fake_lerobot_dataset
from vjepa.data.ac_dataset import ActionStats
from vjepa.data.episodes import EpisodeDataset, EpisodeWriter
from vjepa.data.feature_cache import FeatureCache
from vjepa.models import ActionConditionedPredictor
from vjepa.models.feature_norm import FeatureNorm
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.errors import UserError
from vjepa.train.ac_checkpoint import ACCheckpoint
from vjepa.train.loop import LossNotFinite
from vjepa.train.objectives import ACObjective
from vjepa.train.pretrain import pretrain
from vjepa.train.train_ac import train_ac
from vjepa.world_model import JEPAWorldModel, load_world_model

AC_TINY = [
    "ac.dim=32", "ac.depth=2", "ac.num_heads=2", "ac.max_steps=16",
    "data.num_frames=4", "batch_size=8", "num_workers=0", "log_every=1", "val_every=10", "ckpt_every=10",
    "optim.warmup_steps=3", "optim.lr=3e-3", "cache_batch_size=32",
    "threads=1",  # a fixed thread count: the losses compared across runs sum in one order
]


def dot_episodes(root: Path, num_episodes: int = 10, length: int = 12, size: int = 32, seed: int = 0) -> Path:
    """A bright dot moved by its actions: pos[t+1] = clip(pos[t] + 0.12 * action[t]); state = pos."""
    rng = np.random.default_rng(seed)
    with EpisodeWriter(root, fps=10, env_id="dot") as writer:
        for _ in range(num_episodes):
            pos = rng.uniform(0.2, 0.8, size=2)
            actions = np.repeat(rng.uniform(-1, 1, size=(length // 3 + 1, 2)), 3, axis=0)[:length].astype(np.float32)
            actions[-1] = 0.0  # padding
            frames, states = [], []
            for t in range(length):
                frame = np.full((size, size, 3), 20, np.uint8)
                r, c = (pos * (size - 5)).astype(int)
                frame[r : r + 5, c : c + 5] = (240, 80, 40)
                frames.append(frame)
                states.append(pos.copy())
                pos = np.clip(pos + 0.12 * actions[t], 0.0, 1.0)
            writer.add(np.stack(frames), actions, np.stack(states).astype(np.float32))
    return root


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy shared CPU two threads per process spin
    against each other (10x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train_ac")


@pytest.fixture(scope="module")
def encoder_ckpt(workdir) -> Path:
    """A tiny pretrained encoder: the pretraining loop's TINY config, 2 steps."""
    cfg = compose_config("pretrain", [f"run_dir={workdir / 'pretrain'}", f"data.generate.dir={workdir / 'videos'}",
                                      *TINY, "steps=2", "mask_figure=false"])
    pretrain(cfg)
    return workdir / "pretrain" / "latest.pt"


@pytest.fixture(scope="module")
def dots(workdir) -> Path:
    return dot_episodes(workdir / "dots")


def ac_config(encoder: Path, data: Path, run_dir: Path, *overrides: str):
    return compose_config("train_ac", [f"encoder={encoder}", f"data.path={data}", f"run_dir={run_dir}",
                                       *AC_TINY, *overrides])


@pytest.fixture(scope="module")
def trained(encoder_ckpt, dots, workdir) -> dict:
    """One 60-step run on the dot episodes, shared by the tests that need a trained checkpoint (V-JEPA 2-AC's
    layer-normalised feature space; ``standardize`` is tested on its own below)."""
    return train_ac(ac_config(encoder_ckpt, dots, workdir / "run", "steps=60", "feature_norm=layer"))


def test_loss_decreases_and_checkpoint_holds_everything(trained, dots, encoder_ckpt):
    losses = trained["losses"]
    assert len(losses) == 60 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    assert [v["step"] for v in trained["val"]] == [10, 20, 30, 40, 50, 60]
    assert trained["val"][-1]["val_loss"] < trained["val"][0]["val_loss"]
    run_dir = Path(trained["run_dir"])
    state = ACCheckpoint.load(run_dir / "latest.pt")
    contents = load_checkpoint(run_dir / "latest.pt")
    assert state.to_contents().keys() == contents.keys()  # the type writes and reads the keys on disk
    assert state.optimizer and state.rng and state.config["steps"] == 60 and state.image_size == 32
    assert state.step == 60 and Path(state.encoder_checkpoint) == encoder_ckpt.resolve()
    assert state.predictor_config["action_dim"] == 2 and state.predictor_config["grid_hw"] == [4, 4]
    train_eps, val_eps = state.split["train"], state.split["val"]
    assert len(val_eps) == 1 and sorted(train_eps + val_eps) == list(range(10))  # held out by episode
    assert state.action_stats.action_mean.shape == (2,) and np.all(state.action_stats.state_std > 0)
    del contents["feature_norm"]  # checkpoints from before it: layer norm
    assert ACCheckpoint.from_contents(contents, "old.pt").feature_norm.mode == "layer"
    with pytest.raises(UserError, match=r"not a vjepa-train-ac checkpoint \(no predictor_config, action_stats.*"
                                        r"\(.*pretrain.*latest.pt\) — give the latest.pt of a vjepa-train-ac run"):
        ACCheckpoint.load(encoder_ckpt)
    metrics = (run_dir / "metrics.csv").read_text()
    for name in ("loss", "loss_teacher_forcing", "loss_rollout", "loss_state", "lr", "grad_norm", "val_loss"):
        assert f",{name}," in metrics
    # the cache lives beside the data, named by its key (encoder, image size, precision, source)
    assert Path(trained["feature_cache"]).parent == dots / ".vjepa_features"
    assert trained["cache_build"]["encoded_frames"] == 120


def test_trains_and_resumes_on_each_device(encoder_ckpt, dots, tmp_path, device):
    """The feature cache, the objective and the optimiser on ``device`` (bf16 there by precision=auto on a GPU);
    a run stopped at step 3 resumes from its checkpoint."""
    config = lambda *more: ac_config(encoder_ckpt, dots, tmp_path / "run", "steps=6", f"device={device}",  # noqa: E731
                                     f"feature_cache={tmp_path / 'cache'}", *more)
    first = train_ac(config("stop_after=3"))["losses"]
    rest = train_ac(config())["losses"]
    assert len(first) == 3 and len(rest) == 3 and all(np.isfinite(first + rest))
    state = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert state["step"] == 6 and state["config"]["device"] == device.type


def test_bf16_feature_cache_lives_beside_the_fp32_one(trained, encoder_ckpt, dots, tmp_path):
    """``cache_precision=bf16``: the frozen encoder computes the cache in bf16, in a directory of its own, so the
    fp32 cache other runs share stays as it is."""
    summary = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", "steps=1", "cache_precision=bf16"))
    cache_dir, shared = Path(summary["feature_cache"]), Path(trained["feature_cache"])
    assert cache_dir.name.endswith("_bf16") and cache_dir != shared and cache_dir.parent == shared.parent
    assert json.loads((cache_dir / "manifest.json").read_text())["precision"] == "bf16"
    assert json.loads((shared / "manifest.json").read_text())["precision"] == "fp32"


def test_compile_switch_compiles_the_objective(encoder_ckpt, dots, tmp_path, eager_compile):
    """``compile=true`` compiles the predictor with its loss (teacher forcing and rollout in one graph)."""
    config = lambda run, *more: ac_config(encoder_ckpt, dots, tmp_path / run, "steps=2", *more)  # noqa: E731
    plain = train_ac(config("plain"))["losses"]
    losses = train_ac(config("compiled", "compile=true"))["losses"]
    assert eager_compile == ["ACObjective"]
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(plain), rtol=1e-4, atol=1e-6)


def test_feature_cache_is_built_once_and_reused(trained, encoder_ckpt, dots, tmp_path):
    cache_dir = Path(trained["feature_cache"])
    mtimes = {p.name: p.stat().st_mtime_ns for p in cache_dir.glob("episode_*.npy")}
    assert len(mtimes) == 10
    summary = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "second", "steps=2"))
    assert summary["feature_cache"] == str(cache_dir)
    assert summary["cache_build"]["encoded_frames"] == 0 and summary["cache_build"]["reused_episodes"] == 10
    assert {p.name: p.stat().st_mtime_ns for p in cache_dir.glob("episode_*.npy")} == mtimes


@pytest.mark.parametrize("precision", ["precision=fp32", "precision=bf16", "precision=bf16 master_weights=true"])
def test_resume_reproduces_an_uninterrupted_run(encoder_ckpt, dots, tmp_path, precision):
    config = lambda run, *more: ac_config(encoder_ckpt, dots, tmp_path / run, "steps=8", *precision.split(),  # noqa: E731
                                          *more)
    uninterrupted = train_ac(config("a", "keep_every=4"))["losses"]
    assert load_checkpoint(tmp_path / "a" / "step_0000004.pt")["step"] == 4  # kept beside latest.pt
    first = train_ac(config("b", "stop_after=3"))["losses"]
    state = load_checkpoint(tmp_path / "b" / "latest.pt")
    assert state["step"] == 3
    assert all(value.dtype == torch.float32 for value in state["predictor"].values())
    rest = train_ac(config("b"))["losses"]
    assert len(first) == 3 and len(rest) == 5
    torch.testing.assert_close(torch.tensor(first + rest), torch.tensor(uninterrupted), rtol=1e-5, atol=1e-6)


def test_eval_reports_k_step_errors_and_both_baselines(trained, tmp_path, capsys):
    from vjepa.eval.eval_ac import evaluate_ac, format_table

    cfg = compose_config("eval_ac", [f"checkpoint={Path(trained['run_dir']) / 'latest.pt'}",
                                     f"output={tmp_path / 'eval.json'}", "horizon=3", "stride=1"])
    results = evaluate_ac(cfg)
    state = load_checkpoint(cfg.checkpoint)
    assert results["num_episodes"] == len(state["split"]["val"]) == 1 and results["num_windows"] == 12 - 4 + 1
    for name in ("predictor", "copy_last", "zero_action"):
        assert len(results["feature_l1"][name]) == 3 and all(np.isfinite(results["feature_l1"][name]))
    assert results["feature_l1"]["copy_last"][0] < results["feature_l1"]["copy_last"][2]  # drifts away
    assert json.loads((tmp_path / "eval.json").read_text())["feature_l1"] == results["feature_l1"]
    token_l1 = np.asarray(results["token_l1"]["predictor"])  # (K, N): the errors over the token grid, averaged
    assert token_l1.shape == (3, 16) and np.allclose(token_l1.mean(1), results["feature_l1"]["predictor"])
    assert (tmp_path / "eval.png").stat().st_size > 0  # and mapped in a figure
    table = format_table(results)
    assert "copy-last" in table and "zero-action" in table and "k=3" in table and "state-oracle" not in table


def test_eval_computes_in_the_precision_asked(trained, tmp_path):
    from vjepa.eval.eval_ac import evaluate_ac

    base = [f"checkpoint={Path(trained['run_dir']) / 'latest.pt'}", "horizon=2", "figure=false"]
    fp32, bf16 = (evaluate_ac(compose_config("eval_ac", [*base, f"output={tmp_path / precision}.json",
                                                         f"precision={precision}"])) for precision in ("fp32", "bf16"))
    assert fp32["feature_l1"]["predictor"] != bf16["feature_l1"]["predictor"]  # bf16 rounding: computed apart
    np.testing.assert_allclose(bf16["feature_l1"]["predictor"], fp32["feature_l1"]["predictor"], rtol=0.05)


def test_state_oracle_finds_the_training_frame_of_the_same_state(trained, tmp_path):
    from vjepa.eval.eval_ac import evaluate_ac, format_table

    cfg = compose_config("eval_ac", [f"checkpoint={Path(trained['run_dir']) / 'latest.pt'}", "split=train",
                                     f"output={tmp_path / 'eval.json'}", "horizon=2", "oracle=true"])
    results = evaluate_ac(cfg)
    # every target frame is in the oracle's bank (all training frames): its nearest state is its own
    assert results["feature_l1"]["state_oracle"] == [0.0, 0.0]
    assert min(results["feature_l1"]["copy_last"]) > 0.01 and "state-oracle" in format_table(results)


def test_standardized_features_are_fitted_on_training_frames_and_used_by_the_world_model(encoder_ckpt, dots, workdir):
    run = workdir / "run_standardize"  # with a state decoder, as the demo
    train_ac(ac_config(encoder_ckpt, dots, run, "steps=2", "feature_norm=standardize", "ac.state_decoder=32"))
    state = load_checkpoint(run / "latest.pt")
    assert state["feature_norm"]["mode"] == "standardize" and state["predictor_config"]["norm_output"] is False
    assert state["predictor_config"]["state_decoder"] == 32
    cache = FeatureCache(state["feature_cache"])
    train = torch.cat([torch.from_numpy(cache.get(e).astype(np.float32)) for e in state["split"]["train"]])
    wm = load_world_model(run / "latest.pt")
    z = wm.feature_norm(train)  # every (token, channel): zero mean, unit std over the training frames
    torch.testing.assert_close(z.mean(0), torch.zeros(16, 96), atol=1e-3, rtol=0)
    varying = state["feature_norm"]["std"] > 0.1 * state["feature_norm"]["std"].mean()  # others: floored std
    torch.testing.assert_close(z.std(0, unbiased=False)[varying], torch.ones(int(varying.sum())), atol=1e-3, rtol=0)

    frames = torch.from_numpy(EpisodeDataset(dots)[0].frames[:4])
    cached = wm.feature_norm(torch.from_numpy(cache.get(0)[:4].astype(np.float32)))
    torch.testing.assert_close(wm.encode(frames), cached, atol=0.05, rtol=0)  # float16 cache, amplified by 1/std


@pytest.mark.parametrize("state_decoder,rollout_detach,detached", [
    (0, None, False), (32, None, True), (32, False, False), (0, True, True)])
def test_rollout_is_fed_back_without_gradient_by_default_only_with_a_state_decoder(
        state_decoder, rollout_detach, detached):
    predictor = ActionConditionedPredictor(embed_dim=8, predictor_dim=16, depth=1, num_heads=2, action_dim=2,
                                           state_dim=2, grid_hw=(2, 2), state_decoder=state_decoder)
    objective = ACObjective(predictor, FeatureNorm(4, 8), OmegaConf.structured(ACLoss(rollout_detach=rollout_detach)))
    assert objective.loss_kwargs["detach_feedback"] is detached


def test_world_model_satisfies_the_planning_protocol(trained, dots):
    wm = load_world_model(Path(trained["run_dir"]) / "latest.pt")
    assert isinstance(wm, WorldModel) and isinstance(wm, JEPAWorldModel) and wm.action_dim == 2

    episode = EpisodeDataset(dots)[3]
    z = wm.encode(torch.from_numpy(episode.frames[:5]))
    assert z.shape == (5, 16, 96)
    # the same features the predictor was trained on (the cache, layer-normalised)
    cached = torch.from_numpy(FeatureCache(trained["feature_cache"]).get(3)[:5].astype(np.float32))
    torch.testing.assert_close(z, torch.nn.functional.layer_norm(cached, (96,)), atol=5e-3, rtol=0)  # float16 cache

    states, no_actions = torch.from_numpy(episode.states[:1]), torch.zeros(0, 2)
    actions = torch.randn(6, 3, 2)
    out = wm.rollout(z[:1], states, no_actions, actions)
    assert out.features.shape == (6, 3, 16, 96)
    stats = wm.stats
    direct, direct_states = wm.predictor.rollout(
        z[:1], stats.normalize_states(states), stats.normalize_actions(actions), return_states=True
    )
    torch.testing.assert_close(out.features, direct)
    # the predicted states come back in env units: the predictor's normalised states, de-normalised
    torch.testing.assert_close(stats.normalize_states(out.states), direct_states, atol=1e-5, rtol=1e-5)
    # a two-frame context needs the action between the frames
    two = wm.rollout(z[:2], torch.from_numpy(episode.states[:2]), torch.from_numpy(episode.actions[:1]), actions)
    assert two.features.shape == (6, 3, 16, 96)
    with pytest.raises(ValueError, match=r"context_actions: expected \(Tc-1, A\) = \(1, 2\)"):
        wm.rollout(z[:2], torch.from_numpy(episode.states[:2]), no_actions, actions)
    with pytest.raises(ValueError, match=r"actions: expected \(K, H, A\) with A = action_dim = 2.*\(6, 3, 3\)"):
        wm.rollout(z[:1], states, no_actions, torch.randn(6, 3, 3))
    with pytest.raises(ValueError, match=r"frames: expected uint8 images \(B, H, W, 3\)"):
        wm.encode(torch.zeros(2, 32, 32, dtype=torch.uint8))
    # gradient planners: differentiable in the actions
    acts = torch.zeros(2, 2, 2, requires_grad=True)
    wm.rollout(z[:1].clone(), states, no_actions, acts).features.sum().backward()
    assert acts.grad is not None and acts.grad.abs().sum() > 0


def test_world_model_computes_in_bf16_when_asked_and_hands_back_fp32(trained, dots):
    """``precision=bf16`` (vjepa-plan's ``precision``): the encoder and the predictor under bf16 autocast, features
    and states back in fp32, close to the fp32 model's."""
    path = Path(trained["run_dir"]) / "latest.pt"
    fp32, bf16 = load_world_model(path), load_world_model(path, precision="bf16")
    frames = torch.from_numpy(EpisodeDataset(dots)[3].frames[:2])
    states, actions = torch.full((1, 2), 0.5), torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0))
    outputs = {}
    for name, wm in (("fp32", fp32), ("bf16", bf16)):
        z = wm.encode(frames)
        rollout = wm.rollout(z[:1], states, torch.zeros(0, 2), actions)
        outputs[name] = (z, rollout.features, rollout.states)
    for ours, reference in zip(outputs["bf16"], outputs["fp32"]):
        assert ours.dtype == torch.float32 and not torch.equal(ours, reference)  # bf16 really ran
        assert (ours - reference).norm() < 0.05 * reference.norm()


def test_changed_encoder_warns(trained, encoder_ckpt, tmp_path):
    state = load_checkpoint(encoder_ckpt)
    state["target_encoder"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["target_encoder"].items()}
    torch.save(state, tmp_path / "other.pt")
    with pytest.warns(UserWarning, match="changed since the predictor"):
        load_world_model(Path(trained["run_dir"]) / "latest.pt", encoder_checkpoint=tmp_path / "other.pt")


def test_lerobot_dataset(encoder_ckpt, tmp_path):
    root = write_fake_lerobot_dataset(tmp_path / "lerobot", num_episodes=4, length=10, image_size=32,
                                      action_dim=3, state_dim=4, version="v3.0")
    summary = train_ac(ac_config(encoder_ckpt, root, tmp_path / "run", "steps=3", "data.val_fraction=0.25"))
    assert len(summary["losses"]) == 3 and all(np.isfinite(summary["losses"]))
    assert summary["cache_build"]["encoded_frames"] == 40 and len(summary["split"]["val"]) == 1
    wm = load_world_model(tmp_path / "run" / "latest.pt")
    z = wm.encode(np.zeros((1, 32, 32, 3), np.uint8))
    assert wm.rollout(z, torch.zeros(1, 4), torch.zeros(0, 3), torch.zeros(5, 2, 3)).features.shape == (5, 2, 16, 96)
    with pytest.raises(ValueError, match="action_dim = 3"):
        wm.rollout(z, torch.zeros(1, 4), torch.zeros(0, 3), torch.zeros(5, 2, 2))


def test_fine_tuning_starts_from_a_released_ac_predictor(encoder_ckpt, dots, tmp_path):
    """V-JEPA 2-AC's release layout (names, prefixes, no state head), sized for this encoder and the dots' 2-D
    actions and states: vjepa-train-ac fine-tunes it in the release's own units."""
    from tests.test_official_ac import release_layout

    grid = 4  # the TINY encoder: 32 px, patch 8
    release = ActionConditionedPredictor(embed_dim=96, predictor_dim=32, depth=2, num_heads=2, action_dim=2,
                                         state_dim=2, grid_hw=(grid, grid), max_steps=16, rope_style="vjepa2",
                                         state_update="add_action")
    weights = {f"module.backbone.{k}": v for k, v in release_layout(release).items()}
    torch.save({"encoder": {}, "predictor": weights}, tmp_path / "vjepa2-ac.pt")
    released = [f"init_predictor={tmp_path / 'vjepa2-ac.pt'}", "ac.state_update=add_action", "data.normalize=false",
                "feature_norm=layer", "steps=2", "optim.lr=1e-6", "optim.start_lr=1e-6"]

    with pytest.raises(ValueError, match="set ac.rope_style=vjepa2"):
        train_ac(ac_config(encoder_ckpt, dots, tmp_path / "wrong", *released))
    run = tmp_path / "run"
    train_ac(ac_config(encoder_ckpt, dots, run, *released, "ac.rope_style=vjepa2"))
    state = load_checkpoint(run / "latest.pt")
    for name, value in release.state_dict().items():  # two tiny steps from the released weights
        torch.testing.assert_close(state["predictor"][name], value, rtol=0, atol=1e-4)
    stats = ActionStats.from_state_dict(state["action_stats"])
    assert (stats.action_std == 1).all() and (stats.state_mean == 0).all()  # actions and states as they are
    wm = load_world_model(run / "latest.pt")
    assert wm.predictor.state_head is None and wm.predictor.rope_style == "vjepa2"


def test_actions_from_end_effector_poses(encoder_ckpt, tmp_path):
    """Robot logs whose states are 7-D end-effector poses train with V-JEPA 2-AC's actions, the pose change
    between kept frames (data.action_agg=pose_delta; the logged actions are not read), and plan one action per
    model step."""
    from planning.cli import world_model_blocks

    rng = np.random.default_rng(0)
    with EpisodeWriter(tmp_path / "arm", fps=10, env_id="arm") as writer:
        for _ in range(4):
            frames = rng.integers(0, 255, size=(10, 32, 32, 3), dtype=np.uint8)
            poses = np.cumsum(rng.normal(scale=0.05, size=(10, 7)), axis=0).astype(np.float32)
            writer.add(frames, np.zeros((10, 3), np.float32), poses)  # logged actions of another kind
    summary = train_ac(ac_config(encoder_ckpt, tmp_path / "arm", tmp_path / "run", "steps=2",
                                 "data.action_agg=pose_delta", "data.frame_step=2", "data.num_frames=3"))
    state = load_checkpoint(Path(summary["run_dir"]) / "latest.pt")
    assert state["predictor_config"]["action_dim"] == 7
    assert ActionStats.from_state_dict(state["action_stats"]).action_agg == "pose_delta"
    assert world_model_blocks(load_world_model(Path(summary["run_dir"]) / "latest.pt")) == (1, "repeat")


def test_non_finite_loss_stops_the_run_at_the_next_read_back(encoder_ckpt, dots, tmp_path, monkeypatch):
    """Losses stay on the device between log and checkpoint steps (no host sync per step); the read-back raises
    at the first non-finite one, before any checkpoint past it is written."""
    calls, forward, item = itertools.count(), ACObjective.forward, torch.Tensor.item
    items, items_at_step = [], []

    def nan_from_step_3(self, *args):
        items_at_step.append(len(items))
        loss, parts = forward(self, *args)
        return (loss * float("nan") if next(calls) >= 2 else loss), parts

    def counted_item(self):
        items.append(1)
        return item(self)

    monkeypatch.setattr(ACObjective, "forward", nan_from_step_3)
    monkeypatch.setattr(torch.Tensor, "item", counted_item)
    cfg = ac_config(encoder_ckpt, dots, tmp_path / "run", "steps=8", "log_every=4", "ckpt_every=2", "val_every=100")
    with pytest.raises(LossNotFinite, match="loss became nan at step 3 .*lower optim.lr") as raised:
        train_ac(cfg)
    # the third step's loss: step 3 as metrics.csv and checkpoints count; a user error (one line, exit 2)
    assert isinstance(raised.value, UserError) and isinstance(raised.value, FloatingPointError)
    assert len(items_at_step) == 4 and items_at_step[0] == len(items)  # no .item() from step 0 to the raise
    assert load_checkpoint(tmp_path / "run" / "latest.pt")["step"] == 2  # none written past the bad loss
