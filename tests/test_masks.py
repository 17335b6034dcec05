import re

import av
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from tests.conftest import compose_config
from vjepa.cli.show_masks import main as show_masks
from vjepa.masks import (
    BlockSpec,
    MaskCollator,
    MaskGroup,
    MultiBlockMasker,
    ijepa_masks,
    masker_from_config,
    save_mask_figure,
    vjepa_masks,
)
from vjepa.masks.visualize import token_counts
from vjepa.runtime.errors import ConfigError

VIDEO_GRID = (8, 14, 14)  # 16 frames, 224 px, tubelet 2, patch 16


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_bool(indices: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """(B, k) token indices -> bool (B, N)."""
    mask = torch.zeros(indices.shape[0], num_tokens, dtype=torch.bool)
    return mask.scatter_(1, indices, True)


@pytest.mark.parametrize("masker", [vjepa_masks(VIDEO_GRID), ijepa_masks((1, 14, 14))], ids=["vjepa", "ijepa"])
def test_indices_are_sorted_disjoint_in_range_and_batched(masker):
    batch_size, num_tokens = 6, masker.num_tokens
    masks = masker(batch_size, gen())
    assert len(masks) == len(masker.groups)
    for context_idx, target_idx in masks:
        for idx in (context_idx, target_idx):
            assert idx.dtype == torch.int64 and idx.ndim == 2 and idx.shape[0] == batch_size
            assert 0 <= idx.min() and idx.max() < num_tokens
            assert (idx.diff(dim=1) > 0).all()  # sorted ascending, no repeats
        assert context_idx.shape[1] >= masker.min_keep and target_idx.shape[1] >= 1
        assert not (as_bool(context_idx, num_tokens) & as_bool(target_idx, num_tokens)).any()


def test_lengths_are_batch_minimum_of_random_subsets():
    masker = vjepa_masks(VIDEO_GRID)
    full = masker.sample_masks(8, gen(3))  # same draws as the call below, before equalising lengths
    for (context, target), (context_idx, target_idx) in zip(full, masker(8, gen(3))):
        assert context_idx.shape[1] == context.sum(1).min() and target_idx.shape[1] == target.sum(1).min()
        kept = as_bool(target_idx, masker.num_tokens)
        assert not (kept & ~target).any()  # kept tokens come from the sample's own target mask
        prefixes = [own.nonzero().squeeze(1)[: target_idx.shape[1]] for own in target]
        assert not all(map(torch.equal, prefixes, target_idx))  # a random subset, not the first Nt indices


def test_single_block_honours_spatial_scale_and_aspect():
    grid = (1, 20, 20)
    square = MultiBlockMasker(grid, [MaskGroup(BlockSpec(1, (0.3, 0.3), aspect_ratio=(1.0, 1.0)))])
    _, target = square.sample_masks(4, gen())[0]
    assert (target.sum(1) == 11 * 11).all()  # side round(sqrt(int(0.3 * 400))) = 11

    tall = MultiBlockMasker(grid, [MaskGroup(BlockSpec(1, (0.32, 0.32), aspect_ratio=(2.0, 2.0)))])
    _, target = tall.sample_masks(4, gen())[0]
    rows_masked, cols_masked = target.view(4, 20, 20).any(dim=2).sum(1), target.view(4, 20, 20).any(dim=1).sum(1)
    assert (rows_masked == 16).all() and (cols_masked == 8).all()  # aspect = height / width = 2, area 128

    ranged = MultiBlockMasker(grid, [MaskGroup(BlockSpec(1, (0.15, 0.2)))])
    fractions = torch.stack([ranged.sample_masks(1, gen(s))[0][1].float().mean() for s in range(200)])
    assert 0.14 < fractions.mean() < 0.21 and fractions.min() >= 0.1 and fractions.max() <= 0.25


def test_vjepa_preset_masking_ratios():
    """Short-range (8 x 0.15) and long-range (2 x 0.7) unions, as the official sampler gives them."""
    masker, generator = vjepa_masks(VIDEO_GRID), gen()
    ratios = torch.tensor(
        [[target.float().mean() for _, target in masker.sample_masks(16, generator)] for _ in range(30)]
    ).mean(0)
    assert 0.55 < ratios[0] < 0.72 and 0.75 < ratios[1] < 0.9, ratios


def test_blocks_span_full_time_or_the_temporal_scale():
    t, h, w = VIDEO_GRID
    _, target = vjepa_masks(VIDEO_GRID).sample_masks(8, gen())[0]
    per_position = target.view(8, t, h * w)
    assert (per_position.all(dim=1) == per_position.any(dim=1)).all()  # masked in every frame or in none

    half = MultiBlockMasker(VIDEO_GRID, [MaskGroup(BlockSpec(1, (0.2, 0.2), temporal_scale=(0.5, 0.5)))])
    _, target = half.sample_masks(8, gen())[0]
    frames_masked = target.view(8, t, h * w).sum(dim=1)
    assert set(frames_masked.unique().tolist()) == {0, t // 2}


def test_ijepa_context_is_a_block_minus_the_targets():
    context, target = ijepa_masks((1, 14, 14)).sample_masks(16, gen())[0]
    for ctx, tgt in zip(context.view(16, 14, 14), target.view(16, 14, 14)):
        rows, cols = ctx.nonzero().unbind(1)
        box = torch.zeros_like(ctx)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert torch.equal(ctx, box & ~tgt)
    assert (context.sum(1) < (~target).sum(1)).any()  # the context block, not the whole complement
    with pytest.raises(ValueError, match="grid"):
        ijepa_masks(VIDEO_GRID)


def test_same_generator_seed_same_masks():
    masker = vjepa_masks(VIDEO_GRID)
    first, again, other = masker(4, gen(7)), masker(4, gen(7)), masker(4, gen(8))
    assert all(torch.equal(a, b) for pa, pb in zip(first, again) for a, b in zip(pa, pb))
    assert not all(a.shape == b.shape and torch.equal(a, b) for pa, pb in zip(first, other) for a, b in zip(pa, pb))


def test_only_the_samples_left_without_context_are_redrawn():
    """On a 4x4x4 grid, two 3x4 target blocks cover a whole frame for many samples: a batch of 256 must still
    come out (redrawing the whole batch until every sample passes at once never would)."""
    blocks = BlockSpec(num_blocks=2, spatial_scale=(0.7, 0.7), aspect_ratio=(0.75, 0.75))
    masker = MultiBlockMasker((4, 4, 4), [MaskGroup(blocks)])
    for seed in range(5):
        ((context_idx, target_idx),) = masker(256, gen(seed))
        assert context_idx.shape[0] == 256 and context_idx.shape[1] >= 4 and target_idx.shape[1] >= 1


def test_too_small_context_raises_after_retries():
    everything = MultiBlockMasker((2, 4, 4), [MaskGroup(BlockSpec(1, (1.0, 1.0), aspect_ratio=(1.0, 1.0)))])
    with pytest.raises(RuntimeError, match="min_keep"):
        everything(2, gen())


def test_config_builds_the_preset_and_accepts_omegaconf():
    cfg = {
        "groups": [
            {"targets": {"num_blocks": 8, "spatial_scale": [0.15, 0.15], "aspect_ratio": [0.75, 1.5],
                         "temporal_scale": [1.0, 1.0]}, "context": None},
            {"targets": {"num_blocks": 2, "spatial_scale": 0.7}},
        ]
    }
    for config in (cfg, OmegaConf.create(cfg)):
        masker = masker_from_config(config, VIDEO_GRID)
        assert masker.groups == vjepa_masks(VIDEO_GRID).groups


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({}, "missing key 'groups' \\(mask\\)"),
        ({"groups": []}, r"\(mask.groups\)"),
        ({"groups": [{"targets": {"num_blocks": 1, "spatial_scale": 0.2}}], "min_keep": 0}, r"\(mask.min_keep\)"),
        ({"groups": [{"targets": {"num_blocks": 4}}]}, r"missing key 'spatial_scale' \(mask.groups.0.targets\)"),
        ({"groups": [{"targets": {"num_block": 4, "spatial_scale": 0.2}}]}, "unknown key 'num_block'"),
        ({"groups": [{"targets": {"num_blocks": 4, "spatial_scale": [0.0, 0.2]}}]}, r"targets.spatial_scale\)"),
        ({"groups": [{"targets": {"num_blocks": 4, "spatial_scale": 1.5}}]}, r"targets.spatial_scale\)"),
        ({"groups": [{"targets": {"num_blocks": 4, "spatial_scale": 0.2, "aspect_ratio": [1.5, 0.75]}}]},
         r"\(mask.groups.0.targets.aspect_ratio\)"),
        ({"groups": [{"targets": {"num_blocks": 1, "spatial_scale": 0.2},
                      "context": {"num_blocks": 0, "spatial_scale": 0.9}}]}, r"\(mask.groups.0.context.num_blocks\)"),
    ],
)
def test_config_errors_name_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        masker_from_config(cfg, VIDEO_GRID)


