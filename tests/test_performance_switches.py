"""The speed switches change speed, not results: bf16 autocast stays close to fp32, activation checkpointing and
gradient accumulation give the gradients of the plain run, and the fast code paths (patch embedding as a matmul,
RoPE as a complex multiply, explicit attention for bf16 on CPU) compute the same function as the textbook formulas.

(Chunked CEM planning = unchunked for a fixed seed is tested in tests/test_planning.py.)"""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from tests.conftest import compose_config
from vjepa.models import ActionConditionedPredictor, MaskPredictor, TubeletEmbed, VisionTransformer
from vjepa.models.ac_predictor import ac_loss
from vjepa.models.blocks import attention
from vjepa.models.factory import build_encoder, build_predictor
from vjepa.models.pos_embed import RotaryEmbedding3D, apply_rotary, grid_coords
from vjepa.runtime import device as precision_module
from vjepa.train import jepa as jepa_module
from vjepa.train.jepa import JEPA


def small_jepa(pos_embed="rope", grad_checkpointing=False, seed=0):
    torch.manual_seed(seed)
    encoder = VisionTransformer(embed_dim=48, depth=2, num_heads=3, patch_size=8, tubelet_size=2,
                                pos_embed=pos_embed, grad_checkpointing=grad_checkpointing)
    predictor = MaskPredictor(embed_dim=48, predictor_dim=24, depth=2, num_heads=3, pos_embed=pos_embed,
                              grad_checkpointing=grad_checkpointing)
    return JEPA(encoder, predictor)


def equal_length_masks(batch, num_tokens=32, seed=0, device="cpu"):
    """Two mask groups of per-sample random (context, target) indices with equal lengths across samples."""
    generator = torch.Generator().manual_seed(seed)
    masks = []
    for num_context, num_target in ((12, 10), (6, 20)):
        order = torch.stack([torch.randperm(num_tokens, generator=generator) for _ in range(batch)])
        masks.append((order[:, :num_context].sort(1).values.to(device),
                      order[:, num_context:num_context + num_target].to(device)))
    return masks


def grads(module):
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def counted(forward, calls):
    def wrapper(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    return wrapper


def relative_error(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("pos_embed", ["rope", "sincos"])
def test_bf16_autocast_forward_agrees_with_fp32(pos_embed, device):
    jepa = small_jepa(pos_embed).to(device)
    clips = torch.randn(2, 3, 4, 32, 32, device=device)
    masks = equal_length_masks(2, device=device)
    context_idx, target_idx = masks[0]
    with torch.no_grad():
        full, context = jepa.encoder(clips), jepa.encoder(clips, context_idx)
        pred = jepa.predictor(context, context_idx, target_idx, (2, 4, 4))
        loss, _ = jepa(clips, masks)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            full16, context16 = jepa.encoder(clips), jepa.encoder(clips, context_idx)
            pred16 = jepa.predictor(context16, context_idx, target_idx, (2, 4, 4))
            loss16, _ = jepa(clips, masks)
    assert full16.dtype == torch.bfloat16  # autocast really ran the matmuls in bf16
    assert relative_error(full16, full) < 0.03
    assert relative_error(context16, context) < 0.03
    assert relative_error(pred16, pred) < 0.03
    assert loss16.dtype == torch.float32  # the loss is computed in fp32
    assert abs(loss16.item() - loss.item()) < 0.02 * loss.item()


@pytest.mark.parametrize("pos_embed", ["rope", "sincos"])
def test_activation_checkpointing_gives_the_same_gradients(pos_embed, device):
    clips = torch.randn(2, 3, 4, 32, 32, device=device)
    masks = equal_length_masks(2, device=device)
    runs = []
    for checkpointing in (False, True):
        jepa = small_jepa(pos_embed, grad_checkpointing=checkpointing).to(device)
        calls = []
        for block in jepa.encoder.blocks:  # count the context encoder's block evaluations
            block.forward = counted(block.forward, calls)
        loss, _ = jepa(clips, masks)
        loss.backward()
        runs.append((loss.detach(), grads(jepa), len(calls)))
    (loss, plain, calls), (loss_ckpt, ckpt, calls_ckpt) = runs
    # 2 blocks x 2 mask groups; with checkpointing each is evaluated again in the backward pass
    assert (calls, calls_ckpt) == (4, 8)
    torch.testing.assert_close(loss_ckpt, loss, rtol=0, atol=0)
    assert plain.keys() == ckpt.keys() and len(plain) > 0
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], rtol=1e-5, atol=1e-7, msg=name)


