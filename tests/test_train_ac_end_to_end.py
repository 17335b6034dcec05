"""`vjepa-train-ac recipe=end_to_end` (LeWM / PLDM style) on the tiny dot episodes: the encoder trains with the
predictor, the run resumes exactly, and the world model planners load encodes with the trained encoder; the same
with one pooled, projected embedding per frame (``end_to_end.embedding=pooled``, LeWM)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from configs.schema.train_ac import ACLoss
from planning.cli import plan
from tests import test_train_ac as frozen_recipe
from tests.conftest import compose_config
from tests.test_train_ac import ac_config
from vjepa.data.episodes import EpisodeDataset
from vjepa.data.transforms import to_model_input
from vjepa.inference import load_encoder
from vjepa.models import ActionConditionedPredictor, VisionTransformer
from vjepa.models.feature_norm import FeatureNorm
from vjepa.models.frame_embedding import PooledProjector
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.errors import ConfigError, RunDirError
from vjepa.train.ac_checkpoint import ACCheckpoint
from vjepa.train.objectives import ACObjective, EndToEndObjective, sigreg, vicreg
from vjepa.train.train_ac import train_ac
from vjepa.world_model import load_world_model

E2E = ["recipe=end_to_end", "batch_size=4", "val_every=4", "ckpt_every=4"]
POOLED = [*E2E, "end_to_end.embedding=pooled", "end_to_end.projector_hidden=32", "end_to_end.projector_dim=16"]
# the frozen recipe's fixtures: one thread, its tiny pretrained encoder (2 steps) and its ten dot episodes
one_thread, workdir = frozen_recipe.one_thread, frozen_recipe.workdir
encoder_ckpt, dots = frozen_recipe.encoder_ckpt, frozen_recipe.dots


@pytest.fixture(scope="module")
def trained(encoder_ckpt, dots, workdir) -> dict:
    """A 4-step end-to-end run from the pretrained encoder, SIGReg against collapse."""
    return train_ac(ac_config(encoder_ckpt, dots, workdir / "run", *E2E, "steps=4"))


def test_encoder_trains_with_the_predictor_under_sigreg(trained, encoder_ckpt):
    assert len(trained["losses"]) == 4 and all(np.isfinite(trained["losses"]))
    assert "feature_cache" not in trained  # frames decoded per window: the encoder changes
    run_dir = Path(trained["run_dir"])
    state = ACCheckpoint.load(run_dir / "latest.pt")
    initial, _ = load_encoder(encoder_ckpt)
    changed = [name for name, value in initial.state_dict().items() if not torch.equal(value, state.encoder[name])]
    assert len(changed) > 0.9 * len(initial.state_dict())
    assert state.encoder_checkpoint == str(encoder_ckpt.resolve()) and state.encoder_which == "encoder"
    assert state.feature_norm.mode == "layer" and state.feature_cache is None
    metrics = (run_dir / "metrics.csv").read_text()
    for name in ("loss_sigreg", "loss_teacher_forcing", "loss_rollout", "val_sigreg"):
        assert f",{name}," in metrics


@pytest.mark.parametrize("embedding", [E2E, POOLED], ids=["tokens", "pooled"])
def test_trains_on_each_device(encoder_ckpt, dots, tmp_path, device, embedding):
    """The encoder (and the projector) and the predictor on ``device`` (bf16 there by precision=auto on a GPU)."""
    summary = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *embedding, "steps=2", f"device={device}"))
    assert len(summary["losses"]) == 2 and all(np.isfinite(summary["losses"]))
    assert load_checkpoint(tmp_path / "run" / "latest.pt")["config"]["device"] == device.type


def test_world_model_encodes_with_the_trained_encoder(trained, encoder_ckpt, dots):
    path = Path(trained["run_dir"]) / "latest.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fingerprint matches: the encoder is the one trained
        wm = load_world_model(path)
    frames = torch.from_numpy(EpisodeDataset(dots)[0].frames[:3])
    initial, _ = load_encoder(encoder_ckpt)
    with pytest.warns(UserWarning, match="changed since the predictor"):  # the same predictor, initial encoder
        before = load_world_model(path, encoder_checkpoint=encoder_ckpt)
    assert not torch.allclose(wm.encode(frames), before.encode(frames), atol=1e-3)
    state = load_checkpoint(path)
    torch.testing.assert_close(wm.encoder.state_dict(), state["encoder"])
    assert wm.image_size == 32 and wm.predictor.embed_dim == initial.embed_dim


def test_resume_reproduces_an_uninterrupted_run(trained, encoder_ckpt, dots, tmp_path):
    first = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *E2E, "steps=4", "stop_after=2"))["losses"]
    rest = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *E2E, "steps=4"))["losses"]
    assert len(first) == 2 and len(rest) == 2
    torch.testing.assert_close(torch.tensor(first + rest), torch.tensor(trained["losses"]), rtol=1e-5, atol=1e-6)
    with pytest.raises(RunDirError, match="holds a run of the other recipe than recipe=frozen"):
        train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", "steps=6"))


def plans_one_episode(world_model: Path, run_dir: Path) -> None:
    """`vjepa-plan` with a tiny CEM plans one two-step Wall episode on ``world_model`` from the features alone."""
    results = plan(compose_config("plan", [
        "planner=cem", f"world_model={world_model}", f"run_dir={run_dir}", "episodes=1", "env.max_steps=2",
        "planner.horizon=2", "save_videos=0", "planner.num_samples=8", "planner.num_elites=2", "planner.iterations=1"]))
    assert results["episodes"] == 1 and 0.0 <= results["success_rate"] <= 1.0


def test_vicreg_from_scratch_plans_and_evaluates(dots, tmp_path):
    """PLDM's regulariser on an encoder trained from a model preset; the checkpoint plans in Wall (2-D actions
    and states, as the dots) and `vjepa-eval-ac` scores it on the trained encoder's features."""
    from vjepa.eval.eval_ac import evaluate_ac

    cfg = ac_config("null", dots, tmp_path / "run", *E2E, "steps=2", "end_to_end.regularizer=vicreg",
                    "model=vit_tiny", "model.size=vit_micro", "model.patch_size=8", "image_size=32")
    summary = train_ac(cfg)
    assert all(np.isfinite(summary["losses"]))
    assert ",loss_variance," in (tmp_path / "run" / "metrics.csv").read_text()
    world_model = tmp_path / "run" / "latest.pt"
    assert ACCheckpoint.load(world_model).encoder_checkpoint == ""  # from scratch
    plans_one_episode(world_model, tmp_path / "plan")
    evaluated = evaluate_ac(compose_config("eval_ac", [f"checkpoint={world_model}", "horizon=2", "figure=false",
                                                       f"output={tmp_path / 'eval.json'}"]))
    assert all(np.isfinite(evaluated["feature_l1"]["predictor"]))