def test_masks_that_leave_no_context_are_refused_before_training():
    """Two blocks as large as the grid cover it in most draws: a run would fail at some step; refused up front."""
    config = {"groups": [{"targets": {"num_blocks": 8, "spatial_scale": 0.15}},
                         {"targets": {"num_blocks": 2, "spatial_scale": [1.0, 1.0]}}]}
    with pytest.raises(ConfigError, match=r"fewer than 4 context tokens .* \(mask.groups.1\) — lower"):
        masker_from_config(config, (4, 4, 4)).check_feasible(num_samples=8000)
    vjepa_masks((4, 4, 4)).check_feasible(num_samples=1000 * 8)  # the default run (1000 steps of 8 clips): fine


def make_samples(seeds, frames=4, size=32):
    return [
        {"clip": torch.randn(3, frames, size, size), "index": 10 + i, "seed": seed, "skipped": i % 2}
        for i, seed in enumerate(seeds)
    ]


def test_collator_output_and_seed_determinism():
    grid = (2, 2, 2)
    masker = MultiBlockMasker(grid, [MaskGroup(BlockSpec(1, (0.25, 0.5), aspect_ratio=(0.5, 2.0)))], min_keep=1)
    samples = make_samples([101, 202, 303])
    batch = MaskCollator(masker, seed=5)(samples)
    assert batch["clips"].shape == (3, 3, 4, 32, 32) and torch.equal(batch["clips"][1], samples[1]["clip"])
    assert torch.equal(batch["index"], torch.tensor([10, 11, 12])) and batch["skipped"] == 1
    ((context_idx, target_idx),) = batch["masks"]
    assert context_idx.shape[0] == target_idx.shape[0] == 3

    def long_range_targets(seeds, collator_seed=5):  # enough tokens that other seeds give other masks
        return MaskCollator(vjepa_masks(VIDEO_GRID), collator_seed)(make_samples(seeds))["masks"][1][1]

    # a fresh collator (as in another worker) gives the same masks for the same samples
    assert torch.equal(long_range_targets([1, 2]), long_range_targets([1, 2]))
    assert not torch.equal(long_range_targets([1, 2]), long_range_targets([3, 2]))
    assert not torch.equal(long_range_targets([1, 2]), long_range_targets([1, 2], collator_seed=6))