def test_gradient_accumulation_equals_one_larger_batch(device):
    k, micro = 3, 2
    clips = torch.randn(k * micro, 3, 4, 32, 32, device=device)
    masks = equal_length_masks(k * micro, device=device)  # equal lengths: the big batch's loss is the micro ones' mean
    jepa = small_jepa().to(device)
    loss, _ = jepa(clips, masks)
    loss.backward()
    full = grads(jepa)

    jepa.zero_grad(set_to_none=True)
    for i in range(k):  # as the loop does: (loss / grad_accum).backward() per micro-batch
        rows = slice(i * micro, (i + 1) * micro)
        micro_loss, _ = jepa(clips[rows], [(c[rows], t[rows]) for c, t in masks])
        (micro_loss / k).backward()
    accumulated = grads(jepa)
    assert full.keys() == accumulated.keys()
    for name in full:
        torch.testing.assert_close(accumulated[name], full[name], rtol=1e-4, atol=1e-6, msg=name)


def test_config_switches_reach_the_models():
    cfg = compose_config("pretrain", ["model.grad_checkpointing=true", "grad_accum=4"])
    assert cfg.grad_accum == 4  # the loop's micro-batches per optimiser step (tested above at module level)
    encoder = build_encoder(cfg.model)
    assert encoder.grad_checkpointing and build_predictor(cfg.model, encoder.embed_dim).grad_checkpointing
    assert not build_encoder(compose_config("pretrain", []).model).grad_checkpointing  # off by default


@pytest.mark.parametrize("pos_embed", ["rope", "sincos"])
def test_packed_contexts_equal_one_pass_per_mask_group(pos_embed, monkeypatch):
    jepa = small_jepa(pos_embed)
    clips = torch.randn(2, 3, 4, 32, 32)
    masks = equal_length_masks(2)
    runs = []
    for packed in (False, True):
        monkeypatch.setattr(jepa_module, "pack_contexts", lambda *_, packed=packed: packed)
        contexts = jepa.contexts(clips, [c for c, _ in masks])
        loss, _ = jepa(clips, masks)
        loss.backward()
        runs.append((contexts, loss.detach(), grads(jepa)))
        jepa.zero_grad(set_to_none=True)
    (contexts, loss, plain), (contexts_packed, loss_packed, packed) = runs
    assert [c.shape for c in contexts_packed] == [(2, 12, 48), (2, 6, 48)]
    for a, b in zip(contexts_packed, contexts):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss_packed, loss, rtol=1e-5, atol=1e-6)
    for name in plain:
        torch.testing.assert_close(packed[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


def test_contexts_are_packed_only_where_it_is_cheap():
    cpu = torch.device("cpu")
    assert jepa_module.pack_contexts([20, 8], 192, cpu)  # the tiny config: one pass for both groups
    assert not jepa_module.pack_contexts([160, 56], 384, cpu)  # the small config: one pass per group
    assert not jepa_module.pack_contexts([20, 8], 192, torch.device("meta"))  # CPU only


def test_patch_embedding_matmul_equals_the_convolution():
    torch.manual_seed(0)
    embed = TubeletEmbed(patch_size=8, tubelet_size=2, in_chans=3, embed_dim=24)
    for clips in (torch.randn(2, 3, 4, 16, 24), torch.randn(2, 3, 1, 16, 16)):  # a clip, and an image
        video = clips.expand(-1, -1, 2, -1, -1) if clips.shape[2] == 1 else clips
        reference = rearrange(embed.proj(video), "b d t h w -> b (t h w) d")
        torch.testing.assert_close(embed(clips), reference, rtol=1e-5, atol=1e-5)
        idx = torch.tensor([[0, 3, 2], [3, 1, 0]])  # only the wanted tubelets are embedded
        torch.testing.assert_close(embed(clips, idx), reference.gather(1, idx[..., None].expand(-1, -1, 24)),
                                   rtol=1e-5, atol=1e-5)


def test_complex_rope_equals_the_real_formula_with_gradients():
    def textbook(x, cos, sin):
        x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
        return torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)

    torch.manual_seed(0)
    cos, sin = RotaryEmbedding3D(head_dim=16)(grid_coords((2, 2, 3))[None].expand(2, -1, -1))
    base = torch.randn(2, 12, 3 * 2 * 16, requires_grad=True)
    qkv = rearrange(base, "b n (three h d) -> three b h n d", three=3, h=2)  # strided views, as in attention
    for x in (qkv[:2], qkv[1]):
        fast, slow = apply_rotary(x, cos, sin), textbook(x, cos, sin)
        torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-6)
        weight = torch.randn_like(fast)
        (grad_fast,) = torch.autograd.grad(fast, base, weight)
        (grad_slow,) = torch.autograd.grad(slow, base, weight)
        torch.testing.assert_close(grad_fast, grad_slow, rtol=1e-6, atol=1e-6)
    odd = torch.randn(2, 2, 12, 17)[..., 1:]  # an odd storage offset falls back to a copy, same result
    torch.testing.assert_close(apply_rotary(odd, cos, sin), textbook(odd, cos, sin), rtol=1e-6, atol=1e-6)
    half = torch.randn(2, 2, 12, 16, dtype=torch.bfloat16)  # bf16 is rotated in fp32 and rounded once
    rotated = apply_rotary(half, cos, sin)
    assert rotated.dtype == torch.bfloat16
    torch.testing.assert_close(rotated.float(), textbook(half.float(), cos, sin), rtol=2**-8, atol=1e-6)