def test_vicreg_penalises_collapsed_and_correlated_channels():
    gaussian = torch.randn(4096, 8, generator=torch.Generator().manual_seed(0))
    variance, covariance = vicreg(gaussian)
    assert variance < 0.05 and covariance < 0.01
    assert vicreg(torch.zeros(64, 8))[0] > 0.95  # every channel constant
    assert vicreg(gaussian[:, :1].repeat(1, 8))[1] > 5  # every channel the same


def test_regularisers_average_over_token_positions():
    """The recipe regularises each token position over the frames, (N, B*T, D): the mean of N statistics."""
    positions = torch.randn(3, 64, 8, generator=torch.Generator().manual_seed(0))
    seeded = lambda: torch.Generator().manual_seed(1)  # noqa: E731 (the same directions for each call)
    torch.testing.assert_close(sigreg(positions, generator=seeded()),
                               torch.stack([sigreg(p, generator=seeded()) for p in positions]).mean())
    for ours, each in zip(vicreg(positions), zip(*(vicreg(p) for p in positions))):
        torch.testing.assert_close(ours, torch.stack(each).mean())


@pytest.fixture(scope="module")
def pooled(encoder_ckpt, dots, workdir) -> dict:
    """A 4-step end-to-end run with one embedding per frame: the tokens concatenated, then projected to 16-d."""
    return train_ac(ac_config(encoder_ckpt, dots, workdir / "pooled", *POOLED, "steps=4"))