def test_collator_masks_do_not_depend_on_worker_count():
    samples = make_samples(range(1000, 1008), frames=2, size=8)
    collator = MaskCollator(vjepa_masks(VIDEO_GRID), seed=1)

    def long_range_targets(num_workers):
        loader = DataLoader(samples, batch_size=4, collate_fn=collator, num_workers=num_workers)
        return [batch["masks"][1][1] for batch in loader]

    assert all(map(torch.equal, long_range_targets(0), long_range_targets(2)))


@pytest.mark.parametrize("layout", ["uint8 (T,H,W,C)", "normalised (C,T,H,W)"])
def test_mask_figure_is_written(tmp_path, layout):
    grid, patch, tubelet = (2, 4, 4), 8, 2
    clip = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    if layout.startswith("normalised"):
        clip = torch.randn(3, 4, 32, 32)
    groups = [(context_idx[0], target_idx[0]) for context_idx, target_idx in vjepa_masks(grid)(1, gen())]
    path = save_mask_figure(clip, groups, grid, patch, tubelet, tmp_path / "fig" / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="does not cover grid"):
        save_mask_figure(clip, groups, (2, 5, 5), patch, tubelet, tmp_path / "bad.png")


def test_token_counts_say_what_every_token_is():
    assert token_counts(64, 20, 28) == "64 tokens: context 20, targets 28, neither 16"
    with pytest.raises(ValueError, match="exceed"):
        token_counts(64, 40, 28)