@pytest.mark.parametrize("mask", [None, "bool", "additive"])
def test_explicit_attention_on_cpu_matches_sdpa_with_gradients(mask):
    """Short sequences on CPU take two matmuls around a softmax instead of SDPA's kernel: the same attention,
    with masks of both kinds (a block-causal one here), forward and backward — to fp32 rounding in fp32, up to
    bf16 rounding in bf16."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 16, requires_grad=True) for _ in range(3))
    allowed = torch.ones(10, 10).tril().bool()
    attn_mask = {None: None, "bool": allowed,
                 "additive": torch.zeros(10, 10).masked_fill(~allowed, float("-inf"))}[mask]
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    weight = torch.randn_like(reference)
    reference_grads = torch.autograd.grad(reference, (q, k, v), weight)

    out = attention(q, k, v, attn_mask)
    torch.testing.assert_close(out, reference)
    for grad, expected in zip(torch.autograd.grad(out, (q, k, v), weight), reference_grads):
        torch.testing.assert_close(grad, expected)

    low = [t.detach().bfloat16().requires_grad_() for t in (q, k, v)]
    out = attention(*low, attn_mask)
    assert out.dtype == torch.bfloat16
    assert relative_error(out, reference) < 0.02
    low_grads = torch.autograd.grad(out, low, weight.bfloat16())
    assert all(relative_error(g, r) < 0.03 for g, r in zip(low_grads, reference_grads))


def test_models_compile_to_one_graph_each():
    """torch.compile (``compile=true``) sees each model's forward, and the whole AC loss, as one graph: no graph
    break sends part of it back to eager (as a RoPE stride check once did in every attention layer)."""
    jepa = small_jepa()
    clips, masks = torch.randn(2, 3, 4, 32, 32), equal_length_masks(2)
    context_idx, target_idx = masks[0]
    predictor = ActionConditionedPredictor(embed_dim=24, predictor_dim=32, depth=2, num_heads=2, action_dim=3,
                                           state_dim=2, grid_hw=(2, 3))
    features = torch.randn(2, 5, 6, 24)
    actions, states = torch.randn(2, 5, 3), torch.randn(2, 5, 2)
    cases = {
        "encoder": (jepa.encoder, (clips, context_idx)),
        "predictor": (jepa.predictor, (jepa.encoder(clips, context_idx), context_idx, target_idx, (2, 4, 4))),
        "jepa": (jepa, (clips, masks)),
        "ac_loss": (partial(ac_loss, predictor, context=1, steps=2), (features, actions, states)),
    }
    try:
        for name, (fn, args) in cases.items():
            explained = torch._dynamo.explain(fn)(*args)
            assert explained.graph_break_count == 0, (name, [b.reason for b in explained.break_reasons])
    finally:
        torch._dynamo.reset()


def test_attention_keeps_sdpa_where_its_kernel_is_faster(monkeypatch):
    """Long fp32 sequences (and fp64, and long bf16 ones) go to SDPA's kernel, which never holds the scores."""
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **kw: calls.append(a[0].dtype) or sdpa(*a, **kw))
    for dtype, keys in ((torch.float32, 64), (torch.float32, 256), (torch.float64, 8), (torch.bfloat16, 256)):
        q = torch.randn(1, 2, 4, 8, dtype=dtype)
        kv = torch.randn(1, 2, keys, 8, dtype=dtype)
        attention(q, kv, kv)
    assert calls == [torch.float32, torch.float64]  # 256 fp32 keys and any fp64; short fp32 and bf16 go explicit