def test_pooled_world_model_encodes_one_projected_embedding_per_frame(pooled, dots):
    """The checkpoint holds the trained projector; the world model pools and projects as training did (batch
    norm's running statistics), then layer-normalises: (B, 1, 16), which the predictor reads on a 1x1 grid."""
    path = Path(pooled["run_dir"]) / "latest.pt"
    state = ACCheckpoint.load(path)
    encoder, _ = load_encoder(path)
    assert state.embedding == "pooled"
    assert state.projector_config == {"embed_dim": encoder.embed_dim, "hidden_dim": 32, "dim": 16,
                                      "pool": "flatten", "num_tokens": 16}  # the tiny encoder's 4 x 4 grid
    assert state.predictor_config["grid_hw"] == [1, 1] and state.predictor_config["embed_dim"] == 16
    assert state.projector["mlp.1.num_batches_tracked"] > 0  # batch norm's running statistics were trained
    wm = load_world_model(path)
    torch.testing.assert_close(wm.projector.state_dict(), state.projector)
    frames = torch.from_numpy(EpisodeDataset(dots)[0].frames[:3])
    z = wm.encode(frames)
    assert z.shape == (3, 1, 16)
    tokens = encoder(to_model_input(frames[:, None], 32))  # (3, N, D)
    expected = F.layer_norm(state.build_projector().eval()(tokens), (16,))
    torch.testing.assert_close(z, expected)
    rollout = wm.rollout(z[:1], torch.zeros(1, 2), torch.zeros(0, 2), torch.zeros(4, 2, 2))
    assert rollout.features.shape == (4, 2, 1, 16)


def test_flattened_tokens_keep_where_each_token_is(encoder_ckpt, dots, tmp_path):
    """``projector_pool=flatten`` (the default) reads the frame's tokens concatenated in grid order, so frames whose
    tokens differ only in place embed apart; ``mean`` averages them, and they embed alike."""
    run = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *POOLED, "end_to_end.projector_pool=mean",
                             "steps=2"))
    state = ACCheckpoint.load(Path(run["run_dir"]) / "latest.pt")
    assert state.projector_config["pool"] == "mean" and state.projector_config["num_tokens"] is None
    wm = load_world_model(Path(run["run_dir"]) / "latest.pt")
    assert wm.encode(torch.from_numpy(EpisodeDataset(dots)[0].frames[:3])).shape == (3, 1, 16)
    tokens = torch.randn(1, 16, state.projector_config["embed_dim"])  # a 4 x 4 grid
    moved = tokens.roll(1, dims=1)  # the same tokens, each one place on
    mean, flatten = state.build_projector().eval(), PooledProjector(tokens.shape[-1], 32, 16, "flatten", 16).eval()
    assert not torch.allclose(flatten(tokens), flatten(moved))
    torch.testing.assert_close(mean(tokens), mean(moved))


def test_pooled_resume_reproduces_an_uninterrupted_run(pooled, encoder_ckpt, dots, tmp_path):
    first = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *POOLED, "steps=4", "stop_after=2"))["losses"]
    rest = train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *POOLED, "steps=4"))["losses"]
    torch.testing.assert_close(torch.tensor(first + rest), torch.tensor(pooled["losses"]), rtol=1e-5, atol=1e-6)
    resumed, uninterrupted = (ACCheckpoint.load(Path(run) / "latest.pt") for run in (tmp_path / "run",
                                                                                     pooled["run_dir"]))
    torch.testing.assert_close(resumed.projector, uninterrupted.projector)
    with pytest.raises(RunDirError, match="end_to_end.embedding=pooled"):  # per-token features on a pooled run
        train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *E2E, "steps=6"))
    with pytest.raises(RunDirError, match="hidden_dim"):
        train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *POOLED, "steps=6", "end_to_end.projector_hidden=8"))


def test_pooled_world_model_plans_and_evaluates(pooled, tmp_path):
    """`vjepa-plan` on the pooled checkpoint, and `vjepa-eval-ac` with its error map (one cell per step)."""
    from vjepa.eval.eval_ac import evaluate_ac

    world_model = Path(pooled["run_dir"]) / "latest.pt"
    plans_one_episode(world_model, tmp_path / "plan")
    evaluated = evaluate_ac(compose_config("eval_ac", [f"checkpoint={world_model}", "horizon=2", "oracle=true",
                                                       f"output={tmp_path / 'eval.json'}"]))
    assert all(np.isfinite(evaluated["feature_l1"]["predictor"])) and evaluated["grid_hw"] == [1, 1]
    assert np.asarray(evaluated["token_l1"]["predictor"]).shape == (2, 1) and Path(evaluated["figure"]).is_file()