def write_video(path, frames=6, height=48, width=64):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), 40 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def counts_printed(out: str) -> list[tuple[int, int, int, int]]:
    """(tokens, context, targets, neither) of every group vjepa-show-masks printed."""
    found = re.findall(r"(\d+) tokens: context (\d+), targets (\d+), neither (\d+)", out)
    return [tuple(int(n) for n in group) for group in found]


def test_show_masks_writes_exactly_out_on_the_pretraining_grid(tmp_path, capsys, command_line):
    command_line(show_masks, f"out={tmp_path / 'masks.png'}")  # the default pretraining run: 8 frames of 64 px
    out = capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["masks.png"] and (tmp_path / "masks.png").stat().st_size > 1000
    assert "grid 4x4x4" in out
    counts = counts_printed(out)
    assert len(counts) == 2  # configs/mask/vjepa.yaml's two groups, in one figure
    assert all(tokens == 64 and context + targets + neither == tokens for tokens, context, targets, neither in counts)


def test_show_masks_cli(tmp_path, capsys, command_line):
    video = tmp_path / "clip.mp4"
    write_video(video)
    command_line(show_masks, f"out={tmp_path / 'v.png'}", f"video={video}", "data.frames_per_clip=8",
                 "data.crop_size=32", "model.patch_size=8")
    command_line(show_masks, f"out={tmp_path / 'i.png'}", "data=synthetic_images", "mask=ijepa",
                 "model.tubelet_size=1", "data.crop_size=32", "model.patch_size=8")
    counts = counts_printed(capsys.readouterr().out)
    assert [c[0] for c in counts] == [64, 64, 16]  # 4x4x4 twice (two groups), 1x4x4
    assert all(context + targets + neither == tokens for tokens, context, targets, neither in counts)
    for name in ("v.png", "i.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["i.png", "v.png"]

    saved = tmp_path / "config.yaml"  # a run's saved config, with a key=value override
    saved.write_text(OmegaConf.to_yaml(compose_config("pretrain", ["data.crop_size=32", "model.patch_size=8"])))
    command_line(show_masks, f"out={tmp_path / 's.png'}", f"saved={saved}", "data.frames_per_clip=4")
    assert "grid 2x4x4" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a preset is not a value of the saved config
        command_line(show_masks, f"out={tmp_path / 'x.png'}", f"saved={saved}", "mask=ijepa")
    assert capsys.readouterr().err.startswith("error: cannot apply mask=ijepa to it")

    with pytest.raises(SystemExit):
        command_line(show_masks, f"out={tmp_path / 'x.png'}", "data.crop_size_typo=32")
    assert capsys.readouterr().err.startswith("error: no such key (data.crop_size_typo)")

    (tmp_path / "clip.txt").write_bytes(b"not a video")
    with pytest.raises(SystemExit):
        command_line(show_masks, f"out={tmp_path / 'x.png'}", f"video={tmp_path / 'clip.txt'}")
    assert "clip.txt" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