def test_auto_precision_is_bf16_where_the_hardware_multiplies_bf16(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for flags, expected in ((set(), "fp32"), ({"avx512_bf16"}, "bf16"), ({"amx_bf16", "avx2"}, "bf16")):
        monkeypatch.setattr(precision_module, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert precision_module.resolve_precision("auto", cpu) == expected
        assert precision_module.resolve_precision("fp32", cpu) == "fp32"  # an explicit choice stands
    for capability, expected in (((7, 5), "fp32"), ((8, 0), "bf16"), ((9, 0), "bf16")):  # T4; A100; H100
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device, c=capability: c)
        assert precision_module.resolve_precision("auto", cuda) == expected
    with pytest.raises(ValueError, match="'fp16'"):
        precision_module.resolve_precision("fp16", cpu)


def test_target_encoder_runs_without_autograd_and_targets_feed_the_loss():
    jepa = small_jepa()
    clips = torch.randn(2, 3, 4, 32, 32)
    targets = jepa.targets(clips)
    assert not targets.requires_grad
    torch.testing.assert_close(targets, F.layer_norm(jepa.target_encoder(clips), (48,)).detach())
    loss, parts = jepa(clips, equal_length_masks(2))
    loss.backward()  # inference-mode targets are fine as loss inputs
    assert all(p.grad is None for p in jepa.target_encoder.parameters())


def test_benchmark_entry_point_runs_and_writes_csv_and_json(tmp_path):
    """`python -m benchmarks` wiring (sections, tables, files); the numbers themselves are not checked."""
    import json

    from omegaconf import OmegaConf

    from benchmarks.__main__ import main
    from benchmarks.planner import CONFIGS
    from configs.schema.planner import CEMConfig

    threads = torch.get_num_threads()
    try:
        results = main(["--only", "cem", "--repeats", "1", "--threads", "1", "--out", str(tmp_path / "bench")])
    finally:
        torch.set_num_threads(threads)
    assert {"ceiling", "cem", "targets"} <= results.keys()
    assert results["cem"][0]["ms_per_plan"] > 0
    document = json.loads((tmp_path / "bench.json").read_text())
    toy, demo, demo_bf16 = document["results"]["cem"]
    assert toy["samples"] == 300 and demo["model"] == demo_bf16["model"] == "demo world model"
    assert (demo["precision"], demo_bf16["precision"]) == ("fp32", "bf16") and demo_bf16["ms_per_plan"] > 0
    demo_cem = OmegaConf.merge(OmegaConf.structured(CEMConfig),
                               OmegaConf.load(CONFIGS / "demo.yaml").planner_settings.cem)
    assert (demo["samples"], demo["iterations"]) == (demo_cem.num_samples, demo_cem.iterations)
    assert [row["target"] for row in results["targets"]][-1].startswith("CEM with the demo world model")
    assert (tmp_path / "bench.csv").read_text().startswith("section,")