def test_pooled_regulariser_sees_one_set_of_frame_embeddings():
    """With a projector, SIGReg tests the B*T frame embeddings (B*T, D') as one set, not each token position."""
    torch.manual_seed(0)
    encoder = VisionTransformer(embed_dim=24, depth=1, num_heads=2, patch_size=16, pos_embed="rope")
    predictor = ActionConditionedPredictor(embed_dim=8, predictor_dim=16, depth=1, num_heads=2, action_dim=2,
                                           state_dim=2, grid_hw=(1, 1))
    ac = ACObjective(predictor, FeatureNorm(1, 8), OmegaConf.structured(ACLoss()))
    regularizer = {"regularizer": "sigreg", "sigreg": {"weight": 1.0, "directions": 16}}
    objective = EndToEndObjective(encoder, ac, 32, regularizer, PooledProjector(24, 32, 8))
    frames = torch.randint(0, 256, (2, 3, 32, 32, 3), dtype=torch.uint8)
    embeddings = objective.encode(frames)
    assert embeddings.shape == (2, 3, 1, 8)  # one 8-d embedding per frame
    seeded = lambda: torch.Generator().manual_seed(1)  # noqa: E731 (the same directions for each call)
    _, parts = objective(frames, torch.randn(2, 3, 2), torch.randn(2, 3, 2), generator=seeded())
    torch.testing.assert_close(parts["sigreg"], sigreg(embeddings.reshape(6, 8), 16, seeded()).detach())


@pytest.mark.parametrize("embedding", ["tokens", "pooled"])
def test_demo_trains_the_end_to_end_recipe(tmp_path, embedding):
    """``vjepa-demo train_ac.recipe=end_to_end``: the same stages (evaluation, probe, planning) on a world model
    whose encoder trained with its predictor, starting from the demo's pretrained one; pooled, its energy
    landscape too."""
    from planning.demo import run_demo
    from tests.test_plan_cli import TINY_DEMO, TINY_PLANNERS

    cem = [f"++planner_settings.cem.{o.split('.', 1)[1]}" for o in TINY_PLANNERS["cem"]]
    summary = run_demo(compose_config("demo", [
        f"out={tmp_path}", *TINY_DEMO, *cem, "threads=1", "planners=[cem]", f"landscape={embedding == 'pooled'}",
        "train_ac.recipe=end_to_end", f"train_ac.end_to_end.embedding={embedding}"]))
    state = ACCheckpoint.load(tmp_path / "train_ac" / "latest.pt")
    assert state.encoder is not None and state.encoder_checkpoint == str(tmp_path / "pretrain" / "latest.pt")
    assert state.embedding == embedding
    assert summary["planners"]["cem"]["episodes"] == 2 and "world_model" in summary
    assert (tmp_path / "plan" / "landscape.png").is_file() == (embedding == "pooled")


@pytest.mark.parametrize("overrides,match", [
    (["recipe=joint"], r"recipe.*frozen \| end_to_end"),
    (["recipe=end_to_end", "end_to_end.regularizer=barlow"], r"end_to_end.regularizer.*sigreg \| vicreg"),
    (["recipe=end_to_end", "end_to_end.embedding=cls"], r"end_to_end.embedding.*tokens \| pooled"),
    (["recipe=end_to_end", "end_to_end.embedding=pooled", "end_to_end.projector_hidden=0"],
     r"end_to_end.projector_hidden"),
    (["recipe=end_to_end", "end_to_end.embedding=pooled", "end_to_end.projector_dim=-4"], r"end_to_end.projector_dim"),
    (["recipe=end_to_end", "feature_norm=standardize"], r"feature_norm.*layer"),
    (["recipe=end_to_end", "encoder=null"], r"encoder.*model=vit_tiny"),
    (["encoder=null"], r"encoder"),
])
def test_bad_recipe_keys_are_one_line_errors(encoder_ckpt, dots, tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match) as raised:
        train_ac(ac_config(encoder_ckpt, dots, tmp_path / "run", *overrides))
    assert "\n" not in str(raised.value)
